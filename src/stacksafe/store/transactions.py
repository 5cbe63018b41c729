"""Transactions: the ``Store``, which hands out read and write transactions.

A write that lost a race (a unique-key collision, a lost compare-and-set, a serialization
failure) runs again from scratch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from stacksafe.errors import Conflict, InvalidInput, NotFound, StorageUnavailable
from stacksafe.store.engine import WRITE_OPTION, PoolLimits, PoolUsage, make_engine, pool_usage
from stacksafe.store.nowait import NoWaitReader
from stacksafe.store.outages import (
    NOT_WRITTEN,
    TRY_AGAIN,
    nul_in_text,
    storage_unavailable,
    while_committing,
)

__all__ = [
    "MAX_YIELD_SECONDS",
    "WRITE_ATTEMPTS",
    "Attempt",
    "Level",
    "RetryWrite",
    "Store",
    "attempt_failure",
    "colliding",
    "retryable",
    "storage_errors",
]

if TYPE_CHECKING:
    from stacksafe.store.loop_reader import LoopReader
    from stacksafe.store.write_group import WriteGroup

T = TypeVar("T")
WRITE_ATTEMPTS = 8
Level = tuple[int, int | None]  # (account id, stack id or None): a level a write locks first
# PostgreSQL's group commits per store, each with its own thread and one transaction at a
# time: a level's writes always go to the same one (store.write_group), other levels' to
# whichever their level falls to, so that writes of several levels still run side by side.
PG_WRITE_GROUPS = 4

log = logging.getLogger("stacksafe.store")


class Attempt:
    """Where a write transaction got to: past its last statement, into COMMIT."""

    __slots__ = ("committing",)

    def __init__(self) -> None:
        self.committing = False


@contextmanager
def storage_errors(after: str, attempt: Attempt | None = None) -> Iterator[None]:
    """Raise ``StorageUnavailable`` for what ``storage_unavailable`` recognises; the rest, and
    the races ``Store.transact`` runs again, pass through unchanged."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        if nul_in_text(exc):
            raise InvalidInput(
                "text with a NUL character (\\x00) cannot be stored or looked up; remove it"
            ) from None
        if attempt is not None and retryable(exc):
            raise  # a write: Store.transact runs it again; a read has nobody to retry it
        unavailable = storage_unavailable(exc, after)
        if unavailable is None:
            raise
        if attempt is not None and attempt.committing:
            unavailable = while_committing(unavailable, exc)
        log.warning("%s (%s)", unavailable.message, unavailable.reason)
        raise unavailable from None


