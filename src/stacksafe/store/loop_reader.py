"""One-statement reads awaited on the event loop: PostgreSQL's counterpart of store.nowait.

A PostgreSQL read through ``Store.read`` is a hop to a thread, a pool checkout and SQLAlchemy's
transaction (BEGIN, the statement, COMMIT: three round trips): for the hot read (api.fast_path)
several times the CPU of answering it from a kept level (bench/README.md, server_cpu.py --pg).
This reader sends the one statement, prepared, on a connection of its own (opened by psycopg's
``AsyncConnection``, read through libpq: store.prepared_reads) and awaits the answer on the event
loop, which serves other requests meanwhile:

- autocommit: one statement is its own transaction, so it sees one snapshot, as ``Store.read``
  does; each call is one statement, sent when it is made (nothing is kept between calls);
- read only (``default_transaction_read_only``): this path cannot write, whatever it is given;
- it does not queue behind a lock (``lock_timeout``) nor wait long for an answer: the server
  cancels a statement after ``STATEMENT_SECONDS`` (``statement_timeout``), and a server that goes
  silent (a stopped backend, a network that drops packets) is given up a second later, since
  the loop must not keep a request for ever; whatever goes wrong with the database (an error, a
  lost connection, a closed store, no answer in time: any ``psycopg.Error``, ``OSError`` or the
  wait's ``TimeoutError``) gives ``None``: the caller takes the ordinary path, which waits as
  it should and words any error.
  After a failed connect the reader answers ``None`` for ``RECONNECT_SECONDS`` rather than
  making every request try again first;
- at most ``CONNECTIONS`` connections, opened when first needed by the loop that uses them; a
  read that finds them all busy waits on the loop for one (no thread waits);
- one loop at a time: while the loop that opened the connections runs, a call from another loop
  answers ``None``; once that loop is closed, its connections are closed and the new loop's
  opened (a test's clients come and go);
- values are converted by the columns' own SQLAlchemy types, as store.nowait's are.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import Engine, Select

from stacksafe.store.nowait import NoWaitStatement, NoWaitStatements
from stacksafe.store.prepared_reads import PreparedReads

__all__ = [
    "APPLICATION_NAME",
    "CONNECTIONS",
    "RECONNECT_SECONDS",
    "STATEMENT_SECONDS",
    "LoopReader",
]

# Connections per reader (so per server process), on top of the engine's pool.
CONNECTIONS = 4
RECONNECT_SECONDS = 1.0
APPLICATION_NAME = "stacksafe loop reader"
# The hot read is one statement on an index: one that runs this long is stuck, and the ordinary
# path (in a thread) is the one to wait and word what is wrong.
STATEMENT_SECONDS = 5.0
# How much longer than that the reader waits for the server's answer (or its cancellation).
_SILENCE_MARGIN_SECONDS = 1.0

# What the database doing wrong raises (the ordinary path words it); OSError includes the
# TimeoutError of a server that did not answer in time (asyncio.timeout's).
_UNREADABLE = (psycopg.Error, OSError)

_Connection = psycopg.AsyncConnection[tuple[Any, ...]]


class _LoopConnections:
    """The connections of one event loop; touched only by that loop, but for ``close``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.slots = asyncio.Semaphore(size)
        self.idle: list[PreparedReads] = []
        self.every: set[_Connection] = set()

    def finish(self, *, reading: bool = True) -> None:
        """Close the connections (in the loop's thread, or once the loop no longer runs);
        ``reading`` False: only the idle ones. A connection in the middle of a read on a running
        loop is its reader's to drop when the read ends: closed under it, its socket would leave
        the loop's selector and the read would wait for an answer for ever."""
        idle, self.idle = self.idle, []
        closing = self.every if reading else {reads.connection for reads in idle}
        self.every = self.every - closing
        for connection in closing:
            # The socket is closed at once; AsyncConnection.close would do no more than this.
            connection.pgconn.finish()


