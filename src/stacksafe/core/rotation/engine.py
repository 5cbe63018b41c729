"""The rotation engine: rotating one secret now, and every secret that is due.

A rotation with a pending phase (webhook, postgres) runs in three steps, each safe to
interrupt: (1) a transaction seals the new value, bound to the version it will become, and
claims the secret (a compare-and-set, so two servers never rotate one secret at once); (2) the
rotator puts it in place outside stacksafe and tests it, no transaction open; (3) a transaction
makes it current, unless someone wrote the key in the meantime (then the rotation is reported
as failed and the current value stays). A claim older than ``PENDING_TIMEOUT`` is taken over.

``run_scheduled`` is one look of the server's scheduler (api.rotation_scheduler runs it in a
loop); ``stacksafe rotation run`` from cron calls ``run_due``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.data_keys import sealing_key
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.rotation.policies import live_head, stored_policy, write_action
from stacksafe.core.rotation.policy import due_at_of
from stacksafe.core.rotation.status import found_policies, may
from stacksafe.core.rotators import AUTOMATIC, RotationFailed, Rotator, rotator_for
from stacksafe.core.secrets import get_secret
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key, validate_value
from stacksafe.core.version_writes import append_version, prune_after_write
from stacksafe.crypto import Binding
from stacksafe.errors import InvalidInput, StacksafeError
from stacksafe.model import Account, SecretValue, Stack, iso8601
from stacksafe.store import Connection
from stacksafe.store import rotation as queries
from stacksafe.store import secrets as secret_queries
from stacksafe.store.level_writes import lock_level

__all__ = [
    "ACTION_ROTATE",
    "PENDING_TIMEOUT",
    "RotationOutcome",
    "rotate_secret",
    "run_due",
    "run_scheduled",
]

log = logging.getLogger(__name__)

PENDING_TIMEOUT = timedelta(minutes=15)
MAX_BACKOFF = timedelta(hours=1)
ACTION_ROTATE = "rotate"


@dataclass(frozen=True, slots=True)
class RotationOutcome:
    """What one rotation did: ``rotated`` (``version`` is current now), ``failed`` (the current
    value stays; ``error`` says why) or ``skipped`` (someone else rotated or wrote it first)."""

    account_uid: str
    stack_uid: str | None
    key: str
    rotator: str
    outcome: str
    version: int | None = None
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "account_uid": self.account_uid,
            "stack_uid": self.stack_uid,
            "key": self.key,
            "rotator": self.rotator,
            "outcome": self.outcome,
            "version": self.version,
            "error": self.error,
        }


def _outcome(target: Target, key: str, rotator: str, outcome: str, **more: Any) -> RotationOutcome:
    return RotationOutcome(
        account_uid=target.account.uid,
        stack_uid=None if target.stack is None else target.stack.uid,
        key=key,
        rotator=rotator,
        outcome=outcome,
        **more,
    )


class _Skip(Exception):
    """Someone else rotated or wrote the secret first; the message says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_WRITTEN = "the secret was written since it was found due"
_BUSY = "another rotation of the secret is in progress"


def _fail(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    rotator: Rotator,
    claimed_at: datetime | None,
    error: str,
    audit: Mapping[str, Any] | None = None,
) -> RotationOutcome:
    """Record a failed rotation; ``claimed_at``: its claim, or None if it failed before it."""

    def work(conn: Connection) -> None:
        head = secret_queries.secret_head(conn, target.account.id, target.stack_id, key)
        if head is not None:
            queries.record_failure(conn, head.id, claimed_at, error, installation.clock())
        record(
            conn,
            installation,
            actor,
            "secret.rotate",
            account=target.account,
            stack=target.stack,
            outcome="failed",
            detail={"keys": [key], "rotator": rotator.kind, "error": error, **(audit or {})},
        )

    installation.store.transact(work, f"recording a failed rotation of {key!r}")
    log.warning("rotation of %r in %s failed: %s", key, target.describe(), error)
    return _outcome(target, key, rotator.kind, "failed", error=error)


