"""The webhook signature: HMAC-SHA256 over "<timestamp>.<raw body>".

    Switchboard-Signature: t=1718000000,v1=5f1c…(64 hex digits)

Plain Python on purpose (no Django): docs/webhooks.md shows receivers the same logic. The
timestamp is inside the signed text, so a captured request cannot be replayed later than
the receiver's tolerance allows.
"""

import hashlib
import hmac
import time

SCHEME = "v1"


def signature_compute(*, secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return (
        f"t={timestamp},{SCHEME}={signature_compute(secret=secret, timestamp=timestamp, body=body)}"
    )


def signature_verify(
    *,
    secret: str,
    header: str,
    body: bytes | str,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """True if `header` is a valid signature of `body` (the raw request body) made with
    `secret` no more than `tolerance` seconds from now. Several v1 entries are accepted
    (any one may match), so a future secret rotation can sign with old and new at once."""
    if isinstance(body, str):
        body = body.encode()
    timestamp: int | None = None
    candidates: list[str] = []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == SCHEME:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature_compute(secret=secret, timestamp=timestamp, body=body)
    # compare_digest: the time taken must not reveal how many leading characters matched.
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
