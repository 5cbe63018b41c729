"""Statements run through the database driver directly, inside a SQLAlchemy transaction.

For the audit appender's group commit (core.audit): three statements per commit, on the thread
that every reveal's response waits for. Through ``Connection.execute`` each costs tens of
microseconds of Python before the driver sees it (the compiled cache, an execution context, bind
processing per row, result wrapping), while holding the GIL the event loop needs; through the
driver, a small fraction of that (bench/README.md, api_bench.py).

The write of one secret (core.secrets.set_secret) runs its statements this way too, for the same
reason: a dozen of them per write were most of its CPU (bench/README.md, server_cpu.py); and so
do the savepoints of a group commit's writes (store.write_group).

Statements sent in a ``batch`` go to the database together, when a result is first wanted
(``Pending``): one round trip on PostgreSQL (psycopg's pipeline mode) however many statements
were sent; SQLite, in-process, runs each as it is sent. A check of a result nothing else waits
for is deferred to the batch's end (``after``): a write's compare-and-set.

A ``DriverStatement`` is compiled once per dialect by SQLAlchemy itself (so the SQL, the
parameter style and order, and each parameter's conversion are SQLAlchemy's own, e.g. UTC
timestamps as SQLite stores them), and runs on the transaction's own DBAPI connection: the same
transaction, the same locks. A driver error is raised as SQLAlchemy raises it
(``DBAPIError.instance``: ``OperationalError``, ``IntegrityError``, ...), with the connection
invalidated when the dialect says it is gone, so ``Store``'s classification of outages
(``StorageUnavailable``) and its retries apply unchanged.
"""

from __future__ import annotations

import hashlib
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Dialect, Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.expression import Executable, ReturnsRows

if TYPE_CHECKING:
    from stacksafe.store.pipeline import Queued

__all__ = [
    "Compiled",
    "DriverStatement",
    "Pending",
    "RowShape",
    "after",
    "batch",
    "run_plain",
    "serve_batches",
]

# The batch open on a connection (its ``info``), while one is.
_BATCH = "stacksafe.driver_batch"
# Whether this process's libpq can send a batch (store.pipeline.supported), set when a
# PostgreSQL engine is made (``serve_batches``); without it, statements go one at a time.
_PIPELINES = False


_NUMBERED: dict[str, Dialect] = {}


def _numbered(dialect: Dialect) -> Dialect:
    """``dialect`` (PostgreSQL's) compiling libpq's own parameters ($1, $2, ...)."""
    found = _NUMBERED.get(dialect.name)
    if found is None:
        made: Any = type(dialect)
        found = _NUMBERED[dialect.name] = made(paramstyle="numeric_dollar")
    return found


