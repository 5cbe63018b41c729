"""Level writes: one row per write transaction per level, what KV path versions count.

Every statement that inserts a key version asks ``level_write`` for the id of its transaction's
write of that level, and stamps the version with it (``secret_versions.level_write_id``). The
first ask in a transaction inserts the row; later ones are given the same id (kept on the
connection for that transaction only; in a group commit, for that member's savepoint).

Ids must follow commit order for the writes a path counts, or version numbers would shift when
a write that took an earlier id commits later. SQLite runs one writer at a time (BEGIN
IMMEDIATE). On PostgreSQL the row is inserted only after the transaction holds the level's row:
an account's for update (so its stacks' writers wait), or its stack's for update after its
account's for share (so an account write and a stack write of that account never interleave).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from stacksafe.errors import NotFound
from stacksafe.store.driver import DriverStatement
from stacksafe.store.schema import accounts, level_writes, stacks
from stacksafe.store.write_group import write_of

__all__ = [
    "counted_writes",
    "last_write_id",
    "level_write",
    "lock_level",
    "path_head",
    "path_write_count",
    "send_level_write",
    "send_lock_level",
]

_KEPT = "stacksafe.level_writes"
_LOCKED = "stacksafe.locked_levels"
Level = tuple[int, int | None]  # (account id, stack id or None)


class _Kept(NamedTuple):
    write_id: int
    counted: bool
    pinned: bool  # said so by the writer: key versions written later do not change it


def _this_transaction(conn: Connection, name: str) -> dict[Level, Any]:
    """A dict kept on the connection under ``name`` for its current write only: its
    transaction, or its member's savepoint in a group commit (store.write_group)."""
    write = write_of(conn)
    kept: tuple[Any, dict[Level, Any]] | None = conn.info.get(name)
    if kept is None or kept[0] is not write:
        kept = (write, {})
        conn.info[name] = kept
    return kept[1]


def _kept(conn: Connection) -> dict[Level, _Kept]:
    """This transaction's level writes so far, by level."""
    return _this_transaction(conn, _KEPT)


def level_write(
    conn: Connection,
    account_id: int,
    stack_id: int | None,
    now: datetime,
    *,
    counted: bool | None = None,
    pin: bool = False,
) -> int:
    """The id of this transaction's write of the level, inserted on first use.

    ``counted`` None (a key version is written): the write counts, unless a writer pinned it
    uncounted. A stack's creation passes whether it inherited anything (unpinned: if the same
    transaction then writes its keys, that counts); a KV soft delete passes False, pinned."""
    kept = _kept(conn)
    level = (account_id, stack_id)
    found = kept.get(level)
    if found is not None:
        wanted = found.counted
        if counted is not None:
            wanted = counted
        elif not found.pinned:
            wanted = True
        if wanted != found.counted:
            conn.execute(
                update(level_writes)
                .where(level_writes.c.id == found.write_id)
                .values(counted=wanted)
            )
        kept[level] = _Kept(found.write_id, wanted, found.pinned or pin)
        return found.write_id
    if level not in _this_transaction(conn, _LOCKED):
        lock_level(conn, account_id, stack_id)
    return send_level_write(conn, level, now, counted=counted, pin=pin)()


# Through the driver (store.driver): every write of a secret runs them. FOR UPDATE and FOR
# SHARE lock on PostgreSQL; SQLite, which runs one writer at a time, compiles them away.
_ACCOUNT = select(accounts.c.secrets_revision).where(
    accounts.c.id == bindparam("account_id"), accounts.c.deleted_at.is_(None)
)
_LOCK_ACCOUNT = DriverStatement(_ACCOUNT.with_for_update())
_SHARE_ACCOUNT = DriverStatement(_ACCOUNT.with_for_update(read=True))
_LOCK_STACK = DriverStatement(
    select(stacks.c.secrets_revision)
    .where(stacks.c.id == bindparam("stack_id"), stacks.c.deleted_at.is_(None))
    .with_for_update()
)
_WRITE_COLUMNS = ["account_id", "stack_id", "at", "counted"]
# Sent in a batch after ``send_lock_level``, whose answer is read after it: on a level deleted
# meanwhile it inserts nothing (no row returned), so that the lock's NotFound is what the
# writer is told, not the deleted-level trigger's refusal of this row (migration 0017).
_LIVE_STACK = (
    select(stacks.c.id)
    .where(stacks.c.id == bindparam("stack_id"), stacks.c.deleted_at.is_(None))
    .exists()
)
_INSERT_WRITE_IF_LIVE = DriverStatement(
    insert(level_writes)
    .from_select(
        _WRITE_COLUMNS,
        select(
            *(bindparam(name, type_=level_writes.c[name].type) for name in _WRITE_COLUMNS)
        ).where(
            select(accounts.c.id)
            .where(accounts.c.id == bindparam("account_id"), accounts.c.deleted_at.is_(None))
            .exists(),
            or_(bindparam("stack_id", type_=level_writes.c.stack_id.type).is_(None), _LIVE_STACK),
        ),
    )
    .returning(level_writes.c.id)
)


