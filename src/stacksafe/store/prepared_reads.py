"""One prepared statement sent and its first row read over libpq, awaited on the event loop.

store.loop_reader's reads: one statement for every warm reveal on PostgreSQL. Through psycopg's
async cursor such a read cost about twice the CPU of this way (its generators, its lock, its
cursor state: bench/README.md, "The warm reveal on PostgreSQL"), on the event loop's thread.
This drives the connection's libpq handle directly (``psycopg.pq``, psycopg's documented
wrapper of libpq), on a connection psycopg opened and set up: each statement prepared once per
connection, its parameters dumped and its row loaded by psycopg's own adapters
(``psycopg.adapt.Transformer``), so values read as they do through a cursor. A failed statement
or a lost connection raises ``psycopg.Error``; the caller drops the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer

__all__ = ["PreparedReads"]

_ANSWERED = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


class PreparedReads:
    """The reads of one connection (one at a time): what it has prepared, its adapters."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection
        self._pgconn = connection.pgconn
        self._adapt = Transformer.from_context(connection)
        self._prepared: set[bytes] = set()

    async def first(
        self, name: bytes, sql: str, parameters: Sequence[Any]
    ) -> tuple[Any, ...] | None:
        """The first row of the statement ``sql`` (``$n`` parameters), prepared as ``name`` on
        this connection the first time; None when there is none."""
        pgconn = self._pgconn
        if name not in self._prepared:
            pgconn.send_prepare(name, sql.encode())
            await _answer(pgconn)
            self._prepared.add(name)
        values = self._adapt.dump_sequence(parameters, [PyFormat.TEXT] * len(parameters))
        pgconn.send_query_prepared(name, values)
        result = await _answer(pgconn)
        if result.ntuples == 0:
            return None
        self._adapt.set_pgresult(result)
        row: tuple[Any, ...] = self._adapt.load_row(0, tuple)
        return row


async def _answer(pgconn: pq.abc.PGconn) -> pq.abc.PGresult:
    """What was sent, flushed, and its one result; ``psycopg.Error`` if it failed."""
    loop = asyncio.get_running_loop()
    while pgconn.flush():  # 1: not all sent yet
        await _ready(loop, pgconn.socket, writing=True)
    answer = None
    while True:
        pgconn.consume_input()
        while not pgconn.is_busy():
            result = pgconn.get_result()
            if result is None:  # the statement's results are all in
                if answer is None:
                    raise psycopg.OperationalError("no result")
                return answer
            if result.status not in _ANSWERED:
                # Not worded here: the ordinary path reads again and words what it meets.
                raise psycopg.DatabaseError("the statement failed")
            answer = result
        await _ready(loop, pgconn.socket)


async def _ready(loop: asyncio.AbstractEventLoop, socket: int, *, writing: bool = False) -> None:
    """Until ``socket`` can be read (or written)."""
    waiter = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    if writing:
        loop.add_writer(socket, wake)
    else:
        loop.add_reader(socket, wake)
    try:
        await waiter
    finally:
        if writing:
            loop.remove_writer(socket)
        else:
            loop.remove_reader(socket)
