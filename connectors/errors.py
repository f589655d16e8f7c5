"""Errors raised by connectors. Each tells the caller what to do next; connectors never sleep
or retry themselves.

Hierarchy::

    ConnectorError                 any failure of a channel call
    ├── RateLimited                wait `retry_after_s` seconds, then send again
    │   └── QuotaExhausted         a quota of a day or a month is used up, or the channel
    │                              blocked posting for a while: nothing gets through before
    │                              `retry_after_s`; the account is fine, hold all its posts
    │                              (`scope` APP: those of every account of the same app)
    ├── TransientError             retry with backoff (the request surely did not take effect,
    │                              or the channel has an idempotency key that was used)
    ├── OutcomeUnknown             the request may have taken effect (timeout or disconnect
    │                              after it was sent): do NOT blindly resend; resend only when
    │                              `retry_safe` (same idempotency key), else reconcile
    ├── PermanentError(code)       do not resend the same payload; record `code`
    │   └── Misconfigured(code)    the account needs a human (permissions, chat gone, webhook
    │                              deleted): stop publishing to it
    └── AuthExpired                credentials invalid, expired or revoked: re-authenticate

`code` is the channel's own error code or description, normalised to snake_case.
"""

from __future__ import annotations

from enum import StrEnum

from connectors.limits import RateScope

__all__ = [
    "AuthExpired",
    "ConnectorError",
    "ErrorKind",
    "Misconfigured",
    "OutcomeUnknown",
    "PermanentError",
    "QuotaExhausted",
    "RateLimited",
    "TransientError",
]


class ConnectorError(Exception):
    """Base class: a channel call failed. `message` never contains credentials."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class RateLimited(ConnectorError):
    """The channel asked us to slow down; `retry_after_s` is its hint (0 when it gave none)."""

    def __init__(self, retry_after_s: float, message: str = "rate limited") -> None:
        super().__init__(message)
        self.retry_after_s = max(0.0, float(retry_after_s))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(retry_after_s={self.retry_after_s!r}, message={self.message!r})"
        )


class QuotaExhausted(RateLimited):
    """The channel refuses every post until its quota resets (`retry_after_s` from now) or
    its temporary block ends; `message` says which, and when, in words for the merchant.
    `scope` says whose quota it is: the account's, or the application's (`RateScope.APP`,
    e.g. X's app-wide 24-hour counter), which holds every account posting through that app."""

    def __init__(
        self,
        retry_after_s: float,
        message: str = "rate limited",
        *,
        scope: RateScope = RateScope.ACCOUNT,
    ) -> None:
        super().__init__(retry_after_s, message)
        self.scope = scope


class TransientError(ConnectorError):
    """A temporary failure (5xx, connection refused before sending). Safe to retry."""


class OutcomeUnknown(ConnectorError):
    """The request was sent but no answer came back; the post may exist.

    `retry_safe` is true when the request carried the channel's idempotency key, so resending
    with the same key cannot post twice.
    """

    def __init__(self, message: str = "outcome unknown", *, retry_safe: bool = False) -> None:
        super().__init__(message)
        self.retry_safe = retry_safe

    def __repr__(self) -> str:
        return f"OutcomeUnknown(message={self.message!r}, retry_safe={self.retry_safe!r})"


class PermanentError(ConnectorError):
    """The channel refused this request for good; `code` says why."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class Misconfigured(PermanentError):
    """Permanent, and the channel account itself needs fixing by a person."""


class AuthExpired(ConnectorError):
    """The credentials are invalid, expired or revoked."""


class ErrorKind(StrEnum):
    """The class of a channel error, as written in each channel's error table."""

    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    TRANSIENT = "transient"
    OUTCOME_UNKNOWN = "outcome_unknown"
    PERMANENT = "permanent"
    MISCONFIGURED = "misconfigured"
    AUTH_EXPIRED = "auth_expired"


ERROR_CLASSES: dict[ErrorKind, type[ConnectorError]] = {
    ErrorKind.RATE_LIMITED: RateLimited,
    ErrorKind.QUOTA_EXHAUSTED: QuotaExhausted,
    ErrorKind.TRANSIENT: TransientError,
    ErrorKind.OUTCOME_UNKNOWN: OutcomeUnknown,
    ErrorKind.PERMANENT: PermanentError,
    ErrorKind.MISCONFIGURED: Misconfigured,
    ErrorKind.AUTH_EXPIRED: AuthExpired,
}
