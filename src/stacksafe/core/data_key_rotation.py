"""Data-key rotation: every stored value re-encrypted under a fresh data key of its scope.

For when a data key may be compromised (a master-key rotation re-wraps data keys and so does not
help then). Three steps per scope, each made of short transactions, while servers keep serving:

1. **retire**: every data key of the scope is marked retired (spent: nothing more is sealed under
   it) and a fresh one, the next version, becomes the newest; one transaction that locks the
   newest key as writers do, so every later write seals under the fresh key.
2. **re-seal**: in batches, each value still under a retired key is opened (authenticated: a
   tampered value stops the run instead of being laundered into a fresh seal) and sealed again
   under the newest key with the same associated data (scope, key, version), so history,
   rollback and version numbers are unchanged. A batch is one transaction: its envelopes, the
   seal count of the key that sealed them (the seal limit of core.secrets applies) and its audit
   event commit together.
3. **delete**: once no value names them, the retired keys are deleted, with an audit event:
   their wrapped form is gone, so they open nothing any more, even with the master key.

A reader sees a batch whole or not at all (each read is one snapshot, see store.transactions), and
the retired keys stay until no value needs them. Interrupted, a run is resumed by running it again:
scopes that hold retired keys are finished, and only scopes that still hold keys older than the
interrupted run's fresh ones are retired anew (so a resumed run does not start over).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from stacksafe.core.access import Principal
from stacksafe.core.audit import record
from stacksafe.core.data_keys import sealing_key, wrap_new_data_key
from stacksafe.core.guard import require_owner
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, resolve_target
from stacksafe.crypto import Binding, Envelope, ScopeKeys
from stacksafe.errors import Conflict
from stacksafe.store import Connection
from stacksafe.store import data_key_rotation as queries
from stacksafe.store import keys as key_queries
from stacksafe.store import tenancy as tenancy_queries

__all__ = ["BATCH", "ResealReport", "rotate_data_keys"]

BATCH = 500
# Re-seal passes before giving up on a scope whose retired keys keep being named (no writer
# seals under a retired key, so a second pass is already unexpected).
_PASSES = 3


@dataclass(frozen=True, slots=True)
class ResealReport:
    scopes: int  # scopes whose data keys were replaced (this run or an interrupted one)
    resumed: int  # of those, scopes an interrupted run had begun
    resealed: int  # values re-encrypted by this run
    deleted: int  # retired data keys deleted by this run


def _targets(installation: Installation, account: str | None, stack: str | None) -> list[Target]:
    """The scopes named: one stack, an account's level and its stacks, or every scope."""
    if stack is not None:
        return [resolve_target(installation, account=account, stack=stack)]
    owner = None if account is None else resolve_target(installation, account=account, stack=None)
    with installation.store.read() as conn:
        accounts = tenancy_queries.list_accounts(conn) if owner is None else [owner.account]
        by_id = {a.id: a for a in accounts}
        stacks = tenancy_queries.list_stacks(conn, None if owner is None else owner.account.id)
    found = [Target(a) for a in accounts]
    found += [Target(by_id[s.account_id], s) for s in stacks if s.account_id in by_id]
    return found


def _plan(installation: Installation, targets: list[Target]) -> tuple[list[Target], list[Target]]:
    """(scopes an interrupted run began, scopes to retire now) among ``targets``."""
    with installation.store.read() as conn:
        keys = queries.scope_data_keys(conn, sorted({t.account.id for t in targets}))
    held: dict[tuple[int, int | None], list[queries.ScopeDataKey]] = {}
    for key in keys:
        held.setdefault((key.account_id, key.stack_id), []).append(key)

    def keys_of(target: Target) -> list[queries.ScopeDataKey]:
        return held.get((target.account.id, target.stack_id), [])

    begun = [t for t in targets if any(k.retired for k in keys_of(t))]
    # Every other scope with keys is retired now, even one an interrupted run already finished:
    # telling those apart from scopes made (or given keys) since would guess, and a guess that
    # skips a scope leaves a possibly compromised key in use while reporting success. Redoing
    # a finished scope costs only time.
    to_retire = [t for t in targets if t not in begun and keys_of(t)]
    return begun, to_retire


def rotate_data_keys(
    installation: Installation,
    actor: Principal,
    *,
    account: str | None = None,
    stack: str | None = None,
    batch: int = BATCH,
    progress: Callable[[int, int], None] | None = None,
) -> ResealReport:
    """Re-encrypt every stored value of the named scopes (default: all) under fresh data keys,
    then delete the old ones; ``progress(done, total)`` after each committed batch."""
    require_owner(installation, actor, "keys.reseal", "only the server owner may rotate data keys")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    begun, to_retire = _plan(installation, _targets(installation, account, stack))
    retired = [t for t in to_retire if _retire(installation, actor, t)]
    pending = begun + retired
    total = 0
    with installation.store.read() as conn:
        for target in pending:
            total += queries.count_sealed_under(
                conn, target.account.id, target.stack_id, _retired_headers(conn, target)
            )
    done = deleted = 0
    if progress is not None:
        progress(0, total)
    for target in pending:
        for _pass in range(_PASSES):
            done = _reseal_scope(installation, actor, target, batch, done, total, progress)
            gone = _delete_retired(installation, actor, target)
            if gone is not None:
                deleted += gone
                break
        else:
            raise Conflict(
                f"values of {target.describe()} kept appearing under retired data keys; "
                "run `stacksafe keys rotate-data-keys` again"
            )
    # This process's cache forgets the deleted keys at once; other servers' caches can no longer
    # reach them (no stored value or data-key row names them) and evict them in time.
    installation.data_keys.clear()
    return ResealReport(len(pending), len(begun), done, deleted)


