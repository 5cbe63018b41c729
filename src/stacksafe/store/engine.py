"""Database URL → SQLAlchemy engine, and the ``Store`` that hands out read and write transactions.

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing with "database is
locked" when a read transaction tries to upgrade. PostgreSQL goes through psycopg 3.

A database that cannot do what was asked (unreachable, restarting, out of connections, full,
read-only) surfaces from ``Store.read`` and ``Store.write`` as one error, ``StorageUnavailable``,
whatever the driver called it; nothing was written and the request may be tried again.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import QueuePool

from stacksafe.errors import ConfigurationError, Conflict, InvalidInput, StorageUnavailable
from stacksafe.store.quick import QuickReader

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "CommitGroup",
    "PoolLimits",
    "RetryWrite",
    "Store",
    "make_engine",
    "redact_url",
    "storage_unavailable",
]

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
WRITE_ATTEMPTS = 8

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE = "stacksafe_write"

log = logging.getLogger("stacksafe.store")


@dataclass(frozen=True)
class PoolLimits:
    """How many connections one process keeps and may open, and how long it waits for one.

    At most ``size + max_overflow`` connections at once; a transaction that finds none free
    waits up to ``timeout`` seconds, then fails with ``StorageUnavailable``. PostgreSQL only:
    opening a connection gives up after ``connect_timeout`` seconds (an outage fails fast
    instead of hanging a request).
    """

    size: int = 8
    max_overflow: int = 8
    timeout: float = 10.0
    connect_timeout: int = 5


def redact_url(url: str) -> str:
    """The URL with any password hidden, fit for an error message."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def make_engine(url: str, pool: PoolLimits | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` whose pool keeps to ``pool``; a URL stacksafe cannot use is a
    ``ConfigurationError`` naming what is wrong."""
    limits = pool or PoolLimits()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigurationError(
            "database URL is not valid: expected sqlite:///PATH or postgresql+psycopg://..."
        ) from None
    # Both databases get a QueuePool of the same shape: a pool keeps connections (and
    # SQLite's pragmas and WAL) open between requests, where a connection per transaction
    # cost more than the work on small reads.
    pooling: dict[str, Any] = {
        "poolclass": QueuePool,
        "pool_size": limits.size,
        "max_overflow": limits.max_overflow,
        "pool_timeout": limits.timeout,
    }
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
        engine = create_engine(
            parsed,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            hide_parameters=True,
            **pooling,
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
            # pool_pre_ping: a connection the server closed (a restart, an idle timeout) is
            # replaced when it is next taken from the pool, instead of failing a request.
            return create_engine(
                parsed,
                pool_pre_ping=True,
                hide_parameters=True,
                # A connect_timeout in the URL's query (a libpq parameter, as are
                # tcp_user_timeout and keepalives_idle) wins over the setting.
                connect_args=(
                    {}
                    if "connect_timeout" in parsed.query
                    else {"connect_timeout": limits.connect_timeout}
                ),
                **pooling,
                **kwargs,
            )
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


# What clients are told, by kind of failure. Never the driver's text: it names hosts and ports.
_UNAVAILABLE = "database unavailable: it cannot be reached or the connection was lost"
_FULL = "database or disk is full"
_READ_ONLY = "database is read-only"
_IO = "database disk I/O error: check the disk and that the database file is writable"
_BUSY = "database busy: no connection became free in time"
_LOCKED = "database busy: another process held its lock for longer than the busy timeout"
_EXHAUSTED = "database refused the connection: out of connections or resources"
_TRY_AGAIN = "try again later"
_NOT_WRITTEN = "nothing was written; try again later"
# A connection lost during COMMIT: the server may have committed before it went. Only reading
# the data back tells; a conditional write (If-Match) makes trying again safe either way.
_MAYBE_WRITTEN = (
    "the connection broke while the write was committing, so it may have been made: "
    "read it back before trying again"
)
_MAYBE_WRITTEN_IO = (
    "the disk failed while the write was committing, so it may have been made: "
    "read it back once the disk is sound again (after a restart) before trying again"
)

# SQLITE_IOERR_FSYNC, SQLITE_IOERR_DIR_FSYNC: the WAL frames were written, only their sync failed.
_SQLITE_FSYNC = frozenset({10 | 4 << 8, 10 | 5 << 8})
# SQLite primary result codes (sqlite_errorcode & 0xFF) that mean the storage, not the query.
_SQLITE_CODES = {5: _LOCKED, 6: _LOCKED, 8: _READ_ONLY, 10: _IO, 13: _FULL, 14: _UNAVAILABLE}
# PostgreSQL SQLSTATEs, and classes (first two characters), that mean the same.
_PG_STATES = {
    "53100": _FULL,  # disk_full
    "25006": _READ_ONLY,  # read_only_sql_transaction: a standby, or a read-only default
    "58030": _IO,  # io_error
    "57P01": _UNAVAILABLE,  # admin_shutdown (a fast or smart stop)
    "57P02": _UNAVAILABLE,  # crash_shutdown
    "57P03": _UNAVAILABLE,  # cannot_connect_now (starting up, shutting down, recovering)
}
_PG_CLASSES = {"08": _UNAVAILABLE, "53": _EXHAUSTED}


def storage_unavailable(exc: BaseException, after: str = _TRY_AGAIN) -> StorageUnavailable | None:
    """``exc`` as ``StorageUnavailable`` when it says the database cannot serve now (down,
    restarting, disconnected, out of connections, full, read-only, failing disk); None for
    anything else (a constraint, a bug in a query), which stays what it was. ``after`` ends
    the message: what became of the request."""
    if isinstance(exc, StorageUnavailable):
        return exc
    if isinstance(exc, sa_exc.TimeoutError):  # the pool's: every connection stayed busy
        return StorageUnavailable(f"{_BUSY}; {after}", "no pooled connection free in time")
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    problem: str | None = None
    if exc.connection_invalidated:
        problem = _UNAVAILABLE
    elif isinstance(getattr(orig, "sqlite_errorcode", None), int):
        problem = _SQLITE_CODES.get(orig.sqlite_errorcode & 0xFF)  # type: ignore[union-attr]
    elif isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.InternalError):
        state = getattr(orig, "sqlstate", None)
        if isinstance(exc, sa_exc.InternalError) and state is None:
            problem = None
        elif state is None:
            # psycopg gives no SQLSTATE when it cannot connect, so a server refusing for want
            # of connections ("sorry, too many clients already", "too many connections for
            # role ...") is known by its words. On an open connection, an error without SQLSTATE
            # that left it usable (connection_invalidated is checked above) is the driver
            # refusing the statement (e.g. over 65535 parameters): a bug, not an outage.
            if exc.statement is None:
                problem = _EXHAUSTED if "too many" in str(orig) else _UNAVAILABLE
        else:
            problem = _PG_STATES.get(state) or _PG_CLASSES.get(state[:2])
    if problem is None:
        return None
    # The driver's first line names the cause (refused, shut down, full) for the operator; it
    # holds no statement parameter (hide_parameters) and no password.
    said = str(orig).strip().splitlines()
    reason = f"{type(orig).__name__}: {said[0] if said else ''}"[:300]
    return StorageUnavailable(f"{problem}; {after}", reason)


def _nul_in_text(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL (psycopg) refusing a text parameter holding NUL: input
    that no stored name or value can match (SQLite takes it, and finds nothing), so a 400
    wherever it came from (a query parameter, a header, a form) rather than a 500 for each
    place that did not check."""
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    said = str(exc.orig)
    return "NUL (0x00)" in said or (
        getattr(exc.orig, "sqlstate", None) == "22021" and "0x00" in said
    )


