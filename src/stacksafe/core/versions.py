"""Versions of secrets: history, rollback, undelete and destroy.

A rollback restores one key, or a whole level to a moment. How many versions a level keeps is
core.retention.

Nothing here erases history: a rollback or an undelete writes a new version holding an earlier
value (re-sealed under the level's newest data key, bound to the new version), and destroy
removes one version's ciphertext but keeps its row, marked destroyed. Every operation is one
transaction with one audit event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from stacksafe.core.access import Action, Principal
from stacksafe.core.audit import record
from stacksafe.core.data_keys import scope_keys, sealing_key
from stacksafe.core.expansion import check_expansion
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.guard import allow, record_damage
from stacksafe.core.installation import Installation
from stacksafe.core.reveal import record_reveal
from stacksafe.core.tenancy import Target
from stacksafe.core.validation import validate_key
from stacksafe.core.version_writes import (
    Expected,
    append_version,
    check_expected,
    prune_after_write,
)
from stacksafe.crypto import ScopeKeys, encode_value
from stacksafe.errors import Conflict, IntegrityError, InvalidInput, NotFound
from stacksafe.model import SecretValue, iso8601
from stacksafe.store import Connection
from stacksafe.store import secrets as queries
from stacksafe.store.secrets import SecretHead, StoredVersion

__all__ = [
    "ACTION_ROLLBACK",
    "ACTION_UNDELETE",
    "RollbackReport",
    "VersionEntry",
    "destroy_version",
    "history",
    "rollback_key",
    "rollback_level",
    "undelete",
]

T = TypeVar("T")

ACTION_ROLLBACK = "rollback"
ACTION_UNDELETE = "undelete"


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One version in a secret's history. ``value`` is the encrypted form (None for a deletion
    or a destroyed version); ``raw_value`` is set only when revealed."""

    version: int
    action: str
    author: str
    created_at: datetime
    current: bool
    deleted: bool
    destroyed_at: datetime | None
    value: str | None
    raw_value: SecretValue | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "version": self.version,
            "action": self.action,
            "author": self.author,
            "created_at_iso": iso8601(self.created_at),
            "current": self.current,
            "deleted": self.deleted,
            "destroyed": self.destroyed_at is not None,
            "destroyed_at_iso": None if self.destroyed_at is None else iso8601(self.destroyed_at),
            "value": self.value,
            "raw_value": None if self.raw_value is None else self.raw_value.reveal(),
        }


@dataclass(frozen=True, slots=True)
class RollbackReport:
    """What a rollback of a level did, by key: restored to an earlier value, deleted (the key
    did not exist then), or unchanged."""

    to: datetime
    restored: dict[str, int]  # key -> the version whose value was restored
    deleted: list[str]
    unchanged: list[str]


def _write_action(target: Target) -> Action:
    return Action.WRITE_ACCOUNT_SECRETS if target.stack is None else Action.WRITE_STACK_SECRETS


def _head(conn: Connection, target: Target, key: str, *, lock: bool = False) -> SecretHead:
    head = queries.secret_head(conn, target.account.id, target.stack_id, key, lock=lock)
    if head is None:
        raise NotFound(f"secret {key!r} does not exist in {target.describe()}")
    return head


def _open(keys: ScopeKeys, key: str, stored: StoredVersion) -> SecretValue:
    assert stored.envelope is not None  # noqa: S101 - callers check
    return SecretValue(keys.open(stored.envelope, key, stored.version).decode("utf-8"))


def _matching(key: str, head: SecretHead, stored: Sequence[StoredVersion]) -> None:
    """The secret's pointer and its version rows must agree: the current version exists, holds
    a value unless the secret is deleted, and is a deletion if it is (an edit of either by SQL
    shows here, as it does on every read of the current values)."""
    current = next((v for v in reversed(stored) if v.version == head.current_version), None)
    if (
        current is None
        or current.destroyed_at is not None
        or current.is_deletion != head.deleted
        or stored[-1].version != head.current_version
    ):
        raise IntegrityError(
            f"the history of {key!r} does not match its pointer (version "
            f"{head.current_version}): damaged or edited in the database"
        )


def _recorded(
    installation: Installation,
    actor: Principal,
    target: Target,
    action: str,
    run: Callable[[], T],
    **detail: object,
) -> T:
    """``run()`` (a write that opens earlier values); damaged stored data it meets is recorded
    (one ``secret.<action>`` event, core.guard.record_damage) and raised."""
    try:
        return run()
    except IntegrityError as damaged:
        raise record_damage(
            installation,
            actor,
            f"secret.{action}",
            damaged,
            account=target.account,
            stack=target.stack,
            **detail,
        ) from None


