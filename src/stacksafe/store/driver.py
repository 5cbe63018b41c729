"""Statements run through the database driver directly, inside a SQLAlchemy transaction.

For the audit appender's group commit (core.audit): three statements per commit, on the thread
that every reveal's response waits for. Through ``Connection.execute`` each costs tens of
microseconds of Python before the driver sees it (the compiled cache, an execution context, bind
processing per row, result wrapping), while holding the GIL the event loop needs; through the
driver, a small fraction of that (bench/README.md, api_bench.py).

The write of one secret (core.secrets.set_secret) runs its statements this way too, for the same
reason: a dozen of them per write were most of its CPU (bench/README.md, server_cpu.py); and so
do the savepoints of a group commit's writes (store.write_group).

A ``DriverStatement`` is compiled once per dialect by SQLAlchemy itself (so the SQL, the
parameter style and order, and each parameter's conversion are SQLAlchemy's own, e.g. UTC
timestamps as SQLite stores them), and runs on the transaction's own DBAPI connection: the same
transaction, the same locks. A driver error is raised as SQLAlchemy raises it
(``DBAPIError.instance``: ``OperationalError``, ``IntegrityError``, ...), with the connection
invalidated when the dialect says it is gone, so ``Store``'s classification of outages
(``StorageUnavailable``) and its retries apply unchanged.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Dialect, Select
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql.expression import Executable

__all__ = ["Compiled", "DriverStatement", "RowShape", "run_plain"]


class DriverStatement:
    """One statement, compiled once per dialect, run through the driver."""

    def __init__(self, statement: Executable, column_keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._column_keys = None if column_keys is None else list(column_keys)
        self._compiled: dict[str, Compiled] = {}
        self._shapes: dict[str, RowShape] = {}

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
        raw = self.execute(conn, given).fetchone()
        if raw is None:
            return None
        shape = self._shapes.get(conn.dialect.name)
        if shape is None:
            assert isinstance(self._statement, Select)  # noqa: S101 - rows come of a SELECT
            shape = self._shapes[conn.dialect.name] = RowShape(self._statement, conn.dialect)
        return shape(raw)

    def execute(self, conn: Connection, given: Mapping[str, Any]) -> Any:
        """Run with ``given`` (by parameter name); the DBAPI cursor, for fetching."""
        compiled = self._for(conn.dialect)
        return _run(
            conn,
            compiled.sql,
            lambda cursor: cursor.execute(compiled.sql, compiled.parameters(given)),
        )

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        compiled = self._for(conn.dialect)
        _run(
            conn,
            compiled.sql,
            lambda cursor: cursor.executemany(compiled.sql, [compiled.parameters(r) for r in rows]),
        )


class Compiled:
    """A statement compiled for one dialect's driver: its SQL, and its parameters in the
    driver's style and order, converted by their SQLAlchemy types (also store.nowait's)."""

    __slots__ = ("_names", "_positional", "_processors", "sql")

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
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._processors[name] = process

    def parameters(self, given: Mapping[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        values = []
        for name, default in self._names:
            value = given.get(name, default)
            process = self._processors.get(name)
            values.append(value if process is None or value is None else process(value))
        if self._positional:
            return tuple(values)
        return {name: value for (name, _), value in zip(self._names, values, strict=True)}


class RowShape:
    """A SELECT's raw driver rows as SQLAlchemy reads them: a named tuple of values converted
    by their columns' own types (``dialect_impl(...).result_processor``)."""

    __slots__ = ("_converters", "_row")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        columns = list(statement.selected_columns)
        self._converters: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        # rename: a name given twice (two tables' columns of one name) is read by position.
        names: list[str] = [str(column.key) for column in columns]
        row = namedtuple("DriverRow", names, rename=True)  # type: ignore[misc]
        self._row: Callable[..., Any] = row

    def __call__(self, raw: Sequence[Any]) -> Any:
        return self._row(
            *(
                value if convert is None or value is None else convert(value)
                for convert, value in zip(self._converters, raw, strict=True)
            )
        )


def run_plain(conn: Connection, sql: str) -> None:
    """A statement without parameters or rows (a savepoint's: store.write_group), through the
    driver: SQLAlchemy's ``begin_nested`` compiled its SAVEPOINT and RELEASE anew each time,
    measured at a sixth of a grouped write's CPU."""
    _run(conn, sql, lambda cursor: cursor.execute(sql)).close()


def _run(conn: Connection, sql: str, work: Callable[[Any], Any]) -> Any:
    dialect = conn.dialect
    dbapi = dialect.loaded_dbapi
    raw = conn.connection.driver_connection
    cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        work(cursor)
    except dbapi.Error as exc:
        cursor.close()
        gone = dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if gone:
            conn.invalidate(exc)
        raise sa_exc.DBAPIError.instance(
            sql,
            None,
            exc,
            dbapi.Error,
            hide_parameters=True,
            connection_invalidated=gone,
            dialect=dialect,
        ) from exc
    return cursor
