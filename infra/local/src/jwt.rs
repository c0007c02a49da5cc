//! The local JWT authorizer checks tokens with the same rules as the WebSocket authorizer.

pub use ticketrush_adapters::jwt::JwtSettings;
