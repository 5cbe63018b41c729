"""Rotation: a policy per secret, what is due, and rotations run by hand, by cron or by the
server's scheduler.

A policy says how often a value should change (``rotate_every``), when it stops being valid
(``expires_at``, which belongs to the value it was given for: a new value needs its own), and
who makes the next value (a rotator, see ``core.rotators``). The clock of ``rotate_every``
starts when the current version was written, so changing a value by hand counts as rotating it.

A rotation with a pending phase (webhook, postgres) runs in three steps, each safe to
interrupt: (1) a transaction seals the new value, bound to the version it will become, and
claims the secret (a compare-and-set, so two servers never rotate one secret at once); (2) the
rotator puts it in place outside stacksafe and tests it, no transaction open; (3) a transaction
makes it current, unless someone wrote the key in the meantime (then the rotation is reported
as failed and the current value stays). A claim older than ``PENDING_TIMEOUT`` is taken over.

Labels, as AWS names them: ``current`` (the current version), ``previous`` (the one before it,
which a postgres rotation keeps valid until the next rotation) and ``pending`` (the new value
of a rotation in progress: what a webhook receiver reads).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stacksafe.core.access import Action, Principal, authorize
from stacksafe.core.audit import fingerprint, record
from stacksafe.core.data_keys import scope_keys, sealing_key
from stacksafe.core.guard import allow
from stacksafe.core.installation import Installation
from stacksafe.core.reveal import record_reveal
from stacksafe.core.rotators import (
    AUTOMATIC,
    RotationFailed,
    Rotator,
    check_literal_host,
    rotator_for,
    validate_config,
)
from stacksafe.core.secrets import get_secret
from stacksafe.core.tenancy import Target, list_accounts
from stacksafe.core.validation import validate_key, validate_moment, validate_value
from stacksafe.core.version_writes import append_version, prune_after_write
from stacksafe.crypto import Binding, encode_value
from stacksafe.errors import Forbidden, InvalidInput, NotFound, StacksafeError
from stacksafe.model import Account, Secret, SecretValue, Stack, iso8601
from stacksafe.store import rotation as queries
from stacksafe.store import secrets as secret_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.secrets import SecretHead

__all__ = [
    "LABELS",
    "MIN_INTERVAL",
    "PENDING_TIMEOUT",
    "RotationOutcome",
    "RotationPolicy",
    "RotationScheduler",
    "RotationStatus",
    "clear_policy",
    "get_policy",
    "labelled_secret",
    "rotate_secret",
    "rotation_status",
    "run_due",
    "set_policy",
]

log = logging.getLogger(__name__)

LABELS = ("current", "previous", "pending")
MIN_INTERVAL = timedelta(minutes=1)
PENDING_TIMEOUT = timedelta(minutes=15)
DEFAULT_WINDOW = timedelta(days=7)
MAX_BACKOFF = timedelta(hours=1)
ACTION_ROTATE = "rotate"


@dataclass(frozen=True, slots=True)
class RotationPolicy:
    key: str
    rotate_every: timedelta | None
    expires_at: datetime | None  # None: none set, or set for an earlier value
    rotator: str
    config: Mapping[str, Any]
    next_rotation_at: datetime | None
    last_rotated_at: datetime | None
    last_attempt_at: datetime | None
    last_error: str | None
    failures: int
    pending_version: int | None
    pending_since: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "key": self.key,
            "rotate_every": _seconds(self.rotate_every),
            "expires_at_iso": _iso(self.expires_at),
            "rotator": self.rotator,
            "config": dict(self.config),
            "next_rotation_at_iso": _iso(self.next_rotation_at),
            "last_rotated_at_iso": _iso(self.last_rotated_at),
            "last_attempt_at_iso": _iso(self.last_attempt_at),
            "last_error": self.last_error,
            "failures": self.failures,
            "pending_version": self.pending_version,
            "pending_since_iso": _iso(self.pending_since),
        }


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
            "due_at_iso": _iso(self.due_at),
            "expires_at_iso": _iso(self.expires_at),
            "last_rotated_at_iso": _iso(self.last_rotated_at),
            "last_error": self.last_error,
            "failures": self.failures,
        }


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


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso8601(moment)


def _seconds(interval: timedelta | None) -> int | None:
    return None if interval is None else int(interval.total_seconds())


def _interval(stored: queries.StoredPolicy) -> timedelta | None:
    return None if stored.rotate_every is None else timedelta(seconds=stored.rotate_every)


def _expiry(stored: queries.StoredPolicy, current_version: int) -> datetime | None:
    return stored.expires_at if stored.expires_version == current_version else None


def _due_at(stored: queries.StoredPolicy, written_at: datetime) -> datetime | None:
    interval = _interval(stored)
    return None if interval is None else written_at + interval


def _policy(
    key: str, stored: queries.StoredPolicy, head: SecretHead, written_at: datetime
) -> RotationPolicy:
    return RotationPolicy(
        key=key,
        rotate_every=_interval(stored),
        expires_at=_expiry(stored, head.current_version),
        rotator=stored.rotator,
        config=rotator_for(stored.rotator, stored.config).public_config(),
        next_rotation_at=_due_at(stored, written_at),
        last_rotated_at=stored.last_rotated_at,
        last_attempt_at=stored.last_attempt_at,
        last_error=stored.last_error,
        failures=stored.failures,
        pending_version=stored.pending_version,
        pending_since=stored.pending_since,
    )


def _write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS


def _live_head(conn: Connection, target: Target, key: str, *, lock: bool = False) -> SecretHead:
    head = secret_queries.secret_head(conn, target.account.id, target.stack_id, key, lock=lock)
    if head is None or head.deleted:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return head


def _written_at(conn: Connection, head: SecretHead) -> datetime:
    """When the current version was written: where the rotation interval starts."""
    for stored in reversed(secret_queries.versions_of(conn, head.id)):
        if stored.version == head.current_version:
            return stored.created_at
    raise NotFound("the current version of the secret is missing")  # pragma: no cover


def _stored_policy(
    conn: Connection, target: Target, key: str, head: SecretHead
) -> queries.StoredPolicy:
    stored = queries.policy_of(conn, head.id)
    if stored is None:
        raise NotFound(f"secret {key!r} in {target.describe()} has no rotation policy")
    return stored


def set_policy(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    *,
    rotate_every: timedelta | None = None,
    expires_at: datetime | None = None,
    rotator: str = "manual",
    config: Mapping[str, Any] | None = None,
) -> RotationPolicy:
    """Give ``key`` (at ``target``'s own level) a rotation policy, replacing any it had."""
    validate_key(key)
    settings = validate_config(rotator, config or {})
    if rotate_every is not None and rotate_every < MIN_INTERVAL:
        raise InvalidInput("rotate_every must be at least one minute")
    if expires_at is not None:
        expires_at = validate_moment(expires_at, "expires_at")
    allow(installation, actor, _write_action(target), target.account, target.stack, key=key)
    # After the permission check: which addresses are refused is for those who may write here.
    check_literal_host(rotator, settings, installation.outbound)
    config_text = json.dumps(settings, sort_keys=True)

    def work(conn: Connection) -> RotationPolicy:
        head = _live_head(conn, target, key, lock=True)
        now = installation.clock()
        queries.save_policy(
            conn,
            head.id,
            rotate_every=_seconds(rotate_every),
            expires_at=expires_at,
            expires_version=None if expires_at is None else head.current_version,
            rotator=rotator,
            config=config_text,
            now=now,
        )
        record(
            conn,
            installation,
            actor,
            "secret.rotation_policy",
            account=target.account,
            stack=target.stack,
            detail={
                "keys": [key],
                "rotate_every": _seconds(rotate_every),
                "expires_at": _iso(expires_at),
                "rotator": rotator,
                "config": Rotator(rotator, settings).public_config(),
            },
        )
        stored = _stored_policy(conn, target, key, head)
        return _policy(key, stored, head, _written_at(conn, head))

    return installation.store.transact(work, f"setting the rotation policy of {key!r}")


def get_policy(
    installation: Installation, actor: Principal, target: Target, key: str
) -> RotationPolicy:
    validate_key(key)
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, key=key)
    with installation.store.read() as conn:
        head = _live_head(conn, target, key)
        return _policy(key, _stored_policy(conn, target, key, head), head, _written_at(conn, head))