def _rotated(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    rotator: Rotator,
    version: int,
    value_print: str,
) -> None:
    record(
        conn,
        installation,
        actor,
        "secret.rotate",
        account=target.account,
        stack=target.stack,
        detail={
            "keys": {key: version},
            "fingerprints": {key: value_print},
            "rotator": rotator.kind,
        },
    )
    prune_after_write(conn, installation, actor, target, [key])


def _rotate_directly(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    rotator: Rotator,
    expected: int | None,
) -> RotationOutcome:
    value = rotator.new_value(None)
    validate_value(key, value, installation.max_value_bytes)
    value_print = fingerprint(installation, value)

    def work(conn: Connection) -> int:
        # The level first, as every write of the level locks it (store.level_writes): taken
        # after the key's row, it deadlocked with the writes of that key.
        lock_level(conn, target.account.id, target.stack_id)
        head = live_head(conn, target, key, lock=True)
        if expected is not None and head.current_version != expected:
            raise _Skip(_WRITTEN)
        now = installation.clock()
        data_key = sealing_key(conn, installation, target, 1)
        append_version(conn, target, key, value, data_key, actor.name, now, action=ACTION_ROTATE)
        queries.record_rotated(conn, head.id, now)
        _rotated(
            conn, installation, actor, target, key, rotator, head.current_version + 1, value_print
        )
        return head.current_version + 1

    try:
        version = installation.store.transact(work, f"rotating {key!r}")
    except _Skip as skip:
        return _outcome(target, key, rotator.kind, "skipped", error=skip.reason)
    return _outcome(target, key, rotator.kind, "rotated", version=version)


def _rotate_with_pending(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    rotator: Rotator,
    expected: int | None,
) -> RotationOutcome:
    def lookup(other: str) -> SecretValue:
        found = get_secret(
            installation, actor, target, other, reveal=True, resolve=False, purpose="rotate"
        )
        assert found.raw_value is not None  # noqa: S101 - revealed
        return found.raw_value

    try:
        current = lookup(key) if rotator.kind == "postgres" else None
        if current is not None and "${" in current.reveal():
            raise RotationFailed("a rotated connection string cannot hold ${...} references")
        pending = rotator.new_value(current)
        validate_value(key, pending, installation.max_value_bytes)
    except (RotationFailed, StacksafeError) as exc:
        return _fail(installation, actor, target, key, rotator, None, _message(exc))
    value_print = fingerprint(installation, pending)

    def begin(conn: Connection) -> tuple[int, datetime]:
        head = live_head(conn, target, key, lock=True)
        if expected is not None and head.current_version != expected:
            raise _Skip(_WRITTEN)
        now = installation.clock()
        version = head.current_version + 1
        data_key = sealing_key(conn, installation, target, 1)
        envelope = data_key.seal(
            pending.reveal().encode("utf-8"), Binding(target.scope, key, version)
        )
        if not queries.claim_pending(conn, head.id, version, envelope, now, now - PENDING_TIMEOUT):
            raise _Skip(_BUSY)
        return version, now

    try:
        version, started = installation.store.transact(begin, f"starting a rotation of {key!r}")
    except _Skip as skip:
        return _outcome(target, key, rotator.kind, "skipped", error=skip.reason)
    event = {
        "event": "secret.rotation.pending",
        "account_uid": target.account.uid,
        "stack_uid": None if target.stack is None else target.stack.uid,
        "key": key,
        "label": "pending",
        "pending_version": version,
        "current_version": version - 1,
        "started_at_iso": iso8601(started),
    }
    try:
        rotator.apply(pending, event, lookup, installation.outbound)
    except (RotationFailed, StacksafeError) as exc:
        audit = exc.audit if isinstance(exc, RotationFailed) else None
        return _fail(installation, actor, target, key, rotator, started, _message(exc), audit)

    def finish(conn: Connection) -> str | None:
        lock_level(conn, target.account.id, target.stack_id)  # first, as in ``work`` above
        head = live_head(conn, target, key, lock=True)
        stored = queries.policy_of(conn, head.id, lock=True)
        if stored is None or stored.pending_since != started or stored.pending_envelope is None:
            # The policy was cleared, or another run took over a claim it found stale.
            raise _Skip("the rotation was taken over or its policy cleared")
        if head.current_version + 1 != version:
            return (
                f"{key!r} was written (version {head.current_version}) while the rotation ran; "
                "the new value was not made current"
            )
        now = installation.clock()
        append_version(
            conn,
            target,
            key,
            None,
            None,
            actor.name,
            now,
            action=ACTION_ROTATE,
            sealed=stored.pending_envelope,
        )
        queries.finish_pending(conn, head.id, started, now)
        _rotated(conn, installation, actor, target, key, rotator, version, value_print)
        return None

    try:
        conflict = installation.store.transact(finish, f"finishing the rotation of {key!r}")
    except _Skip as skip:
        return _outcome(target, key, rotator.kind, "skipped", error=skip.reason)
    except StacksafeError as exc:
        return _fail(installation, actor, target, key, rotator, started, _message(exc))
    if conflict is not None:
        return _fail(installation, actor, target, key, rotator, started, conflict)
    return _outcome(target, key, rotator.kind, "rotated", version=version)


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, StacksafeError) else str(exc)


