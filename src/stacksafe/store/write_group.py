"""Group commit of requests' writes: one transaction and one COMMIT for the writes submitted
while the previous group was committing, each write in a savepoint of its own.

SQLite takes one writer at a time and makes each COMMIT durable with an fsync
(``synchronous=FULL``); concurrent requests that each write a secret would otherwise queue for
the write lock and pay one fsync apiece. Here they queue as members of a ``CommitGroup``: the
leading thread runs every member's work in submission order, in the submitter's
``contextvars`` context (request ids, the metrics' face), then commits once. A member's work
keeps the meaning it has in a transaction of its own (``Store.transact``): what it raises
rolls back to its savepoint and is told to its caller alone, mapped as ``Store.transact``
maps it (``attempt_failure``), and a lost race runs it again in a new savepoint; its audit
event is in its own savepoint with its change. Nothing of a member is acknowledged before the
group's COMMIT; a COMMIT that fails fails every member, each told in its own words, and so
does an error SQLite answered by undoing the whole transaction, savepoints and all.

What a write keeps once per transaction (store.level_writes: its level writes, so that each
write is a KV version of its own) is kept once per member instead (``write_of``).

On PostgreSQL, which locks rows, not the database, a group saves each write's pool checkout and
pre-ping, its BEGIN and its COMMIT (and fsync), and the event loop's hop to a thread
(bench/README.md, "PostgreSQL's group commit"). A group there is one level's writes: those of
the oldest waiting write's ``Level``, taken in their order, the other levels' keeping their
places. Every write of a level takes the level's row locks first and the audit chain's head
last (store.level_writes, core.audit), so a group takes the locks one write takes, in the same
order; its later members take again what it holds, and beyond that only their keys' rows. (A
rotation takes the level before its key's row too, core.rotation.engine. Should a write that
takes them otherwise deadlock with a group, PostgreSQL detects it, ``40P01``; a member that
lost runs again with its whole group from a new transaction, as in its savepoint it would
wait for the same lock, held by the members before it, and lose again.)
A group of several levels could deadlock with another server's group or write in every
round: holding stack A and the audit head while it waits for stack B, held by a write that
waits for the audit head (tried: tests/store/test_write_group_levels.py's two servers then
did not finish their writes within a minute). A
member's savepoint goes in its first round trip (store.driver.batch): ``RELEASE`` of the one
before, then its ``SAVEPOINT``; an attempt that sent nothing (refused before its first
statement went) is not rolled back to it, which would undo the member before.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from sqlalchemy import Connection

from stacksafe.store.commit_group import CommitGroup, Failed, Submitted
from stacksafe.store.driver import batch, run_plain
from stacksafe.store.outages import NOT_WRITTEN
from stacksafe.store.transactions import (
    WRITE_ATTEMPTS,
    Attempt,
    Level,
    Store,
    attempt_failure,
    colliding,
    retryable,
    storage_errors,
)

__all__ = ["Level", "UndoneTransaction", "WriteGroup", "write_of"]

T = TypeVar("T")

# Where a member's savepoint is marked on the group's connection while its work runs.
_MEMBER = "stacksafe.write_member"
# Members per transaction at most: each is a request's short write (about a millisecond).
_MAX_MEMBERS = 64
# On PostgreSQL each member that writes is a subtransaction with an id of its own; a session
# keeps 64 of them in shared memory, past which every snapshot taken meanwhile, in any
# session, looks them up on disk (pg_subtrans): a group stays below.
_MAX_PG_MEMBERS = 32


def write_of(conn: Connection) -> object:
    """The write the statements on ``conn`` now belong to, for what is kept once per write
    (store.level_writes): its transaction, or the attempt of the group member that runs."""
    return conn.info.get(_MEMBER) or conn.get_transaction()


class _Member:
    __slots__ = ("context", "level", "what", "work")

    def __init__(self, work: Callable[[Connection], Any], what: str, level: Level | None) -> None:
        self.work = work
        self.what = what
        self.level = level
        self.context = contextvars.copy_context()


def _no_write(conn: Connection, items: Sequence[_Member]) -> Sequence[Any]:
    raise AssertionError("WriteGroup runs its members itself")  # pragma: no cover


class WriteGroup(CommitGroup[_Member, Any]):
    """The short writes of a store's requests, committed in groups (``Store.transact``'s
    ``grouped``)."""

    def __init__(self, store: Store) -> None:
        self._by_level = store.dialect == "postgresql"
        most = _MAX_PG_MEMBERS if self._by_level else _MAX_MEMBERS
        super().__init__(store, _no_write, "writing", max_group=most)

    def transact(self, work: Callable[[Connection], T], what: str, level: Level | None = None) -> T:
        """``work``'s result once its group's COMMIT is durable; what it raised, as
        ``Store.transact`` would raise it, else what the group's transaction raised.
        ``level``: the one level ``work`` writes (on PostgreSQL a group's members share it)."""
        return cast(T, self.submit(_Member(work, what, level)))

    def transact_later(
        self, work: Callable[[Connection], T], what: str, level: Level | None = None
    ) -> Future[T]:
        """``transact`` without waiting: the group commit's own thread runs ``work`` when no
        other thread is writing a group (``CommitGroup.submit_later``)."""
        return cast(Future[T], self.submit_later(_Member(work, what, level)))

    def _take(
        self, pending: deque[Submitted[_Member, Any]], most: int
    ) -> list[Submitted[_Member, Any]]:
        if not self._by_level:
            return super()._take(pending, most)
        # PostgreSQL: the oldest member's level only; the others keep their places.
        level = pending[0].item.level
        group: list[Submitted[_Member, Any]] = []
        rest: list[Submitted[_Member, Any]] = []
        for entry in pending:
            (group if len(group) < most and entry.item.level == level else rest).append(entry)
        pending.clear()
        pending.extend(rest)
        return group

    def _written(self, items: Sequence[_Member]) -> Sequence[Any]:
        store = self._store
        if len(items) == 1:
            # Alone (no write arrived while the last group committed): the transaction is the
            # member's own, so no savepoint; it fails, and is retried, as Store.transact does.
            member = items[0]
            try:
                return [store.transact(_in_context(member), member.what)]
            except Exception as exc:
                return [Failed(exc)]
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                with store.write() as conn:
                    if self._by_level:
                        return _run_all_pg(conn, items)
                    return [_run(conn, member) for member in items]
            except Exception as exc:
                # The group's own transaction (BEGIN IMMEDIATE, COMMIT) lost a race with
                # another process: run every member again; anything else fails them all.
                if not retryable(exc):
                    raise
        return [Failed(colliding(member.what)) for member in items]

    def _failed(self, item: _Member, failure: BaseException) -> BaseException:
        if isinstance(failure, Exception):
            return attempt_failure(failure, item.what) or colliding(item.what)
        return failure


class UndoneTransaction(RuntimeError):
    """A member's work returned though SQLite had undone the group's transaction under it (it
    caught the error): a defect of that work, which fails the whole group."""


def _in_context(member: _Member) -> Callable[[Connection], Any]:
    return lambda conn: member.context.run(member.work, conn)


def _run(conn: Connection, member: _Member) -> Any:
    """One member's work in savepoints of its own: its result, or its ``Failed``. What SQLite
    answered by undoing the whole transaction (an interrupted statement, a failing disk, a
    trigger's ``RAISE(ROLLBACK)``) took every savepoint with it: raised as it is, it fails
    every member, each told of that cause (``WriteGroup._failed``)."""
    for _attempt in range(WRITE_ATTEMPTS):
        run_plain(conn, _SAVEPOINT)
        result, failed = _attempted(conn, member, contextlib.nullcontext)
        if failed is None:
            if not _in_transaction(conn):
                # Its work swallowed what undid the transaction: what it wrote after ran
                # outside any transaction, and nothing of the group may be acknowledged.
                raise UndoneTransaction(
                    f"{member.what}: the group's transaction was undone under it without an error"
                )
            run_plain(conn, _RELEASE)
            return result
        if not _in_transaction(conn):
            raise failed
        run_plain(conn, _ROLLBACK)
        run_plain(conn, _RELEASE)  # after a rollback to it, SQLite keeps it until released
        failure = attempt_failure(failed, member.what)
        if failure is not None:
            return Failed(failure)
    return Failed(colliding(member.what))


def _attempted(
    conn: Connection, member: _Member, opening: Callable[[], AbstractContextManager[Any]]
) -> tuple[Any, Exception | None]:
    """One attempt of ``member``'s work, inside what ``opening`` opens (its savepoint, on
    PostgreSQL): (its result, None), or (None, what it raised, as ``Store.transact`` sees
    it)."""
    conn.info[_MEMBER] = object()  # this attempt: what it keeps per write starts afresh
    try:
        with storage_errors(NOT_WRITTEN, Attempt()), opening():
            return member.context.run(member.work, conn), None
    except Exception as exc:
        return None, exc
    finally:
        # Never left on the pooled connection, whatever was raised: a later transaction on it
        # would take this attempt's level writes for its own. An invalidated connection
        # refuses even this (and its info goes with it).
        with contextlib.suppress(Exception):
            del conn.info[_MEMBER]


def _run_all_pg(conn: Connection, members: Sequence[_Member]) -> list[Any]:
    """PostgreSQL's ``_run`` of a group's members, in order: each member's ``SAVEPOINT`` (after
    the ``RELEASE`` of the one before) sent in the member's first round trip."""
    results: list[Any] = []
    release = False  # whether a savepoint is open, to release before the next
    for member in members:
        result, release = _run_pg(conn, member, release)
        results.append(result)
    return results


def _run_pg(conn: Connection, member: _Member, release: bool) -> tuple[Any, bool]:
    """One member's work on PostgreSQL in savepoints of its own: its result or its
    ``Failed``, and whether a savepoint is left open. An error aborts PostgreSQL's transaction
    until a rollback to the savepoint; a member's attempt that sent nothing (its savepoint still
    queued, store.driver.batch) left nothing to undo. A connection gone, or a transaction left
    aborted by work that returned, fails every member."""
    for _attempt in range(WRITE_ATTEMPTS):
        savepoint = _SavepointFirst(conn, release)
        result, failed = _attempted(conn, member, savepoint.opening)
        state = _pg_state(conn)
        if failed is None:
            if state != "INTRANS":
                raise UndoneTransaction(
                    f"{member.what}: the group's transaction was left aborted without an error"
                )
            return result, True
        if savepoint.sent():
            if state not in {"INTRANS", "INERROR"} or _lost_by_the_transaction(failed):
                raise failed
            run_plain(conn, _ROLLBACK)
            _prepared_forgotten(conn)
            release = True  # the savepoint stays after a rollback to it
        elif state != "INTRANS":
            raise failed
        failure = attempt_failure(failed, member.what)
        if failure is not None:
            return Failed(failure), release
    return Failed(colliding(member.what)), release


def _prepared_forgotten(conn: Connection) -> None:
    """After a rollback to a member's savepoint: psycopg reads its "ROLLBACK" as a
    transaction's and may deallocate every prepared statement of the session before its next
    statement, the batches' too; the next batch prepares its own again rather than find them
    gone and run its member twice (as store.driver does after SQLAlchemy's savepoints)."""
    from stacksafe.store.pipeline import forget_prepared  # psycopg's: PostgreSQL only

    forget_prepared(conn.connection.driver_connection, rolling_back=False)  # type: ignore[arg-type]


def _lost_by_the_transaction(failed: Exception) -> bool:
    """A race a savepoint cannot win again: a deadlock, whose locks the members before this one
    hold until the group's COMMIT (the member would wait for the same lock and lose again), or
    a serialization failure, whose snapshot is the transaction's. Raised, it rolls the group's
    transaction back and runs the group again (``WriteGroup._written``)."""
    orig = getattr(failed, "orig", None)
    return getattr(orig, "sqlstate", None) in {"40001", "40P01"}


class _SavepointFirst:
    """What a member's attempt on PostgreSQL runs in: a batch (store.driver) whose first
    statements are the ``RELEASE`` of the savepoint before, if one is open, and the attempt's
    own ``SAVEPOINT``, sent with the work's first statements; ``sent`` says whether they went."""

    __slots__ = ("_conn", "_release", "sent")

    def __init__(self, conn: Connection, release: bool) -> None:
        self._conn = conn
        self._release = release
        self.sent: Callable[[], bool] = _unsent

    @contextlib.contextmanager
    def opening(self) -> Iterator[None]:
        conn = self._conn
        with batch(conn):
            if self._release:
                run_plain(conn, _RELEASE)
            self.sent = run_plain(conn, _SAVEPOINT)
            yield


def _unsent() -> bool:
    return False


def _pg_state(conn: Connection) -> str:
    """psycopg's transaction status of the group's connection (``INTRANS``, ``INERROR``...),
    known without a round trip; ``UNKNOWN`` when the connection cannot say (invalidated)."""
    try:
        return str(conn.connection.driver_connection.info.transaction_status.name)  # type: ignore[union-attr]
    except Exception:
        return "UNKNOWN"


def _in_transaction(conn: Connection) -> bool:
    """Whether the group's transaction is still open on SQLite's side; not, when the
    connection cannot say (invalidated by the error): the error then fails the group."""
    try:
        return bool(conn.connection.driver_connection.in_transaction)  # type: ignore[union-attr]
    except Exception:
        return False


_SAVEPOINT = "SAVEPOINT stacksafe_member"
_ROLLBACK = "ROLLBACK TO SAVEPOINT stacksafe_member"
_RELEASE = "RELEASE SAVEPOINT stacksafe_member"
