"""The one exception hierarchy of stacksafe.

::

    StacksafeError          code
    ├── InvalidInput        bad_request          the caller sent something malformed
    │   └── ExpansionTooLarge  expansion_too_large  ${...} references expand beyond the limits
    ├── NotFound            not_found            an account, stack or secret does not exist
    ├── Unauthenticated     unauthenticated      no valid token (missing, unknown, expired, revoked)
    ├── Forbidden           forbidden            the caller may not do this
    ├── Conflict            conflict             the write collides with the current state
    │   └── PreconditionFailed  precondition_failed  If-Match named another version
    ├── Throttled           throttled            too many requests
    │   └── TooManyFailures     throttled        too many failed attempts (429)
    ├── AuditUnavailable    audit_unavailable    the audit log cannot be written (fail closed)
    ├── StorageUnavailable  storage_unavailable  the database is down, full or read-only (retry)
    ├── IntegrityError      integrity_error      stored data is tampered, corrupted, undecryptable
    └── ConfigurationError  configuration_error  wrong master key, bad database URL

Each face maps ``code`` once: to an HTTP status in the API, to an exit code in the CLI.
Messages say what was wrong and how to fix it, and never contain a secret value.
"""

from __future__ import annotations

__all__ = [
    "AuditUnavailable",
    "ConfigurationError",
    "Conflict",
    "ExpansionTooLarge",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "PreconditionFailed",
    "ServerUnreachable",
    "StacksafeError",
    "StorageUnavailable",
    "Throttled",
    "TooManyFailures",
    "Unauthenticated",
]


class StacksafeError(Exception):
    """Base of every error stacksafe raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(StacksafeError):
    """The input is malformed: a bad key, an oversized value, an unparsable file."""

    code = "bad_request"


class ExpansionTooLarge(InvalidInput):
    """A value's ``${...}`` references would expand beyond the configured bounds: a write that
    would make one is refused, and a read that would build one fails, naming the key."""

    code = "expansion_too_large"


class NotFound(StacksafeError):
    """The named account, stack or secret does not exist."""

    code = "not_found"


class Unauthenticated(StacksafeError):
    """No valid credentials: the token is missing, unknown, expired or revoked."""

    code = "unauthenticated"


class Forbidden(StacksafeError):
    """The caller is not allowed to do this."""

    code = "forbidden"


class Conflict(StacksafeError):
    """The write collides with existing state (a duplicate name, a concurrent write)."""

    code = "conflict"


class PreconditionFailed(Conflict):
    """A conditional write (If-Match / --if-version) found another version than expected."""

    code = "precondition_failed"


class Throttled(StacksafeError):
    """Too many requests (Cloud66 answers 503 throttled); ``retry_after``: seconds to wait,
    when known (the Retry-After header)."""

    code = "throttled"

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyFailures(Throttled):
    """Too many failed attempts at one target (bad tokens from one address, wrong passwords
    for one email): slow down (the API answers 429; valid credentials are not refused by the
    bad-token count)."""


class AuditUnavailable(StacksafeError):
    """The audit log cannot be written, so the reveal or change it would record is refused."""

    code = "audit_unavailable"


class StorageUnavailable(StacksafeError):
    """The database cannot do what was asked now: unreachable, restarting, out of connections,
    full or read-only. Nothing was written (unless the connection broke during COMMIT, which
    the message then says); the same request may succeed once the database recovers.

    ``reason`` is what the database driver said (no statement, no parameter), for the operator's
    log and the local CLI; the message sent to clients names the problem only.
    """

    code = "storage_unavailable"

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class IntegrityError(StacksafeError):
    """Stored data failed authentication: tampered, corrupted, or bound to another row.

    ``recorded``: its audit event is written (core.guard.record_damage writes one per error).
    """

    code = "integrity_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.recorded = False


class ConfigurationError(StacksafeError):
    """The installation is misconfigured: wrong master key, bad database URL, missing files."""

    code = "configuration_error"


class ServerUnreachable(ConfigurationError):
    """No answer from the stacksafe server (connection, TLS or timeout): distinct from any
    answer it gave, so only this may fall back to an offline snapshot."""
