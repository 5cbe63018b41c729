"""What a reveal is asked and what it gives: the reveal service's values (core.reveal).

The query, who asks (a principal, or a bearer token as a request presents it), which level (a
target, or a stack or account reference to resolve for the asker), the receipt of the read's
audit event and what the read gave.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import NamedTuple

from stacksafe.core.access import Principal
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key
from stacksafe.errors import AuditUnavailable, StacksafeError
from stacksafe.model import Secret, checked_purpose

__all__ = [
    "AccountRef",
    "Asker",
    "Credential",
    "Receipt",
    "RevealQuery",
    "Revealed",
    "Snapshot",
    "StackRef",
    "Where",
    "audit_unavailable",
]


@dataclass(frozen=True, slots=True)
class RevealQuery:
    """What a read asks for: values (``reveal``) or only their descriptions, ``${...}``
    references resolved or as stored, one ``key`` or the whole level, and what for."""

    reveal: bool = False
    resolve: bool = True
    purpose: str = "list"
    key: str | None = None

    def __post_init__(self) -> None:
        checked_purpose(self.purpose)
        if self.key is not None:
            validate_key(self.key)


@dataclass(frozen=True, slots=True)
class Credential:
    """A bearer token as a request presents it, with what the audit log records of the
    request."""

    token: str = field(repr=False)
    source_ip: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class StackRef:
    """A stack by uid, resolved for the asker (a stack it cannot see does not exist)."""

    uid: str


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account's own level by id or name, resolved for the asker."""

    ref: str


Asker = Principal | Credential
Where = Target | StackRef | AccountRef


class Receipt:
    """When a read's audit event is durable: at once (no event), or when its group commit
    is (store.CommitGroup). ``wait`` raises ``AuditUnavailable`` if it could not be written."""

    __slots__ = ("_durable",)

    def __init__(self, durable: Future[int] | None) -> None:
        self._durable = durable

    @property
    def pending(self) -> bool:
        return self._durable is not None and not self._durable.done()

    def when_durable(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the event is durable or has failed (perhaps at once, or in
        the thread that committed it): for a face that waits without a thread."""
        if self._durable is None:
            callback()
        else:
            self._durable.add_done_callback(lambda _: callback())

    def wait(self) -> None:
        if self._durable is None:
            return
        try:
            self._durable.result()
        except StacksafeError:
            raise
        except Exception as exc:
            raise audit_unavailable(exc) from None


class Snapshot(NamedTuple):
    """A whole kept level at one revision: what a face may key what it derives from it by."""

    level: Hashable
    revision: str


@dataclass(frozen=True, slots=True)
class Revealed:
    """What a read gave: who asked, the level, the secrets, and the receipt of its event.

    ``secrets`` may be prepared for sending (rendered) at once, but nothing derived from them
    may leave before ``result()`` returns (or the receipt is no longer pending and ``result()``
    then returns). ``snapshot`` names the exact kept level and revision they are when they are
    a whole kept level (else None): a face may keep what it derives from them under it.
    """

    actor: Principal
    target: Target
    secrets: Sequence[Secret] = field(repr=False)
    receipt: Receipt
    snapshot: Snapshot | None = None
    # Keys whose ${...} references cannot be resolved, with the error naming the reference:
    # they are in ``secrets`` without a value (core.level_reads.resolved_values).
    broken: Mapping[str, str] = field(default_factory=dict)

    def result(self) -> Sequence[Secret]:
        """The secrets once the event is durable; ``AuditUnavailable`` if it cannot be."""
        self.receipt.wait()
        return self.secrets


def audit_unavailable(exc: Exception) -> AuditUnavailable:
    return AuditUnavailable(
        f"the audit log cannot be written ({getattr(exc, 'kind', type(exc).__name__)}); "
        "the reveal was refused"
    )