def _restorable(key: str, stored: StoredVersion) -> None:
    if stored.destroyed_at is not None:
        raise Conflict(
            f"version {stored.version} of {key!r} was destroyed on "
            f"{iso8601(stored.destroyed_at)}; its value is gone"
        )
    if stored.is_deletion:
        raise InvalidInput(
            f"version {stored.version} of {key!r} is a deletion, not a value; use unset to delete"
        )


def history(
    installation: Installation, actor: Principal, target: Target, key: str, *, reveal: bool = False
) -> list[VersionEntry]:
    """Every version of ``key`` at ``target``'s own level, newest first.

    Every stored ciphertext is authenticated, revealed or not; with ``reveal`` (which needs the
    reveal permission) the values are returned and one audit event names the versions read.
    """
    validate_key(key)
    allow(installation, actor, Action.DESCRIBE, target.account, target.stack, key=key)
    if reveal:
        allow(installation, actor, Action.REVEAL, target.account, target.stack, key=key)
    try:
        entries, head = _history(installation, target, key, reveal)
    except IntegrityError as damaged:
        raise record_damage(
            installation,
            actor,
            (Action.REVEAL if reveal else Action.DESCRIBE).value,
            damaged,
            account=target.account,
            stack=target.stack,
            key=key,
            purpose="history",
        ) from None
    if reveal:
        shown = {
            str(e.version): fingerprint(installation, e.raw_value) for e in entries if e.raw_value
        }
        if shown:
            record_reveal(
                installation,
                actor,
                target,
                {
                    "keys": {key: head.current_version},
                    "versions": shown,
                    "purpose": "history",
                },
            )
    return entries


def _history(
    installation: Installation, target: Target, key: str, reveal: bool
) -> tuple[list[VersionEntry], SecretHead]:
    """``history``'s entries, every stored ciphertext authenticated, and the secret's head."""
    with installation.store.read() as conn:
        head = _head(conn, target, key)
        stored = queries.versions_of(conn, head.id, key)
        _matching(key, head, stored)
        keys = scope_keys(conn, installation, target)[target.stack is not None]
        entries = []
        for version in reversed(stored):
            plaintext = None if version.envelope is None else _open(keys, key, version)
            entries.append(
                VersionEntry(
                    version=version.version,
                    action=version.action,
                    author=version.author,
                    created_at=version.created_at,
                    current=version.version == head.current_version,
                    deleted=version.is_deletion,
                    destroyed_at=version.destroyed_at,
                    value=None if version.envelope is None else encode_value(version.envelope),
                    raw_value=plaintext if reveal else None,
                )
            )
    return entries, head


def _restore(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    values: Sequence[tuple[str, SecretValue | None]],
    action: str,
    now: datetime,
) -> dict[str, int]:
    """Write the new versions (a value, or a deletion for None); key -> new version."""
    sealing = sealing_key(conn, installation, target, sum(v is not None for _, v in values))
    written: dict[str, int] = {}
    for key, value in values:
        head = _head(conn, target, key, lock=True)
        append_version(
            conn,
            target,
            key,
            value,
            None if value is None else sealing,
            actor.name,
            now,
            action=action,
        )
        written[key] = head.current_version + 1
    check_expansion(conn, installation, target, list(written))
    prune_after_write(conn, installation, actor, target, list(written))
    return written


def _bring_back(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    stored: StoredVersion,
    action: str,
) -> int:
    """``stored``'s value as the key's next version, with its audit event; the new version."""
    keys = scope_keys(conn, installation, target)[target.stack is not None]
    value = _open(keys, key, stored)
    written = _restore(
        conn, installation, actor, target, [(key, value)], action, installation.clock()
    )
    record(
        conn,
        installation,
        actor,
        f"secret.{action}",
        account=target.account,
        stack=target.stack,
        detail={
            "keys": written,
            "from_versions": {key: stored.version},
            "fingerprints": {key: fingerprint(installation, value)},
        },
    )
    return written[key]


def rollback_key(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    to_version: int,
    *,
    expected_version: Expected = None,
) -> int:
    """Make version ``to_version``'s value current again, as a new version; returns it."""
    validate_key(key)
    if to_version < 1:
        raise InvalidInput("versions start at 1")
    allow(installation, actor, _write_action(target), target.account, target.stack, key=key)

    def work(conn: Connection) -> int:
        head = _head(conn, target, key, lock=True)
        check_expected(conn, target, key, head, expected_version)
        found = {v.version: v for v in queries.versions_of(conn, head.id, key)}
        stored = found.get(to_version)
        if stored is None:
            raise NotFound(f"version {to_version} of {key!r} does not exist")
        _restorable(key, stored)
        if to_version == head.current_version and not head.deleted:
            raise Conflict(f"{key!r} is already at version {to_version}")
        return _bring_back(conn, installation, actor, target, key, stored, ACTION_ROLLBACK)

    return _recorded(
        installation,
        actor,
        target,
        ACTION_ROLLBACK,
        lambda: installation.store.transact(work, f"rolling back {key!r}", snapshot=True),
        key=key,
    )