def _retired_headers(conn: Connection, target: Target) -> list[bytes]:
    return [Envelope.header_for(k.version) for k in _retired_keys(conn, target)]


def _retired_keys(conn: Connection, target: Target) -> list[key_queries.StoredDataKey]:
    level = target.stack is not None
    stored = key_queries.data_keys_of(conn, target.account.id, target.stack_id)[level]
    return [k for k in stored if k.seal_count >= queries.RETIRED_SEAL_COUNT]


def _retire(installation: Installation, actor: Principal, target: Target) -> bool:
    """Retire the scope's data keys and make a fresh newest one; False if nothing to do."""
    scope = target.scope

    def work(conn: Connection) -> bool:
        newest = key_queries.newest_data_key(conn, target.account.id, target.stack_id, lock=True)
        if newest is None or newest.seal_count >= queries.RETIRED_SEAL_COUNT:
            return False  # no keys, or another run retired them first
        if _retired_keys(conn, target):
            return False  # another run has begun this scope: it is finished as a begun one
        versions = queries.retire_scope_keys(conn, target.account.id, target.stack_id)
        version = newest.version + 1
        _key, mk_version, wrapped = wrap_new_data_key(conn, installation, scope, version)
        key_queries.insert_data_key(
            conn,
            target.account.id,
            target.stack_id,
            version,
            mk_version,
            wrapped,
            installation.clock(),
        )
        record(
            conn,
            installation,
            actor,
            "key.data_keys.retire",
            account=target.account,
            stack=target.stack,
            detail={"retired_versions": versions, "data_key_version": version},
        )
        return True

    return installation.store.transact(work, f"retiring the data keys of {target.describe()}")


def _reseal_scope(
    installation: Installation,
    actor: Principal,
    target: Target,
    batch: int,
    done: int,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Re-seal the scope's values under retired keys, a batch per transaction; the new count."""
    cursor = 0
    while True:
        work = partial(
            _reseal_batch, installation=installation, actor=actor, target=target, after=cursor
        )
        started = time.perf_counter()
        moved, cursor = installation.store.transact(
            partial(work, batch=batch), f"re-encrypting values of {target.describe()}"
        )
        installation.store.yield_write_lock(time.perf_counter() - started)
        done += moved
        if moved and progress is not None:
            progress(done, max(total, done))
        if cursor == -1:
            return done


def _reseal_batch(
    conn: Connection,
    installation: Installation,
    actor: Principal,
    target: Target,
    after: int,
    batch: int,
) -> tuple[int, int]:
    """One batch: (values re-sealed, id to continue after; -1 when none remain)."""
    scope = target.scope
    retired = _retired_keys(conn, target)
    headers = [Envelope.header_for(k.version) for k in retired]
    rows = queries.sealed_under(conn, target.account.id, target.stack_id, headers, after, batch)
    swap: Callable[[Connection, int, bytes, bytes], int] = queries.swap_envelope
    if not rows:
        # Stored versions done: the values of secret rotations in progress last (a handful).
        rows = queries.pending_under(conn, target.account.id, target.stack_id, headers)
        swap, after = queries.swap_pending, -1
        if not rows:
            return 0, -1
    old_keys = ScopeKeys(
        scope,
        (
            installation.data_keys.unwrap(scope, k.version, k.master_key_version, k.wrapped_key)
            for k in retired
        ),
    )
    sealer = sealing_key(conn, installation, target, len(rows))
    moved = 0
    resealed: dict[str, list[int]] = {}
    for row in rows:
        plaintext = old_keys.open(row.envelope, row.key, row.version)
        fresh = sealer.seal(plaintext, Binding(scope, row.key, row.version))
        if swap(conn, row.id, row.envelope, fresh):
            moved += 1
            resealed.setdefault(row.key, []).append(row.version)
    record(
        conn,
        installation,
        actor,
        "key.data_keys.reseal",
        account=target.account,
        stack=target.stack,
        detail={
            "data_key_version": sealer.version,
            "retired_versions": sorted(k.version for k in retired),
            "values": moved,
            "keys": resealed,
            **({"pending": True} if after == -1 else {}),
        },
    )
    return moved, -1 if after == -1 else rows[-1].id


def _delete_retired(installation: Installation, actor: Principal, target: Target) -> int | None:
    """Delete the scope's retired keys if no value names them: how many; None if some do."""

    def work(conn: Connection) -> int | None:
        headers = _retired_headers(conn, target)
        if not headers:
            return 0  # finished by another run
        if queries.count_sealed_under(conn, target.account.id, target.stack_id, headers):
            return None
        versions = queries.delete_retired(conn, target.account.id, target.stack_id)
        record(
            conn,
            installation,
            actor,
            "key.data_keys.delete",
            account=target.account,
            stack=target.stack,
            detail={"deleted_versions": versions},
        )
        return len(versions)

    return installation.store.transact(
        work, f"deleting the retired data keys of {target.describe()}"
    )