class Store:
    """A database: read and write transactions, nothing else. It never decides policy."""

    def __init__(self, engine: Engine, connect_timeout: int = PoolLimits.connect_timeout) -> None:
        self.engine = engine
        # SQLite has one writer at a time. Queueing this process's writers on a lock hands the
        # write lock over at once, where SQLite's busy handler would sleep and poll (up to
        # 100 ms a turn). Other processes still meet the busy timeout.
        self._local_writer = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._write_groups: list[WriteGroup] = []
        self._making_group = threading.Lock()
        self._read_engine = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )
        # One-statement reads for the event loop (api.fast_path): SQLite's at once
        # (store.nowait), PostgreSQL's awaited there (store.loop_reader).
        self.nowait = NoWaitReader(engine) if engine.dialect.name == "sqlite" else None
        self.loop_reader: LoopReader | None = None
        if engine.dialect.name == "postgresql":
            # Imported here: psycopg (and its libpq binding) is of no use to SQLite, and a
            # start of the CLI on SQLite would pay for it (bench/README.md, "Start-up").
            from stacksafe.store.loop_reader import LoopReader

            self.loop_reader = LoopReader(engine, connect_timeout)

    @classmethod
    def from_url(cls, url: str, pool: PoolLimits | None = None) -> Store:
        return cls(make_engine(url, pool), (pool or PoolLimits()).connect_timeout)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def pool_usage(self) -> PoolUsage:
        """The connection pool's use now (for metrics)."""
        return pool_usage(self.engine)

    @property
    def database_file(self) -> Path | None:
        """The SQLite database's file; None on PostgreSQL."""
        name = self.engine.url.database
        return Path(name) if self.dialect == "sqlite" and name else None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot of the database throughout.

        SQLite gives one anyway (WAL). PostgreSQL's default, READ COMMITTED, would let the
        statements of one read see different commits: values read before a concurrent
        data-key rotation and the data keys read after it. REPEATABLE READ costs nothing more
        for a transaction that only reads, and never fails with a serialization error there.

        A database that cannot serve (see ``storage_unavailable``) raises ``StorageUnavailable``.
        """
        with storage_errors(TRY_AGAIN), self._read_engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A write transaction; with ``snapshot``, on PostgreSQL, at REPEATABLE READ: for work
        that reads stored values and their data keys in several statements (a data-key rotation
        committing in between would otherwise show values whose keys are gone). A conflicting
        write then fails with a serialization error, which ``transact`` retries. A database
        that cannot take the write raises ``StorageUnavailable``: nothing was written, unless
        the connection broke during COMMIT, which its message then says."""
        attempt = Attempt()
        with storage_errors(NOT_WRITTEN, attempt), contextlib.ExitStack() as stack:
            if self._local_writer is not None:
                stack.enter_context(self._local_writer)
            engine = self._read_engine if snapshot else self.engine
            conn = stack.enter_context(engine.connect())
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn
                attempt.committing = True

    def transact(
        self,
        work: Callable[[Connection], T],
        what: str,
        *,
        snapshot: bool = False,
        grouped: bool = False,
        level: Level | None = None,
    ) -> T:
        """Run ``work`` in a write transaction, again from scratch when it lost a race.

        Races are unique-key collisions between concurrent creators, a lost compare-and-set
        (``RetryWrite``) and PostgreSQL serialization failures. ``what`` names the operation
        in the conflict error raised when every attempt lost, and in ``StorageUnavailable``
        when the database could not take it (not retried here: an outage lasts longer than
        a transaction, and the client decides whether to try again). ``snapshot``: see ``write``.

        ``grouped``: a short write of a request. Writes submitted while another group is
        being written share the next transaction and its one COMMIT, each in a savepoint of its
        own (store.write_group): its work, retries and errors are its own as here, and it
        returns once the group's COMMIT is durable. Never for a long job: a group's members
        wait for each other. On PostgreSQL only a write of one ``level`` (whose row locks it
        takes first) is grouped, with writes of that level alone.
        """
        group = self.write_group(level) if grouped else None
        if group is not None:
            return group.transact(work, what, level)
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                with self.write(snapshot=snapshot) as conn:
                    return work(conn)
            except Exception as exc:
                failure = attempt_failure(exc, what)
                if failure is exc:
                    raise
                if failure is not None:
                    raise failure from None
        raise colliding(what)

    def transact_later(
        self, work: Callable[[Connection], T], what: str, level: Level | None = None
    ) -> Future[T] | None:
        """``transact(work, what, grouped=True, level=level)`` without a thread waiting: a
        future completed by the group commit's thread once the write is durably committed, or
        with what ``transact`` would have raised. For a caller that waits without a thread (an
        event loop). None, having done nothing, on PostgreSQL without a ``level``: ``transact``
        it in a thread there."""
        group = self.write_group(level)
        return None if group is None else group.transact_later(work, what, level)

    def write_group(self, level: Level | None = None) -> WriteGroup | None:
        """The group commit of short writes (``transact``'s ``grouped``) that takes ``level``'s,
        made on first use: on SQLite the store's one; on PostgreSQL one of ``PG_WRITE_GROUPS``,
        always the same for a level, and None without a level."""
        sqlite = self._local_writer is not None
        if not sqlite and level is None:
            return None
        groups = self._write_groups
        if not groups:
            from stacksafe.store.write_group import WriteGroup  # it builds on this module

            with self._making_group:
                if not self._write_groups:
                    count = 1 if sqlite else PG_WRITE_GROUPS
                    self._write_groups = [WriteGroup(self) for _ in range(count)]
                groups = self._write_groups
        return groups[0] if len(groups) == 1 else groups[hash(level) % len(groups)]

    def yield_write_lock(self, held_for: float) -> None:
        """After a batch of a long background job (a key rotation) that held the write lock
        for ``held_for`` seconds: on SQLite, stay off it as long, so the server's own writes
        (every reveal appends an audit event) get their turn; the job's next batch would
        otherwise take the lock again before a waiting writer's busy handler looks. PostgreSQL
        locks rows, not the database: nothing to wait for."""
        if self.dialect == "sqlite" and held_for > 0:
            time.sleep(min(held_for, MAX_YIELD_SECONDS))

    def close(self) -> None:
        for group in self._write_groups:
            group.close()
        if self.nowait is not None:
            self.nowait.close()
        if self.loop_reader is not None:
            self.loop_reader.close()
        self.engine.dispose()


MAX_YIELD_SECONDS = 1.0


class RetryWrite(Exception):
    """Raised inside ``Store.transact`` when a compare-and-set lost a race: run again."""


def attempt_failure(exc: Exception, what: str) -> Exception | None:
    """What the caller of the write ``what`` is told of ``exc``, raised by one attempt of it:
    the same exception, one that says what was not done, or None for a lost race (run it
    again). For ``Store.transact`` and each member of a group commit (store.write_group)."""
    if isinstance(exc, StorageUnavailable):
        message = exc.message.replace(NOT_WRITTEN, f"{what} was not done; {TRY_AGAIN}")
        message = message.replace("the write was committing", f"{what} was committing")
        return StorageUnavailable(message, exc.reason)
    if _deleted_meanwhile(exc):
        # What the write refers to (a stack, an account, a user) was deleted after the caller
        # found it: as if it had not been found.
        return NotFound(f"{what} was not done: what it refers to was deleted meanwhile")
    return None if retryable(exc) else exc


def colliding(what: str) -> Conflict:
    """What the caller of the write ``what`` is told when every attempt lost a race."""
    return Conflict(f"{what} kept colliding with concurrent writes; try again")


def _deleted_meanwhile(exc: BaseException) -> bool:
    """A foreign key violated: every write refers to rows it has just read, so the row is one
    a concurrent delete (a stack's, an account's: core.deletion) removed since."""
    if not isinstance(exc, sa_exc.IntegrityError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23503" or "FOREIGN KEY constraint failed" in str(exc.orig)


def retryable(exc: BaseException) -> bool:
    """A race ``Store.transact`` runs the write again for (see there)."""
    if isinstance(exc, RetryWrite):
        return True
    if isinstance(exc, sa_exc.IntegrityError):
        # Two first writers of one key collide on a unique index; other violations are real.
        sqlstate = getattr(exc.orig, "sqlstate", None)
        return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)
    if isinstance(exc, sa_exc.OperationalError):
        # PostgreSQL serialization failure / deadlock detected; SQLite "database is locked".
        code = getattr(exc.orig, "sqlstate", None)
        return code in {"40001", "40P01"} or "database is locked" in str(exc.orig)
    # A batch's prepared statement deallocated under it (store.pipeline's STATEMENT_GONE):
    # prepared again.
    return isinstance(exc, sa_exc.DBAPIError) and getattr(exc.orig, "sqlstate", None) == "26000"