def clear_policy(installation: Installation, actor: Principal, target: Target, key: str) -> None:
    """Remove ``key``'s rotation policy (and any rotation of it in progress)."""
    validate_key(key)
    allow(installation, actor, _write_action(target), target.account, target.stack, key=key)

    def work(conn: Connection) -> None:
        head = _live_head(conn, target, key, lock=True)
        if not queries.delete_policy(conn, head.id):
            raise NotFound(f"secret {key!r} in {target.describe()} has no rotation policy")
        record(
            conn,
            installation,
            actor,
            "secret.rotation_policy",
            account=target.account,
            stack=target.stack,
            detail={"keys": [key], "cleared": True},
        )

    installation.store.transact(work, f"clearing the rotation policy of {key!r}")


# --- Status ---


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


def _may(actor: Principal, action: Action, account: Account, stack: Stack | None) -> bool:
    try:
        authorize(actor, action, account, stack)
    except (Forbidden, NotFound):
        return False
    return True


@dataclass(frozen=True, slots=True)
class _Found:
    account: Account
    stack: Stack | None
    row: queries.PolicyRow
    written_at: datetime


def _policies(
    installation: Installation, actor: Principal, account: Account | None, action: Action
) -> list[_Found]:
    """Every live secret with a policy that ``actor`` may ``action``, in one or all accounts."""
    accounts = [account] if account is not None else list_accounts(installation, actor)
    found = []
    with installation.store.read() as conn:
        for owner in accounts:
            stacks = {s.id: s for s in tenancy_queries.list_stacks(conn, owner.id)}
            for row in queries.policies_of_account(conn, owner.id):
                stack = None if row.stack_id is None else stacks[row.stack_id]
                if row.deleted or not _may(actor, action, owner, stack):
                    continue
                head = SecretHead(row.policy.secret_id, row.current_version, False, row.updated_at)
                found.append(_Found(owner, stack, row, _written_at(conn, head)))
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
    for item in _policies(installation, actor, account, Action.DESCRIBE):
        stored = item.row.policy
        due_at = _due_at(stored, item.written_at)
        expires_at = _expiry(stored, item.row.current_version)
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