class DriverStatement:
    """One statement, compiled once per dialect, run through the driver."""

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = None if column_keys is None else list(column_keys)
        self._compiled: dict[str, Compiled] = {}
        self._shapes: dict[str, RowShape] = {}
        self._libpq: Compiled | None = None  # PostgreSQL's, for a batch (store.pipeline)
        self._name = b""  # what a batch prepares it as, once compiled for it

    def _queued(self, dialect: Dialect, given: Mapping[str, Any]) -> Queued:
        """This statement for a batch on PostgreSQL: with libpq's own parameters ($1, $2...)."""
        from stacksafe.store.pipeline import Queued  # psycopg's: PostgreSQL only

        compiled = self._libpq
        if compiled is None:
            compiled = Compiled(self._statement, _numbered(dialect), self._column_keys)
            # Named by its SQL, not by the order a process made it in: behind PgBouncer in
            # transaction mode a session may hold another client's statements, and one name
            # must never be two statements there (docs/operations.md). Named before it is
            # kept: another thread may take it as soon as it is.
            digest = hashlib.sha256(compiled.sql.encode()).hexdigest()[:32]
            self._name = b"stacksafe_batch_" + digest.encode()
            self._libpq = compiled
        parameters = compiled.parameters(given)
        assert isinstance(parameters, tuple)  # noqa: S101 - numeric_dollar is positional
        return Queued(self._name, compiled.sql, parameters)

    def _for(self, dialect: Dialect) -> Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = Compiled(
                self._statement, dialect, self._column_keys
            )
        return found

    def first(self, conn: Connection, given: Mapping[str, Any]) -> Any | None:
        """The first row of a SELECT run with ``given``, read as through SQLAlchemy (named,
        converted by its columns' types: ``RowShape``), or None when there is none."""
        return self.send(conn, given).first()

    def send(self, conn: Connection, given: Mapping[str, Any]) -> Pending:
        """Run with ``given``, its result read later (``Pending``): in a ``batch``, once the
        batch is back, so that what is sent after it goes in the same round trip."""
        return Pending(self, conn, self.execute(conn, given))

    def shape(self, dialect: Dialect) -> RowShape:
        """How this SELECT's (or RETURNING's) rows read (``RowShape``), made once per dialect."""
        shape = self._shapes.get(dialect.name)
        if shape is None:
            assert isinstance(self._statement, ReturnsRows)  # noqa: S101 - a SELECT or RETURNING
            shape = self._shapes[dialect.name] = RowShape(self._statement, dialect)
        return shape

    def execute(self, conn: Connection, given: Mapping[str, Any]) -> Any:
        """Run with ``given`` (by parameter name); the DBAPI cursor, for fetching (in a batch
        on PostgreSQL, what stands for it until the batch is sent)."""
        if conn.dialect.name == "postgresql":  # SQLite runs each statement as it comes
            opened: _Batch | None = conn.info.get(_BATCH)
            if opened is not None:
                return opened.queue(self._queued(conn.dialect, given))
        compiled = self._for(conn.dialect)
        return _run(
            conn,
            compiled.sql,
            lambda cursor: cursor.execute(compiled.sql, compiled.parameters(given)),
        )

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if conn.dialect.name == "postgresql":
            opened: _Batch | None = conn.info.get(_BATCH)
            if opened is not None:
                for row in rows:
                    opened.queue(self._queued(conn.dialect, row))
                return
        compiled = self._for(conn.dialect)
        _run(
            conn,
            compiled.sql,
            lambda cursor: cursor.executemany(compiled.sql, [compiled.parameters(r) for r in rows]),
        )


