"""The one exception hierarchy of stacksafe.

::

    StacksafeError             code                 HTTP  exit
    ├── InvalidInput           bad_request          400   2   the caller sent something malformed
    │   └── ExpansionTooLarge  expansion_too_large  422   2   ${...} references expand too far
    ├── NotFound               not_found            404   3   no such account, stack or secret
    ├── Unauthenticated        unauthenticated      401   4   no valid token (missing, expired...)
    ├── Forbidden              forbidden            403   4   the caller may not do this
    ├── Conflict               conflict             409   5   the write collides with the state
    │   └── PreconditionFailed precondition_failed  412   5   If-Match named another version
    ├── Throttled              throttled            503   8   too many requests (as Cloud66)
    │   ├── TooManyFailures    throttled            429   8   too many failed attempts
    │   └── TooManyStreams     throttled            429   8   too many change streams open
    ├── AuditUnavailable       audit_unavailable    503   7   the audit log cannot be written
    ├── StorageUnavailable     storage_unavailable  503   9   the database is down, full or
    │                                                         read-only (retry)
    ├── IntegrityError         integrity_error      500   6   stored data tampered, corrupted
    ├── ConfigurationError     configuration_error  503   7   wrong master key, bad database URL,
    │   │                                                     unusable TLS files
    │   └── ServerUnreachable  configuration_error  503   7   no answer from the server
    └── AddressUnavailable     address_unavailable  503   10  `serve` cannot listen on HOST:PORT
                                                              (in use, not local, privileged)

Each error class carries its HTTP status (``http_status``, for the API and the web UI) and its
CLI exit code (``exit_code``, documented in docs/cli.md), as click's ``ClickException.exit_code``:
class attributes a subclass overrides. The faces read them; none keeps a table of its own.
Messages say what was wrong and how to fix it, and never contain a secret value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = [
    "AddressUnavailable",
    "AuditUnavailable",
    "BrokenReferences",
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
    "TooManyStreams",
    "Unauthenticated",
]


class StacksafeError(Exception):
    """Base of every error stacksafe raises on purpose."""

    code = "error"
    # What the API and the web UI answer, and what the CLI exits with (docs/cli.md).
    http_status = 400
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(StacksafeError):
    """The input is malformed: a bad key, an oversized value, an unparsable file."""

    code = "bad_request"
    http_status = 400
    exit_code = 2


class ExpansionTooLarge(InvalidInput):
    """A value's ``${...}`` references would expand beyond the configured bounds: a write that
    would make one is refused, and a read that would build one fails, naming the key."""

    code = "expansion_too_large"
    http_status = 422
    exit_code = 2


class NotFound(StacksafeError):
    """The named account, stack or secret does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 3


class Unauthenticated(StacksafeError):
    """No valid credentials: the token is missing, unknown, expired or revoked."""

    code = "unauthenticated"
    http_status = 401
    exit_code = 4


class Forbidden(StacksafeError):
    """The caller is not allowed to do this."""

    code = "forbidden"
    http_status = 403
    exit_code = 4


class Conflict(StacksafeError):
    """The write collides with existing state (a duplicate name, a concurrent write)."""

    code = "conflict"
    http_status = 409
    exit_code = 5


class BrokenReferences(Conflict):
    """Values to be delivered hold ``${...}`` references that cannot be resolved (a missing
    target, a cycle): one line naming each key and its reference."""

    @classmethod
    def among(cls, broken: Mapping[str, str], keys: Iterable[str] | None = None) -> None:
        """Raise for the broken keys among ``keys`` (all when None), if any is."""
        named = sorted(broken if keys is None else set(keys) & set(broken))
        if named:
            reasons = "; ".join(broken[k] for k in named)
            raise cls(f"{reasons} (not given: {', '.join(named)})")


class PreconditionFailed(Conflict):
    """A conditional write (If-Match / --if-version) found another version than expected."""

    code = "precondition_failed"
    http_status = 412
    exit_code = 5


class Throttled(StacksafeError):
    """Too many requests (Cloud66 answers 503 throttled); ``retry_after``: seconds to wait,
    when known (the Retry-After header)."""

    code = "throttled"
    http_status = 503  # Cloud66's status for rate limiting
    exit_code = 8

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooManyFailures(Throttled):
    """Too many failed attempts at one target (bad tokens from one address, wrong passwords
    for one email): slow down (the API answers 429; valid credentials are not refused by the
    bad-token count)."""

    http_status = 429  # Cloud66's 503 stays the per-token rate limit's


class TooManyStreams(Throttled):
    """Too many change streams open (per token, or on the server): close one, or poll (429)."""

    http_status = 429


class AuditUnavailable(StacksafeError):
    """The audit log cannot be written, so the reveal or change it would record is refused."""

    code = "audit_unavailable"
    http_status = 503
    exit_code = 7


class StorageUnavailable(StacksafeError):
    """The database cannot do what was asked now: unreachable, restarting, out of connections,
    full or read-only. Nothing was written (unless the connection broke during COMMIT, which
    the message then says); the same request may succeed once the database recovers.

    ``reason`` is what the database driver said (no statement, no parameter), for the operator's
    log and the local CLI; the message sent to clients names the problem only.
    """

    code = "storage_unavailable"
    http_status = 503
    # Not 7, which says the installation itself is wrong: the same command may work later.
    exit_code = 9

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class IntegrityError(StacksafeError):
    """Stored data failed authentication: tampered, corrupted, or bound to another row.

    ``recorded``: its audit event is written (core.guard.record_damage writes one per error).
    """

    code = "integrity_error"
    http_status = 500
    exit_code = 6

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.recorded = False


class ConfigurationError(StacksafeError):
    """The installation is misconfigured: wrong master key, bad database URL, missing files."""

    code = "configuration_error"
    http_status = 503
    exit_code = 7


class ServerUnreachable(ConfigurationError):
    """No answer from the stacksafe server (connection, TLS or timeout): distinct from any
    answer it gave, so only this may fall back to an offline snapshot."""


class AddressUnavailable(StacksafeError):
    """``serve`` cannot listen where it was told: the port is in use, the address is not one of
    this machine's, or the port is privileged. Its own exit code, so a script can try another
    port without parsing the message; the API never answers it (no server is listening)."""

    code = "address_unavailable"
    http_status = 503
    exit_code = 10
