"""Checks of our own, loaded by schemathesis through SCHEMATHESIS_HOOKS."""

import json

import schemathesis


def _header(response, name):
    value = response.headers.get(name) or response.headers.get(name.title())
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return value or ""


@schemathesis.check
def problem_json_with_code(ctx, response, case):
    """Every 4xx is application/problem+json with a string `code` and the response's status."""
    if not 400 <= response.status_code < 500:
        return None
    content_type = _header(response, "content-type").split(";")[0].strip()
    if content_type != "application/problem+json":
        raise AssertionError(
            f"{response.status_code} answered as {content_type!r}, not application/problem+json"
        )
    try:
        body = json.loads(response.content)
    except ValueError as e:
        raise AssertionError(f"{response.status_code} problem body is not JSON: {e}")
    if not isinstance(body, dict) or not isinstance(body.get("code"), str) or not body["code"]:
        raise AssertionError(f"{response.status_code} problem has no code: {body!r}")
    if body.get("status") != response.status_code:
        raise AssertionError(f"problem status {body.get('status')} on a {response.status_code}")
    return None