def _rotate(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    stored: queries.StoredPolicy,
    expected: int | None,
) -> RotationOutcome:
    rotator = rotator_for(stored.rotator, stored.config)
    if rotator.pending:
        return _rotate_with_pending(installation, actor, target, key, rotator, expected)
    return _rotate_directly(installation, actor, target, key, rotator, expected)


def rotate_secret(
    installation: Installation, actor: Principal, target: Target, key: str
) -> RotationOutcome:
    """Rotate ``key`` now with its policy's rotator, due or not."""
    validate_key(key)
    allow(installation, actor, write_action(target), target.account, target.stack, key=key)
    with installation.store.read() as conn:
        head = live_head(conn, target, key)
        stored = stored_policy(conn, target, key, head)
    if stored.rotator not in AUTOMATIC:
        raise InvalidInput(
            f"{key!r} has the manual rotator: set a new value (secrets set), or give it the "
            "generate, webhook or postgres rotator"
        )
    return _rotate(installation, actor, target, key, stored, None)


def _retry_at(stored: queries.StoredPolicy) -> datetime | None:
    """After failures, when the scheduler tries again: 1, 2, 4... minutes, at most an hour."""
    if not stored.failures or stored.last_attempt_at is None:
        return None
    delay = min(MAX_BACKOFF, timedelta(minutes=2 ** min(stored.failures - 1, 10)))
    return stored.last_attempt_at + delay


def run_due(
    installation: Installation,
    actor: Principal,
    account: Account | None = None,
    *,
    stack: Stack | None = None,
    force: bool = False,
) -> list[RotationOutcome]:
    """Rotate every secret whose automatic rotator is due (``force``: due or not) in one or all
    accounts ``actor`` may write in, or in one ``stack``'s own level. Failures are reported in
    the outcomes, never raised: one bad secret does not hold up the others."""
    now = installation.clock()
    outcomes = []
    for item in found_policies(installation, actor, account, Action.DESCRIBE):
        stored = item.row.policy
        if stack is not None and (item.stack is None or item.stack.id != stack.id):
            continue
        due_at = due_at_of(stored, item.written_at)
        if stored.rotator not in AUTOMATIC:
            continue
        if not force:
            if due_at is None or due_at > now:
                continue
            retry_at = _retry_at(stored)
            if retry_at is not None and retry_at > now:
                continue
        if stored.pending_since is not None and stored.pending_since > now - PENDING_TIMEOUT:
            continue
        target = Target(item.account, item.stack)
        if not may(actor, write_action(target), item.account, item.stack):
            continue
        outcomes.append(
            _rotate(installation, actor, target, item.row.key, stored, item.row.current_version)
        )
    return outcomes


def run_scheduled(installation: Installation, actor: Principal) -> list[RotationOutcome]:
    """One look of the server's scheduler: ``run_due`` in every account ``actor`` may write
    in, each outcome logged (never a value)."""
    outcomes = run_due(installation, actor)
    for done in outcomes:
        log.info(
            "rotation of %r (account %s, stack %s): %s",
            done.key,
            done.account_uid,
            done.stack_uid,
            done.outcome,
        )
    return outcomes
