"""One-statement reads that never wait, for code running on the event loop (api.fast_path).

A read through ``Store.read`` costs more CPU before the query does anything than a warm query itself
(bench/README.md, reveal_bench.py): pool checkout, SQLAlchemy's execution context and events,
``BEGIN``, result wrapping, and a thread to run it in (it may wait for a connection or a lock, which
must not stall the event loop). For SQLite, whose reads in WAL mode take microseconds and never wait
for a writer, this module runs one compiled SELECT straight through the sqlite3 driver on a
connection of its own:

- one statement outside any explicit transaction is its own read transaction, so it sees one
  snapshot, as ``Store.read`` does;
- it never waits: the connection's busy timeout is 0, and a caller that finds the connection
  in use by another thread does not queue for it. Whatever the database does wrong (busy,
  locked, an I/O error, a closed store: any ``sqlite3.Error``) gives ``None``, and the caller
  takes the ordinary path, which waits as it should and words any error (a parameter the
  driver cannot take at all raises here as it would there);
- the connection is ``query_only``: this path cannot write, whatever statement it is given;
- values are converted by the columns' own SQLAlchemy types
  (``dialect_impl(...).result_processor``), so a row reads as it does through ``Store.read``.

PostgreSQL has no such reader (``Store.nowait`` is None): a read there is a network round trip,
which the event loop awaits (store.loop_reader) rather than waits for.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Dialect, Engine, Select

from stacksafe.store.driver import Compiled

__all__ = ["CONVERTED_ROWS_MAX", "NoWaitReader", "NoWaitStatement", "NoWaitStatements"]

# Converted rows kept per statement (cleared when full: refilled as read).
CONVERTED_ROWS_MAX = 1024


class NoWaitStatement:
    """A SELECT compiled once for the driver, with the converters of its columns."""

    __slots__ = ("_converted", "_converters", "_row", "parameters", "sql")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = Compiled(statement, dialect)
        self.sql = compiled.sql
        self.parameters = compiled.parameters
        columns = list(statement.selected_columns)
        self._converters: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        row: Any = NamedTuple(  # type: ignore[misc]
            "NoWaitRow", [(column.key, Any) for column in columns]
        )
        self._row: Callable[..., Any] = row
        self._converted: dict[tuple[Any, ...], Any] = {}

    def row(self, raw: tuple[Any, ...]) -> Any:
        """The raw driver row as a named tuple of converted values (attribute access, as a
        SQLAlchemy ``Row``). Converted once per distinct raw row: the hot read gives the same
        row again and again, and converting its timestamps was a tenth of the read."""
        converted = self._converted.get(raw)
        if converted is None:
            converted = self._row(
                *(
                    value if convert is None or value is None else convert(value)
                    for convert, value in zip(self._converters, raw, strict=True)
                )
            )
            if len(self._converted) >= CONVERTED_ROWS_MAX:
                self._converted.clear()
            self._converted[raw] = converted
        return converted


class NoWaitStatements:
    """The statements a reader was given, each compiled once for its dialect's driver."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._statements: dict[int, tuple[Select[Any], NoWaitStatement]] = {}

    def of(self, statement: Select[Any]) -> NoWaitStatement:
        """``statement`` (a module-level constant: it is compiled once) compiled."""
        known = self._statements.get(id(statement))
        if known is None or known[0] is not statement:
            # Kept with the statement, so its id cannot be reused while it is in the map.
            known = (statement, NoWaitStatement(statement, self._dialect))
            self._statements[id(statement)] = known
        return known[1]


class NoWaitReader:
    """The SQLite database's never-waiting reader (see the module's docstring)."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "sqlite" or not engine.url.database:
            raise ValueError("a quick reader reads SQLite files only")
        self._path = engine.url.database
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._statements = NoWaitStatements(engine.dialect)

    def first(self, statement: Select[Any], given: Mapping[str, Any]) -> Any | None:
        """The first row of ``statement`` (a module-level constant: it is compiled once), or
        None when there is none or it could not be read at once."""
        compiled = self._statements.of(statement)
        if not self._lock.acquire(blocking=False):
            return None  # another thread is reading: it is quicker to take the ordinary path
        try:
            connection = self._connection or self._open()
            if connection is None:
                return None
            raw = connection.execute(compiled.sql, compiled.parameters(given)).fetchone()
        except sqlite3.Error:
            self._drop()
            return None
        finally:
            self._lock.release()
        return None if raw is None else compiled.row(raw)

    def _open(self) -> sqlite3.Connection | None:
        if self._closed:
            return None
        # isolation_level=None: no implicit BEGIN, so each statement is its own transaction.
        # mode=rw: a database file that is gone is an error here, never a new empty file.
        connection = sqlite3.connect(
            f"{Path(self._path).resolve().as_uri()}?mode=rw",
            uri=True,
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.execute("PRAGMA busy_timeout = 0")
            connection.execute("PRAGMA query_only = ON")
        except sqlite3.Error:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _drop(self) -> None:
        """Forget the connection after an error (opened again on the next read)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()