def undelete(installation: Installation, actor: Principal, target: Target, key: str) -> int:
    """Restore a deleted key's last value, as a new version; returns it."""
    validate_key(key)
    allow(installation, actor, _write_action(target), target.account, target.stack, key=key)

    def work(conn: Connection) -> int:
        head = _head(conn, target, key, lock=True)
        if not head.deleted:
            raise Conflict(f"{key!r} is not deleted in {target.describe()}")
        earlier = [v for v in queries.versions_of(conn, head.id, key) if not v.is_deletion]
        if not earlier:
            raise Conflict(f"{key!r} has no earlier value to restore")
        stored = earlier[-1]
        _restorable(key, stored)
        return _bring_back(conn, installation, actor, target, key, stored, ACTION_UNDELETE)

    return _recorded(
        installation,
        actor,
        target,
        ACTION_UNDELETE,
        lambda: installation.store.transact(work, f"undeleting {key!r}", snapshot=True),
        key=key,
    )


def destroy_version(
    installation: Installation, actor: Principal, target: Target, key: str, version: int
) -> None:
    """Remove version ``version``'s ciphertext for good (its row stays, marked destroyed)."""
    validate_key(key)
    allow(installation, actor, _write_action(target), target.account, target.stack, key=key)

    def work(conn: Connection) -> None:
        head = _head(conn, target, key, lock=True)
        found = {v.version: v for v in queries.versions_of(conn, head.id, key)}
        stored = found.get(version)
        if stored is None:
            raise NotFound(f"version {version} of {key!r} does not exist")
        if stored.destroyed_at is not None:
            raise Conflict(f"version {version} of {key!r} is already destroyed")
        if stored.is_deletion:
            raise InvalidInput(f"version {version} of {key!r} is a deletion: it holds no value")
        if version == head.current_version:
            raise Conflict(
                f"version {version} is the current value of {key!r}; set a new value or unset "
                "it first"
            )
        queries.destroy_version(conn, head.id, version, installation.clock())
        record(
            conn,
            installation,
            actor,
            "secret.destroy",
            account=target.account,
            stack=target.stack,
            detail={"keys": {key: head.current_version}, "destroyed_versions": {key: [version]}},
        )

    installation.store.transact(work, f"destroying version {version} of {key!r}")


def rollback_level(
    installation: Installation, actor: Principal, target: Target, moment: datetime
) -> RollbackReport:
    """Every key of ``target``'s own level as it was at ``moment``, in one transaction.

    A key that held a value then gets that value as a new version; a key that did not exist
    (or was deleted) then is deleted; a key already as it was is left alone. If any value to
    restore was destroyed, nothing changes and the error names the keys.
    """
    if moment.tzinfo is None:
        raise InvalidInput("give the time with its offset, e.g. 2026-11-20T10:00:00Z")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput("the time is out of range once converted to UTC") from None
    allow(
        installation, actor, _write_action(target), target.account, target.stack, to=iso8601(moment)
    )

    def work(conn: Connection) -> RollbackReport:
        heads = queries.scope_heads(conn, target.account.id, target.stack_id)
        then = queries.versions_as_of(conn, target.account.id, target.stack_id, moment)
        keys = scope_keys(conn, installation, target)[target.stack is not None]
        lost = sorted(
            key
            for key, head in heads
            if head.id in then
            and then[head.id].destroyed_at is not None
            and then[head.id].version != head.current_version
        )
        if lost:
            raise Conflict(
                f"the values of {', '.join(map(repr, lost))} at that time were destroyed; "
                "nothing was rolled back"
            )
        changes: list[tuple[str, SecretValue | None]] = []
        report = RollbackReport(moment, {}, [], [])
        for key, head in heads:
            past = then.get(head.id)
            if past is None or past.is_deletion:
                if head.deleted:
                    report.unchanged.append(key)
                else:
                    changes.append((key, None))
                    report.deleted.append(key)
            elif past.version == head.current_version and not head.deleted:
                report.unchanged.append(key)
            else:
                changes.append((key, _open(keys, key, past)))
                report.restored[key] = past.version
        if changes:
            written = _restore(
                conn, installation, actor, target, changes, ACTION_ROLLBACK, installation.clock()
            )
            record(
                conn,
                installation,
                actor,
                "secret.rollback",
                account=target.account,
                stack=target.stack,
                detail={
                    "keys": written,
                    "to": iso8601(moment),
                    "from_versions": report.restored,
                    "fingerprints": {
                        k: fingerprint(installation, v) for k, v in changes if v is not None
                    },
                },
            )
        return report

    return _recorded(
        installation,
        actor,
        target,
        ACTION_ROLLBACK,
        lambda: installation.store.transact(work, "rolling back", snapshot=True),
    )
