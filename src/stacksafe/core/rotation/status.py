"""The rotation status report: secrets with a policy, and how urgent each is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.installation import Installation
from stacksafe.core.rotation.policies import written_at
from stacksafe.core.rotation.policy import due_at_of, expiry_of, optional_iso
from stacksafe.core.tenancy import list_accounts
from stacksafe.errors import Forbidden, NotFound
from stacksafe.model import Account, Stack
from stacksafe.store import rotation as queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.secrets import SecretHead

__all__ = [
    "DEFAULT_WINDOW",
    "FoundPolicy",
    "RotationStatus",
    "found_policies",
    "may",
    "rotation_status",
]

DEFAULT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class RotationStatus:
    """One secret with a policy, and how urgent it is: ``expired``, ``overdue`` (past its
    rotation time), ``expiring`` or ``due`` (within the window), or ``ok``."""

    account_uid: str
    account: str
    stack_uid: str | None
    stack: str | None
    key: str
    state: str
    rotator: str
    due_at: datetime | None
    expires_at: datetime | None
    last_rotated_at: datetime | None
    last_error: str | None
    failures: int

    @property
    def deadline(self) -> datetime | None:
        moments = [m for m in (self.due_at, self.expires_at) if m is not None]
        return min(moments) if moments else None

    def to_json(self) -> dict[str, object]:
        return {
            "account_uid": self.account_uid,
            "account": self.account,
            "stack_uid": self.stack_uid,
            "stack": self.stack,
            "key": self.key,
            "state": self.state,
            "rotator": self.rotator,
            "due_at_iso": optional_iso(self.due_at),
            "expires_at_iso": optional_iso(self.expires_at),
            "last_rotated_at_iso": optional_iso(self.last_rotated_at),
            "last_error": self.last_error,
            "failures": self.failures,
        }


def _state(
    now: datetime, due_at: datetime | None, expires_at: datetime | None, within: timedelta
) -> str:
    if expires_at is not None and expires_at <= now:
        return "expired"
    if due_at is not None and due_at <= now:
        return "overdue"
    if expires_at is not None and expires_at <= now + within:
        return "expiring"
    if due_at is not None and due_at <= now + within:
        return "due"
    return "ok"


def may(actor: Principal, action: Action, account: Account, stack: Stack | None) -> bool:
    try:
        authorize(actor, action, account, stack)
    except (Forbidden, NotFound):
        return False
    return True


@dataclass(frozen=True, slots=True)
class FoundPolicy:
    account: Account
    stack: Stack | None
    row: queries.PolicyRow
    written_at: datetime


def found_policies(
    installation: Installation, actor: Principal, account: Account | None, action: Action
) -> list[FoundPolicy]:
    """Every live secret with a policy that ``actor`` may ``action``, in one or all accounts."""
    accounts = [account] if account is not None else list_accounts(installation, actor)
    found = []
    with installation.store.read() as conn:
        for owner in accounts:
            stacks = {s.id: s for s in tenancy_queries.list_stacks(conn, owner.id)}
            for row in queries.policies_of_account(conn, owner.id):
                stack = None if row.stack_id is None else stacks[row.stack_id]
                if row.deleted or not may(actor, action, owner, stack):
                    continue
                head = SecretHead(row.policy.secret_id, row.current_version, False, row.updated_at)
                found.append(FoundPolicy(owner, stack, row, written_at(conn, head)))
    return found


def rotation_status(
    installation: Installation,
    actor: Principal,
    account: Account | None = None,
    *,
    within: timedelta = DEFAULT_WINDOW,
    include_ok: bool = False,
) -> list[RotationStatus]:
    """Secrets with a policy, most urgent first (earliest deadline: rotation or expiry); those
    in ``ok`` state only with ``include_ok``. Only what ``actor`` may describe is listed."""
    now = installation.clock()
    entries = []
    for item in found_policies(installation, actor, account, Action.DESCRIBE):
        stored = item.row.policy
        due_at = due_at_of(stored, item.written_at)
        expires_at = expiry_of(stored, item.row.current_version)
        state = _state(now, due_at, expires_at, within)
        if state == "ok" and not include_ok:
            continue
        entries.append(
            RotationStatus(
                account_uid=item.account.uid,
                account=item.account.name,
                stack_uid=None if item.stack is None else item.stack.uid,
                stack=None if item.stack is None else item.stack.name,
                key=item.row.key,
                state=state,
                rotator=stored.rotator,
                due_at=due_at,
                expires_at=expires_at,
                last_rotated_at=stored.last_rotated_at,
                last_error=stored.last_error,
                failures=stored.failures,
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    entries.sort(key=lambda e: (e.deadline or far, e.account, e.stack or "", e.key))
    return entries