def lock_level(conn: Connection, account_id: int, stack_id: int | None) -> str:
    """Hold the level's row for the rest of the transaction (PostgreSQL; SQLite runs one writer
    at a time): an account's for update, a stack's for update after its account's for share.
    A KV write takes it before it reads the path's version and data, so that no write of the
    level or of its account commits between its check and its own commit.

    And make sure the level is still there: a deleted level keeps its row (revision 0017), so
    no foreign key stops a write that found it before it was deleted; this does (``NotFound``,
    the transaction's work undone), checked under the lock.

    Returns the level's revision as ``secrets.secrets_revision`` gives it, read under the lock:
    what the level's stored secrets are at until this transaction changes them (no other
    writer of the level, or of its account, can until it ends). ``level_write`` takes no lock
    again for a level locked so in its transaction."""
    return send_lock_level(conn, account_id, stack_id)()


def send_lock_level(conn: Connection, account_id: int, stack_id: int | None) -> Callable[[], str]:
    """``lock_level``'s statements sent now, its answer read when called: so that statements
    sent after them go in the same batch (store.driver), each run once they hold the lock."""
    if stack_id is None:
        own = _LOCK_ACCOUNT.send(conn, {"account_id": account_id})
        parent = stack = None
    else:
        parent = _SHARE_ACCOUNT.send(conn, {"account_id": account_id})
        stack = _LOCK_STACK.send(conn, {"stack_id": stack_id})
    _this_transaction(conn, _LOCKED)[(account_id, stack_id)] = True

    def locked() -> str:
        if parent is None:
            row = own.first()
            if row is None:
                raise NotFound("the account was deleted meanwhile; nothing was written")
            return str(row[0])
        parent_row = parent.first()
        if parent_row is None:
            raise NotFound("the account was deleted meanwhile; nothing was written")
        assert stack is not None  # noqa: S101 - sent with the parent
        stack_row = stack.first()
        if stack_row is None:
            raise NotFound("the stack was deleted meanwhile; nothing was written")
        return f"{parent_row[0]}/{stack_row[0]}"

    return locked


def send_level_write(
    conn: Connection, level: Level, now: datetime, *, counted: bool | None = None, pin: bool = False
) -> Callable[[], int]:
    """``level_write`` of ``level`` (account id, stack id or None) with its statement sent
    now, its id read (and kept for the transaction) when called: a first write of the level in
    this transaction inserts its row here, after ``send_lock_level`` of the level in it (so it
    is inserted under the lock)."""
    account_id, stack_id = level
    if level in _kept(conn):  # no row to insert; what level_write does, when called
        return lambda: level_write(conn, account_id, stack_id, now, counted=counted, pin=pin)
    counts = True if counted is None else counted
    given = {"account_id": account_id, "stack_id": stack_id, "at": now, "counted": counts}
    pending = _INSERT_WRITE_IF_LIVE.send(conn, given)

    def reserved() -> int:
        row = pending.first()
        if row is None:  # the level's lock, read before this, said so first
            raise NotFound("the level was deleted meanwhile; nothing was written")
        write_id = int(row[0])
        _kept(conn)[level] = _Kept(write_id, counts, pin)
        return write_id

    return reserved


def _path_clause(account_id: int, stack_id: int | None, base: int) -> Any:
    if stack_id is None:
        return and_(
            level_writes.c.account_id == account_id,
            level_writes.c.stack_id.is_(None),
            level_writes.c.counted,
        )
    return or_(
        and_(level_writes.c.stack_id == stack_id, level_writes.c.counted),
        and_(
            level_writes.c.account_id == account_id,
            level_writes.c.stack_id.is_(None),
            level_writes.c.id > base,
        ),
    )


def _base(conn: Connection, stack_id: int | None) -> int:
    """A stack's creation write (its first row): account writes after it count for its path."""
    if stack_id is None:
        return 0
    found = conn.execute(
        select(func.min(level_writes.c.id)).where(level_writes.c.stack_id == stack_id)
    ).scalar()
    return 0 if found is None else int(found)


def path_write_count(conn: Connection, account_id: int, stack_id: int | None) -> int:
    """How many counted writes the path of the level has: its current KV version."""
    clause = _path_clause(account_id, stack_id, _base(conn, stack_id))
    return int(conn.execute(select(func.count()).where(clause)).scalar_one())


def counted_writes(
    conn: Connection, account_id: int, stack_id: int | None
) -> Sequence[tuple[int, datetime]]:
    """The counted writes of the level's path in order, (id, at): version N is the N-th."""
    clause = _path_clause(account_id, stack_id, _base(conn, stack_id))
    query = select(level_writes.c.id, level_writes.c.at).where(clause).order_by(level_writes.c.id)
    return [(int(i), at) for i, at in conn.execute(query).all()]


def path_head(
    conn: Connection, account_id: int, stack_id: int | None
) -> tuple[int, datetime | None]:
    """The path's current version (how many counted writes) and when its last one was."""
    clause = _path_clause(account_id, stack_id, _base(conn, stack_id))
    count, last = conn.execute(
        select(func.count(), func.max(level_writes.c.id)).where(clause)
    ).one()
    if not count:
        return 0, None
    at = conn.execute(select(level_writes.c.at).where(level_writes.c.id == last)).scalar_one()
    return int(count), at


def last_write_id(conn: Connection) -> int:
    """The newest level write's id (0: none)."""
    found = conn.execute(select(func.max(level_writes.c.id))).scalar()
    return 0 if found is None else int(found)