# --- Rotating ---


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
        head = _live_head(conn, target, key, lock=True)
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
        head = _live_head(conn, target, key, lock=True)
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
        head = _live_head(conn, target, key, lock=True)
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
    allow(installation, actor, _write_action(target), target.account, target.stack, key=key)
    with installation.store.read() as conn:
        head = _live_head(conn, target, key)
        stored = _stored_policy(conn, target, key, head)
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
    for item in _policies(installation, actor, account, Action.DESCRIBE):
        stored = item.row.policy
        if stack is not None and (item.stack is None or item.stack.id != stack.id):
            continue
        due_at = _due_at(stored, item.written_at)
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
        if not _may(actor, _write_action(target), item.account, item.stack):
            continue
        outcomes.append(
            _rotate(installation, actor, target, item.row.key, stored, item.row.current_version)
        )
    return outcomes


# --- Labels ---


def labelled_secret(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    label: str,
    *,
    reveal: bool = False,
) -> Secret:
    """The version of ``key`` (at ``target``'s own level) that ``label`` names."""
    validate_key(key)
    if label not in LABELS:
        raise InvalidInput(f"label {label!r} is not one of {', '.join(LABELS)}")
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, key=key)
    if reveal:
        allow(installation, actor, Action.REVEAL, target.account, target.stack, key=key)
    with installation.store.read() as conn:
        head = _live_head(conn, target, key)
        if label == "pending":
            stored = queries.policy_of(conn, head.id)
            if stored is None or stored.pending_version is None or stored.pending_envelope is None:
                raise NotFound(f"no rotation of {key!r} is in progress")
            assert stored.pending_since is not None  # noqa: S101 - set with pending_version
            version, envelope, at = (
                stored.pending_version,
                stored.pending_envelope,
                stored.pending_since,
            )
        else:
            wanted = head.current_version - (label == "previous")
            chosen = next(
                (v for v in secret_queries.versions_of(conn, head.id) if v.version == wanted), None
            )
            if chosen is None or chosen.envelope is None:
                raise NotFound(f"{key!r} has no {label} value (a deletion, destroyed, or none)")
            version, envelope, at = chosen.version, chosen.envelope, chosen.created_at
        keys = scope_keys(conn, installation, target)[target.stack is not None]
        plaintext = SecretValue(keys.open(envelope, key, version).decode("utf-8"))
    if reveal:
        record_reveal(
            installation,
            actor,
            target,
            {
                "keys": {key: version},
                "fingerprints": {key: fingerprint(installation, plaintext)},
                "label": label,
                "purpose": "label",
            },
        )
    return Secret(
        key,
        encode_value(envelope),
        target.stack is None,
        version,
        head.created_at,
        at,
        plaintext if reveal else None,
    )


# --- The server's scheduler ---


class RotationScheduler:
    """A daemon thread of `stacksafe serve` that runs ``run_due`` every ``interval``. Several
    servers may run one each: claims in the database keep them from rotating a secret twice."""

    def __init__(
        self,
        installation: Installation,
        interval: timedelta,
        actor: Principal | None = None,
        on_outcomes: Callable[[list[RotationOutcome]], None] | None = None,
    ) -> None:
        self.installation, self.interval = installation, interval
        self.actor = actor or Principal.local("rotation-scheduler")
        self.on_outcomes = on_outcomes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rotation-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def run_once(self) -> list[RotationOutcome]:
        outcomes = run_due(self.installation, self.actor)
        for done in outcomes:
            log.info(
                "rotation of %r (account %s, stack %s): %s",
                done.key,
                done.account_uid,
                done.stack_uid,
                done.outcome,
            )
        if self.on_outcomes is not None:
            self.on_outcomes(outcomes)
        return outcomes

    def _loop(self) -> None:
        while not self._stop.wait(self.interval.total_seconds()):
            try:
                self.run_once()
            except Exception as exc:  # the scheduler must outlive one bad run
                # The type only: an unexpected exception's text or traceback may quote data
                # (a driver echoing a statement), and logs must never hold a value.
                log.error(
                    "the rotation scheduler's run failed (%s); it will try again",
                    type(exc).__name__,
                )
