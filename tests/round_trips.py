"""Round trips to the database, counted as the client library sends them.

PostgreSQL: libpq's own trace of every protocol message (psycopg's ``PGconn.trace``), in the
order libpq sent and read them. A round trip is a run of messages the client sent that ends
when it reads the server's answer: one per statement outside a pipeline (its ``Sync``, or a
simple ``Query``), one per batch of a pipeline however many statements it holds. A connection
is traced from the moment the pool takes it back to the next time it does, so the pool's
pre-ping on checkout is counted with the transaction that follows it.

SQLite has no round trips: every statement SQLite runs is counted, each statement of a trigger
too (``sqlite3.Connection.set_trace_callback``), for a test that pins what a write costs there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Engine, event

__all__ = ["Counted", "counted"]

# libpq's trace: "<timestamp>\t<F or B>\t<length>\t<message> ...": F for what the client sent,
# B for what the server did; a statement's text may go on over several lines.
_MESSAGE = re.compile(r"^\S+ \S+\t([FB])\t\d+\t(\w+)\b(.*)$", re.MULTILINE)


class Counted:
    """What the connections of an engine sent while ``counted`` was listening, per use."""

    def __init__(self) -> None:
        self.uses: list[str] = []  # PostgreSQL: each use's trace; SQLite: each statement

    def round_trips(self) -> list[int]:
        """PostgreSQL: the round trips of each use of a connection, in order of checkin."""
        return [_turns(trace) for trace in self.uses]

    def messages(self, use: int) -> list[str]:
        """The messages a use sent, with the start of their text (for an assertion's message)."""
        return [
            f"{kind}{rest[:90]}"
            for side, kind, rest in _MESSAGE.findall(self.uses[use])
            if side == "F"
        ]


def _turns(trace: str) -> int:
    """How many times the client sent messages, then read the server's answer."""
    turns, sending = 0, False
    for side, _kind, _rest in _MESSAGE.findall(trace):
        if side == "F":
            sending = True
        elif sending:
            turns, sending = turns + 1, False
    return turns


@contextmanager
def counted(engine: Engine, directory: Path) -> Iterator[Counted]:
    """Count what ``engine``'s connections send from now on. Its pool is emptied first: on
    SQLite the connections it opens next are listened to; on PostgreSQL they are traced from
    their first checkin, so the use counted should be the second of a connection (the first
    opens it; the second is the pool's reuse, with its pre-ping)."""
    found = Counted()
    engine.dispose()
    if engine.dialect.name == "sqlite":
        listened: list[Any] = []

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.set_trace_callback(found.uses.append)
            listened.append(dbapi_connection)

        event.listen(engine, "connect", on_connect)
        try:
            yield found
        finally:
            event.remove(engine, "connect", on_connect)
            for dbapi_connection in listened:
                dbapi_connection.set_trace_callback(None)
        return
    # Open while libpq writes to them: it does not duplicate the descriptor.
    files: dict[int, tuple[Any, TextIO]] = {}

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is None:
            return
        pgconn = dbapi_connection.pgconn
        kept = files.pop(id(pgconn), None)
        if kept is not None:
            found.uses.append(_untraced(*kept))
        path = directory / f"trace-{len(found.uses)}-{id(pgconn)}.txt"
        opened = path.open("w")
        files[id(pgconn)] = (pgconn, opened)
        pgconn.trace(opened.fileno())

    event.listen(engine, "checkin", on_checkin)
    try:
        yield found
    finally:
        event.remove(engine, "checkin", on_checkin)
        for pgconn, opened in files.values():
            _untraced(pgconn, opened)


def _untraced(pgconn: Any, opened: TextIO) -> str:
    """Stop tracing ``pgconn`` (libpq flushes what it buffered) and read what it wrote."""
    pgconn.untrace()
    opened.close()
    return Path(opened.name).read_text()