class _Attempt:
    """Where a write transaction got to: past its last statement, into COMMIT."""

    __slots__ = ("committing",)

    def __init__(self) -> None:
        self.committing = False


@contextmanager
def _storage_errors(after: str, attempt: _Attempt | None = None) -> Iterator[None]:
    """Raise ``StorageUnavailable`` for what ``storage_unavailable`` recognises; the rest, and
    the races ``Store.transact`` runs again, pass through unchanged."""
    try:
        yield
    except (sa_exc.DBAPIError, sa_exc.TimeoutError) as exc:
        if _nul_in_text(exc):
            raise InvalidInput(
                "text with a NUL character (\\x00) cannot be stored or looked up; remove it"
            ) from None
        if attempt is not None and _retryable(exc):
            raise  # a write: Store.transact runs it again; a read has nobody to retry it
        unavailable = storage_unavailable(exc, after)
        if unavailable is None:
            raise
        if attempt is not None and attempt.committing:
            if unavailable.message.startswith(_UNAVAILABLE):
                unavailable = StorageUnavailable(
                    f"{_UNAVAILABLE}; {_MAYBE_WRITTEN}", unavailable.reason
                )
            elif getattr(getattr(exc, "orig", None), "sqlite_errorcode", None) in _SQLITE_FSYNC:
                # The WAL frames were written, only their fsync failed: a recovery (the next
                # start after a crash) may find them, so the write may exist after all.
                unavailable = StorageUnavailable(f"{_IO}; {_MAYBE_WRITTEN_IO}", unavailable.reason)
        log.warning("%s (%s)", unavailable.message, unavailable.reason)
        raise unavailable from None


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
        # One-statement reads for the event loop (api.fast_path); SQLite only (store.quick).
        self.quick = QuickReader(engine) if engine.dialect.name == "sqlite" else None

    @classmethod
    def from_url(cls, url: str, pool: PoolLimits | None = None) -> Store:
        return cls(make_engine(url, pool))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

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
        with _storage_errors(_TRY_AGAIN), self._read_engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A write transaction; with ``snapshot``, on PostgreSQL, at REPEATABLE READ: for work
        that reads stored values and their data keys in several statements (a data-key rotation
        committing in between would otherwise show values whose keys are gone). A conflicting
        write then fails with a serialization error, which ``transact`` retries. A database
        that cannot take the write raises ``StorageUnavailable``: nothing was written, unless
        the connection broke during COMMIT, which its message then says."""
        attempt = _Attempt()
        with _storage_errors(_NOT_WRITTEN, attempt), contextlib.ExitStack() as stack:
            if self._local_writer is not None:
                stack.enter_context(self._local_writer)
            engine = self._read_engine if snapshot else self.engine
            conn = stack.enter_context(engine.connect())
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn
                attempt.committing = True

    def transact(self, work: Callable[[Connection], T], what: str, *, snapshot: bool = False) -> T:
        """Run ``work`` in a write transaction, again from scratch when it lost a race.

        Races are unique-key collisions between concurrent creators, a lost compare-and-set
        (``RetryWrite``) and PostgreSQL serialization failures. ``what`` names the operation
        in the conflict error raised when every attempt lost, and in ``StorageUnavailable``
        when the database could not take it (not retried here: an outage lasts longer than
        a transaction, and the client decides whether to try again). ``snapshot``: see ``write``.
        """
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                with self.write(snapshot=snapshot) as conn:
                    return work(conn)
            except StorageUnavailable as exc:
                message = exc.message.replace(_NOT_WRITTEN, f"{what} was not done; {_TRY_AGAIN}")
                message = message.replace("the write was committing", f"{what} was committing")
                raise StorageUnavailable(message, exc.reason) from None
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
        if self.quick is not None:
            self.quick.close()
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
        # A thread waits behind the entry (``submit``) unless a future tells the outcome.
        self.wake = threading.Event() if future is None else None
        self.lead = False
        self.finished = False
        self.result: ResultT | None = None
        self.error: BaseException | None = None
        self.future = future  # ``submit_later``


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
        self._enqueue(entry)
        assert entry.future is not None  # noqa: S101 - made above
        return entry.future

    def _enqueue(self, entry: _Submitted[ItemT, ResultT]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self._what}: the store is closed")
            self._pending.append(entry)
            start = not self._writing
            if start:
                self._writing = entry.lead = True
        if start:
            self._writer().set()

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
            assert entry.wake is not None  # noqa: S101 - a submit's entry is waited for
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
            if entry.wake is not None:
                entry.wake.set()
            elif entry.future is not None:
                _settle(entry.future, entry.result, failure)
        if successor is not None:
            if successor.wake is not None:
                successor.wake.set()
            else:  # nobody waits behind it: the writer thread leads the next group
                self._writer().set()
        if failure is not None and not isinstance(failure, Exception):
            raise failure  # KeyboardInterrupt and the like: the leader's thread stops