class LoopReader:
    """The PostgreSQL database's reader for the event loop (see the module's docstring)."""

    def __init__(self, engine: Engine, connect_timeout: int, size: int = CONNECTIONS) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("a loop reader reads PostgreSQL only")
        _, params = engine.dialect.create_connect_args(engine.url)
        # A connect_timeout in the URL's query wins, as it does for the engine's connections;
        # so does an application_name (this one names them in pg_stat_activity).
        self._params: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "application_name": APPLICATION_NAME,
            **params,
        }
        self._size = size
        # Compiled for libpq's own parameters ($1, $2, ...), converted as SQLAlchemy does.
        dialect: Any = type(engine.dialect)  # psycopg's dialect class, with another style
        self._statements = NoWaitStatements(dialect(paramstyle="numeric_dollar"))
        self._names: dict[int, bytes] = {}
        self._lock = threading.Lock()
        self._connections: _LoopConnections | None = None
        self._closed = False
        self._connect_again_at = 0.0

    async def first(self, statement: Select[Any], given: Mapping[str, Any]) -> Any | None:
        """The first row of ``statement`` (a module-level constant: it is compiled once), or
        None when there is none or it could not be read (see the module's docstring)."""
        compiled = self._statements.of(statement)
        name = self._name_of(compiled)
        parameters = compiled.parameters(given)
        assert isinstance(parameters, tuple)  # noqa: S101 - numeric_dollar is positional
        connections = self._of(asyncio.get_running_loop())
        if connections is None:
            return None
        async with connections.slots:
            taken = connections.idle.pop() if connections.idle else await self._connect(connections)
            if taken is None:
                return None
            try:
                async with asyncio.timeout(STATEMENT_SECONDS + _SILENCE_MARGIN_SECONDS):
                    raw = await taken.first(name, compiled.sql, parameters)
            except BaseException as exc:
                # Whatever it was (cancelled mid-statement, no answer in time too), the
                # connection is in no fit state for another read.
                self._drop(connections, taken.connection)
                if _unreadable(exc) or (self._closed and isinstance(exc, Exception)):
                    return None
                raise
            if self._connections is connections and not self._closed:
                connections.idle.append(taken)
            else:
                self._drop(connections, taken.connection)
        return None if raw is None else compiled.row(raw)

    def _name_of(self, compiled: NoWaitStatement) -> bytes:
        """The name ``compiled`` is prepared under on every connection of this reader."""
        name = self._names.get(id(compiled))
        if name is None:  # compiled statements are kept for good (NoWaitStatements)
            name = self._names[id(compiled)] = b"stacksafe_loop_%d" % len(self._names)
        return name

    def _of(self, loop: asyncio.AbstractEventLoop) -> _LoopConnections | None:
        with self._lock:
            current = self._connections
            if self._closed or (
                current is not None and current.loop is not loop and current.loop.is_running()
            ):
                return None
            if current is None or current.loop is not loop:
                if current is not None:
                    current.finish()  # its loop has stopped: nothing of it is in use
                current = self._connections = _LoopConnections(loop, self._size)
            return current

    async def _connect(self, connections: _LoopConnections) -> PreparedReads | None:
        if time.monotonic() < self._connect_again_at:
            return None
        try:
            connection = await psycopg.AsyncConnection.connect(autocommit=True, **self._params)
        except _UNREADABLE:
            self._connect_again_at = time.monotonic() + RECONNECT_SECONDS
            return None
        connections.every.add(connection)
        try:
            await connection.execute(_session())
        except BaseException as exc:
            self._drop(connections, connection)
            if _unreadable(exc):
                return None
            raise
        return PreparedReads(connection)

    @staticmethod
    def _drop(connections: _LoopConnections, connection: _Connection) -> None:
        connections.every.discard(connection)
        connection.pgconn.finish()

    def close(self) -> None:
        """Close the connections: at once when their loop is not running; else the idle ones,
        at once in the loop's thread or soon in that loop, and each one in the middle of a read
        when its read ends (``first`` drops it, as it does any connection of a closed reader)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, None
        if connections is None:
            return
        loop = connections.loop
        in_loop = False
        with contextlib.suppress(RuntimeError):
            in_loop = asyncio.get_running_loop() is loop
        if not loop.is_running():
            connections.finish()
        elif in_loop:
            connections.finish(reading=False)
        else:
            try:
                loop.call_soon_threadsafe(functools.partial(connections.finish, reading=False))
            except RuntimeError:  # closed meanwhile: nothing of it runs any more
                connections.finish()


def _session() -> str:
    """What a connection of this reader is: read only, never queued behind a lock for long, and
    never running a statement for long (the ordinary path waits, in a thread)."""
    milliseconds = round(STATEMENT_SECONDS * 1000)
    return (
        "SET default_transaction_read_only = on; SET lock_timeout = 100; "
        f"SET statement_timeout = {milliseconds}"
    )


def _unreadable(exc: BaseException) -> bool:
    return isinstance(exc, _UNREADABLE)
