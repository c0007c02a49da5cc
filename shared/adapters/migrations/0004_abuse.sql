-- Abuse rules on holds, and their audit trail. A block is written in its own transaction,
-- so it is kept even though the hold it stopped is not.

CREATE TABLE abuse_audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    text NOT NULL,
    rule       text NOT NULL CHECK (rule IN ('HOLD_RATE', 'REPEATED_REQUEST', 'DEVICE_SHARED')),
    detail     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX abuse_audit_user ON abuse_audit (user_id, created_at DESC);

-- Which buyer a device fingerprint was last used by.
CREATE TABLE device_claims (
    device     text PRIMARY KEY,
    user_id    text NOT NULL,
    claimed_at timestamptz NOT NULL
);

CREATE INDEX reservations_user_created ON reservations (user_id, created_at DESC);
