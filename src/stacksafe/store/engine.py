"""Database URL → SQLAlchemy engine, and the ``Store`` that hands out read and write transactions.

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing with "database is
locked" when a read transaction tries to upgrade. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import QueuePool

from stacksafe.errors import ConfigurationError, Conflict

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "CommitGroup",
    "RetryWrite",
    "Store",
    "make_engine",
    "redact_url",
]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
WRITE_ATTEMPTS = 8

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE = "stacksafe_write"


def redact_url(url: str) -> str:
    """The URL with any password hidden, fit for an error message."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def make_engine(url: str, **kwargs: Any) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "database URL is not valid: expected sqlite:///PATH or postgresql+psycopg://..."
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ConfigurationError(
                "an in-memory SQLite database cannot hold secrets; give a file path"
            )
        if parsed.drivername != "sqlite":
            raise ConfigurationError(
                f"SQLite driver {parsed.drivername!r} is not supported; use sqlite:///PATH"
            )
        parent = Path(parsed.database).parent
        if not parent.is_dir():
            raise ConfigurationError(f"directory {parent} of the SQLite database does not exist")
        # A pool keeps connections (and their pragmas, and the WAL) open between requests;
        # a connection per transaction cost more than the work on small reads.
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            poolclass=QueuePool,
            pool_size=8,
            max_overflow=16,
            hide_parameters=True,
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername != "postgresql+psycopg":
            raise ConfigurationError(
                f"PostgreSQL driver {parsed.drivername!r} is not supported; use postgresql+psycopg://"
            )
        try:
            return create_engine(parsed, pool_pre_ping=True, hide_parameters=True, **kwargs)
        except NoSuchModuleError as exc:  # pragma: no cover - psycopg is a dependency
            raise ConfigurationError(f"cannot load the PostgreSQL driver: {exc}") from None
    raise ConfigurationError(
        f"database backend {backend!r} is not supported; use sqlite:///PATH or postgresql+psycopg://..."
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Store:
    """A database: read and write transactions, nothing else. It never decides policy."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite has one writer at a time. Queueing this process's writers on a lock hands the
        # write lock over at once, where SQLite's busy handler would sleep and poll (up to
        # 100 ms a turn). Other processes still meet the busy timeout.
        self._local_writer = threading.Lock() if engine.dialect.name == "sqlite" else None
        self._read_engine = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if engine.dialect.name == "postgresql"
            else engine
        )

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction that sees one snapshot of the database throughout.

        SQLite gives one anyway (WAL). PostgreSQL's default, READ COMMITTED, would let the
        statements of one read see different commits: values read before a concurrent
        data-key rotation and the data keys read after it. REPEATABLE READ costs nothing more
        for a transaction that only reads, and never fails with a serialization error there.
        """
        with self._read_engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A write transaction; with ``snapshot``, on PostgreSQL, at REPEATABLE READ: for work
        that reads stored values and their data keys in several statements (a data-key rotation
        committing in between would otherwise show values whose keys are gone). A conflicting
        write then fails with a serialization error, which ``transact`` retries."""
        with contextlib.ExitStack() as stack:
            if self._local_writer is not None:
                stack.enter_context(self._local_writer)
            engine = self._read_engine if snapshot else self.engine
            conn = stack.enter_context(engine.connect())
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def transact(self, work: Callable[[Connection], T], what: str, *, snapshot: bool = False) -> T:
        """Run ``work`` in a write transaction, again from scratch when it lost a race.

        Races are unique-key collisions between concurrent creators, a lost compare-and-set
        (``RetryWrite``) and PostgreSQL serialization failures. ``what`` names the operation
        in the conflict error raised when every attempt lost. ``snapshot``: see ``write``.
        """
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                with self.write(snapshot=snapshot) as conn:
                    return work(conn)
            except Exception as exc:
                if not _retryable(exc):
                    raise
        raise Conflict(f"{what} kept colliding with concurrent writes; try again")

    def make_way(self, held_for: float) -> None:
        """After a batch of a long background job (a key rotation) that held the write lock
        for ``held_for`` seconds: on SQLite, stay off it as long, so the server's own writes
        (every reveal appends an audit event) get their turn; the job's next batch would
        otherwise take the lock again before a waiting writer's busy handler looks. PostgreSQL
        locks rows, not the database: nothing to wait for."""
        if self.dialect == "sqlite" and held_for > 0:
            time.sleep(min(held_for, MAX_MAKE_WAY_SECONDS))

    def close(self) -> None:
        self.engine.dispose()


MAX_MAKE_WAY_SECONDS = 1.0


class RetryWrite(Exception):
    """Raised inside ``Store.transact`` when a compare-and-set lost a race: run again."""


def _retryable(exc: BaseException) -> bool:
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
    return False


class _Submitted(Generic[ItemT, ResultT]):
    __slots__ = ("error", "finished", "future", "item", "lead", "result", "wake")

    def __init__(self, item: ItemT, future: Future[ResultT] | None = None) -> None:
        self.item = item
        self.wake = threading.Event()
        self.lead = False
        self.finished = False
        self.result: ResultT | None = None
        self.error: BaseException | None = None
        # Set for ``submit_later``: no thread waits behind this entry; the future tells.
        self.future = future


def _settle(future: Future[ResultT], result: ResultT | None, failure: BaseException | None) -> None:
    """Complete ``future``, unless its waiter cancelled it: the item is written either way,
    and one cancelled member must not keep the rest of its group from learning the outcome."""
    if not future.set_running_or_notify_cancel():
        return
    if failure is None:
        future.set_result(cast(ResultT, result))
    else:
        future.set_exception(failure)


class CommitGroup(Generic[ItemT, ResultT]):
    """Writes submitted by concurrent threads, committed together: one transaction per group.

    ``submit`` returns once its item is durably committed, or raises what the group's
    transaction raised (as ``concurrent.futures.Future.result`` does, the same exception in
    every thread of the group). The first thread to arrive while no group is being written
    leads: it writes everything pending, itself included, in one ``Store.transact`` (one
    commit, so one fsync, for the group), then hands the lead to the oldest thread that arrived
    meanwhile. Under load, N waiting writers cost one transaction instead of N queued ones;
    alone, a submit costs what a plain transaction does. ``write`` gets the items in arrival
    order and returns one result per item; it may run more than once (``Store.transact``
    retries lost races), so it must do all its work inside the transaction it is given.
    ``submit_later`` joins the same groups without a thread waiting behind the item.
    """

    def __init__(
        self,
        store: Store,
        write: Callable[[Connection, Sequence[ItemT]], Sequence[ResultT]],
        what: str,
        max_group: int = 256,
    ) -> None:
        self._store = store
        self._write = write
        self._what = what
        self._max_group = max_group
        self._lock = threading.Lock()
        self._pending: deque[_Submitted[ItemT, ResultT]] = deque()
        self._writing = False
        self._writer_wake: threading.Event | None = None
        self._closed = False

    def submit_later(self, item: ItemT) -> Future[ResultT]:
        """``submit`` without waiting: the future completes once ``item`` is durably
        committed (or fails as its group failed). For callers that can wait without a thread
        (an event loop): while they wait, the threads that would have waited serve others, and
        more items share each commit. The group commit's own thread writes when nobody else
        is writing."""
        entry: _Submitted[ItemT, ResultT] = _Submitted(item, Future())
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._what}: the store is closed")
            self._pending.append(entry)
            start = not self._writing
            if start:
                self._writing = entry.lead = True
        if start:
            self._writer().set()
        assert entry.future is not None  # noqa: S101 - made above
        return entry.future

    def _writer(self) -> threading.Event:
        """The event that wakes this group's writer thread (started on first use)."""
        with self._lock:
            if self._writer_wake is None:
                self._writer_wake = threading.Event()
                threading.Thread(
                    target=self._write_when_woken,
                    args=(self._writer_wake,),
                    name=f"commit-group {self._what}",
                    daemon=True,
                ).start()
            return self._writer_wake

    def _write_when_woken(self, wake: threading.Event) -> None:
        while True:
            wake.wait()
            wake.clear()
            if self._closed and not self.waiting:
                return
            # Whatever the group's write raised was delivered to every member; the thread
            # lives on for the next group.
            with contextlib.suppress(BaseException):
                self._write_group()

    def close(self) -> None:
        """Let the writer thread end once nothing is pending (the store is closing)."""
        with self._lock:
            self._closed = True
            wake = self._writer_wake
        if wake is not None:
            wake.set()

    @property
    def waiting(self) -> int:
        """Items submitted and not yet taken into a group (for metrics and tests)."""
        with self._lock:
            return len(self._pending)

    def submit(self, item: ItemT) -> ResultT:
        entry: _Submitted[ItemT, ResultT] = _Submitted(item)
        with self._lock:
            self._pending.append(entry)
            if not self._writing:
                # Nobody is writing, so nothing else is pending: this entry is first in line.
                self._writing = entry.lead = True
        if not entry.lead:
            entry.wake.wait()  # until written by a leader, or made the leader
        if not entry.finished:
            self._write_group()  # leading, first in line: the group includes this entry
        if entry.error is not None:
            raise entry.error
        return cast(ResultT, entry.result)

    def _write_group(self) -> None:
        with self._lock:
            count = min(len(self._pending), self._max_group)
            group = [self._pending.popleft() for _ in range(count)]
        failure: BaseException | None = None
        try:
            results = self._store.transact(
                lambda conn: self._write(conn, [entry.item for entry in group]), self._what
            )
            if len(results) != len(group):
                raise RuntimeError(f"{self._what}: {len(results)} results for {len(group)} items")
            for entry, result in zip(group, results, strict=True):
                entry.result = result
        except BaseException as exc:  # every waiter must learn the outcome
            failure = exc
        for entry in group:
            entry.error = failure
            entry.finished = True
        with self._lock:
            successor = self._pending[0] if self._pending else None
            if successor is None:
                self._writing = False
            else:
                successor.lead = True
        for entry in group:
            if entry.future is None:
                entry.wake.set()
            else:
                _settle(entry.future, entry.result, failure)
        if successor is not None:
            if successor.future is None:
                successor.wake.set()
            else:  # nobody waits behind it: the writer thread leads the next group
                self._writer().set()
        if failure is not None and not isinstance(failure, Exception):
            raise failure  # KeyboardInterrupt and the like: the leader's thread stops