class Compiled:
    """A statement compiled for one dialect's driver: its SQL, and its parameters in the
    driver's style and order, converted by their SQLAlchemy types (also store.nowait's)."""

    __slots__ = ("_names", "_plain", "_positional", "_processed", "sql")

    def __init__(
        self, statement: Executable, dialect: Dialect, column_keys: list[str] | None = None
    ) -> None:
        compile_ = statement.compile  # type: ignore[attr-defined]
        compiled = compile_(dialect=dialect, column_keys=column_keys)
        self.sql = str(compiled)
        self._positional = compiled.positiontup is not None
        # Each parameter with its bound value, used when none is given: None (NULL) for one
        # that has none (SQLAlchemy's "required" marker: an INSERT's column left out).
        self._names: list[tuple[str, Any]] = [
            (name, None if compiled.binds[name].required else compiled.params.get(name))
            for name in (compiled.positiontup if self._positional else compiled.params)
        ]
        processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                processors[name] = process
        # Every statement of a write runs this: without a converter, a parameter's value is
        # only looked up (the common case, in one comprehension); with one, it is converted.
        self._plain = not processors
        self._processed = [(name, default, processors.get(name)) for name, default in self._names]

    def parameters(self, given: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        get = given.get
        if self._plain:
            values = [get(name, default) for name, default in self._names]
        else:
            values = [
                value if process is None or value is None else process(value)
                for name, default, process in self._processed
                for value in (get(name, default),)
            ]
        if self._positional:
            return tuple(values)
        return {name: value for (name, _), value in zip(self._names, values, strict=True)}


class RowShape:
    """A SELECT's (or a RETURNING's) raw driver rows as SQLAlchemy reads them: a named tuple of
    values converted by their columns' own types (``dialect_impl(...).result_processor``)."""

    __slots__ = ("_converters", "_make", "_plain")

    def __init__(self, statement: ReturnsRows, dialect: Dialect) -> None:
        columns = list(statement.exported_columns)
        self._converters: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        # Most rows a write reads need no converter: made straight from the driver's tuple.
        self._plain = all(convert is None for convert in self._converters)
        # rename: a name given twice (two tables' columns of one name) is read by position.
        names: list[str] = [str(column.key) for column in columns]
        row = namedtuple("DriverRow", names, rename=True)  # type: ignore[misc]
        self._make: Callable[[Sequence[Any]], Any] = row._make

    def __call__(self, raw: Sequence[Any]) -> Any:
        if len(raw) != len(self._converters):
            raise ValueError("a row of another shape than the statement's")
        if self._plain:
            return self._make(raw)
        return self._make(
            [
                value if convert is None or value is None else convert(value)
                for convert, value in zip(self._converters, raw, strict=True)
            ]
        )


def run_plain(conn: Connection, sql: str) -> Callable[[], bool]:
    """A statement without parameters or rows (a savepoint's: store.write_group), through the
    driver: SQLAlchemy's ``begin_nested`` compiled its SAVEPOINT and RELEASE anew each time,
    measured at a sixth of a grouped write's CPU. In a batch on PostgreSQL it is queued, sent
    with what follows it (a group member's savepoint in its first round trip). Returns whether
    the statement has been sent by now: a batch undone before it was sent never sends it."""
    if conn.dialect.name == "postgresql":
        opened: _Batch | None = conn.info.get(_BATCH)
        if opened is not None:
            from stacksafe.store.pipeline import Queued  # psycopg's: PostgreSQL only

            queued = opened.queue(Queued(b"", sql, ()))
            return lambda: queued.sent
    _run(conn, sql, lambda cursor: cursor.execute(sql)).close()
    return _sent_at_once


def _sent_at_once() -> bool:
    return True


class Pending:
    """A statement's result, read when it is wanted: in a batch on PostgreSQL, what was sent
    so far is sent then, and its answers waited for (one round trip). A statement that ran
    at once (SQLite; PostgreSQL outside a batch) is read at once, and finished: a Pending may
    outlive its use (a closure, a traceback that holds it), and an unfinished SQLite statement
    would keep its read snapshot open on the pooled connection, so that the next write there
    fails at once with "database is locked"."""

    __slots__ = ("_conn", "_queued", "_raw", "_rowcount", "_statement")

    def __init__(self, statement: DriverStatement, conn: Connection, cursor: Any) -> None:
        self._statement = statement
        self._conn = conn
        self._queued = cursor if getattr(cursor, "queued", False) else None
        self._raw: Any = None
        self._rowcount = -1
        if self._queued is None:
            try:
                self._raw = cursor.fetchone() if cursor.description is not None else None
            except conn.dialect.loaded_dbapi.Error as exc:
                raise _raised(conn, statement._for(conn.dialect).sql, exc, cursor) from exc
            self._rowcount = int(cursor.rowcount)
            cursor.close()

    def first(self) -> Any | None:
        """The first row, read as through SQLAlchemy (``RowShape``), or None when there is none."""
        raw = self._raw
        queued = self._queued
        if queued is not None:
            _back(self._conn)
            raw = queued.fetchone()
        if raw is None:
            return None
        statement, dialect = self._statement, self._conn.dialect
        shape = statement._shapes.get(dialect.name) or statement.shape(dialect)
        return shape(raw)

    def rowcount(self) -> int:
        """How many rows the statement changed."""
        queued = self._queued
        if queued is None:
            return self._rowcount
        _back(self._conn)
        return int(queued.rowcount)


class _Batch:
    """What a batch on PostgreSQL has queued and not sent yet."""

    __slots__ = ("checks", "queued")

    def __init__(self) -> None:
        self.checks: list[Callable[[], None]] = []
        self.queued: list[Queued] = []

    def queue(self, statement: Queued) -> Queued:
        self.queued.append(statement)
        return statement

    def back(self, conn: Connection, failed: BaseException | None = None) -> None:
        """Everything queued is sent, run and its answers read (one round trip); the first
        statement that failed raised. Unless ``failed`` is on its way: then nothing is sent
        (the transaction is being undone)."""
        queued, self.queued = self.queued, []
        if not queued or failed is not None:
            return
        from stacksafe.store.pipeline import send_queued

        raw: Any = conn.connection.driver_connection
        try:
            send_queued(raw, queued)
        except conn.dialect.loaded_dbapi.Error as exc:
            sql = ";\n".join(statement.sql for statement in queued)
            raise _raised(conn, sql, exc, None) from exc


def batch(conn: Connection) -> AbstractContextManager[None]:
    """Send what is run through the driver inside together, until a result is read. On
    PostgreSQL the statements are queued and sent when a result is wanted (a ``Pending``
    read, a statement through SQLAlchemy, which reads its result at once) or the block ends:
    one round trip for all of them, the server running them in order (store.pipeline). The
    first that failed is raised then, as SQLAlchemy raises it (what was sent after it was not
    run; the transaction's work is undone). SQLite runs each as it is sent, and so does
    PostgreSQL on a libpq too old for the pipeline (``serve_batches``).

    At the end of the block everything sent is back, and the checks deferred with ``after``
    have run. A batch opened inside one is part of it, but ends the same way: its own
    failures are raised at its end."""
    if conn.dialect.name != "postgresql" or not _PIPELINES:
        return _AS_SENT
    return _queued_batch(conn)


class _AsSent:
    """SQLite's batch: nothing to hold back (a class, not a generator: it is on every write)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


_AS_SENT = _AsSent()


@contextmanager
def _queued_batch(conn: Connection) -> Iterator[None]:
    info = conn.info  # kept: a connection found gone is invalidated, its info then unreadable
    opened: _Batch | None = info.get(_BATCH)
    outer = opened is None
    if opened is None:
        opened = info[_BATCH] = _Batch()
    try:
        try:
            yield
        except BaseException as exc:
            opened.back(conn, exc)
            raise
        opened.back(conn)
        checks, opened.checks = opened.checks, []
        for check in checks:
            check()
    finally:
        if outer:
            del info[_BATCH]


def after(conn: Connection, check: Callable[[], None]) -> None:
    """Run ``check`` (which reads a result, e.g. a ``Pending.rowcount``) at the end of the
    batch open on ``conn``, when everything sent is back; now when none is open (SQLite's
    statements are run as they are sent)."""
    opened: _Batch | None = None
    if conn.dialect.name == "postgresql":
        opened = conn.info.get(_BATCH)
    if opened is None:
        check()
    else:
        opened.checks.append(check)


def serve_batches(engine: Engine) -> None:
    """Keep batches on ``engine`` (PostgreSQL's) in step with SQLAlchemy: what a batch queued
    is sent before a statement runs through SQLAlchemy, in order; and after a rollback (or a
    pooled connection's reset) the statements a batch prepared are prepared again, as psycopg
    may have deallocated them (store.pipeline)."""
    from stacksafe.store.pipeline import forget_prepared, supported

    global _PIPELINES  # one libpq per process, known once an engine is made
    _PIPELINES = supported()
    if not _PIPELINES:
        return  # batches run as SQLite's do: each statement as it comes, through its cursor

    @event.listens_for(engine, "before_cursor_execute")
    def _sent_first(conn: Connection, *_: Any) -> None:
        _back(conn)  # the engine is PostgreSQL's

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Connection) -> None:
        if not conn.invalidated:  # an invalidated one is replaced by a new session
            forget_prepared(conn.connection.driver_connection)  # type: ignore[arg-type]

    @event.listens_for(engine, "rollback_savepoint")
    def _rolled_back_to(conn: Connection, *_: Any) -> None:
        if not conn.invalidated:
            raw: Any = conn.connection.driver_connection
            forget_prepared(raw, rolling_back=False)

    @event.listens_for(engine.pool, "reset")
    def _reset(dbapi_connection: Any, *_: Any) -> None:
        forget_prepared(dbapi_connection)  # the pool rolls back what was left open


def _back(conn: Connection) -> None:
    """What a batch on PostgreSQL queued on ``conn``, sent and read back now."""
    opened: _Batch | None = conn.info.get(_BATCH)
    if opened is not None and opened.queued:
        opened.back(conn)


def _run(conn: Connection, sql: str, work: Callable[[Any], Any]) -> Any:
    raw = conn.connection.driver_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        work(cursor)
    except conn.dialect.loaded_dbapi.Error as exc:
        raise _raised(conn, sql, exc, cursor) from exc
    return cursor


def _raised(conn: Connection, sql: str, exc: Any, cursor: Any | None) -> sa_exc.StatementError:
    """The driver's error ``exc`` as SQLAlchemy raises it, naming ``sql`` without parameters;
    the connection invalidated when the dialect says it is gone."""
    dialect = conn.dialect
    if cursor is not None:
        cursor.close()
    gone = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
    if gone:
        conn.invalidate(exc)
    raised: sa_exc.StatementError = sa_exc.DBAPIError.instance(
        sql,
        None,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=gone,
        dialect=dialect,
    )
    return raised
