"""A batch's statements on PostgreSQL, sent in one go over libpq in pipeline mode.

For store.driver's ``batch``: the statements a write sends before it reads a result are queued
here, then sent together with one Sync, and their results read in one wait: one round trip,
and one wake-up of the thread, however many statements. Through psycopg's cursors each
statement costs its generators, its adaptation context and a poll of the socket on its own,
which for a write's dozen statements was most of its CPU (bench/README.md, "PostgreSQL's
write"). As store.prepared_reads does for the hot read, this drives the connection's libpq
handle directly (``psycopg.pq``, psycopg's documented wrapper of libpq), on a connection psycopg
opened and SQLAlchemy's transaction holds: each statement prepared once per connection (named
by the batch), its parameters dumped and its rows loaded by psycopg's own adapters
(``psycopg.adapt.Transformer``). A transaction not begun yet is begun first, in the same
round trip, as psycopg would begin it (its isolation level, read-only and deferrable flags);
psycopg reads the transaction's state from libpq, so its COMMIT and ROLLBACK go on as usual.

A statement that fails is raised as psycopg raises it (``psycopg.errors``, by its SQLSTATE, with
the server's diagnostics); what was sent after it was not run, and the transaction is aborted.
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

__all__ = ["STATEMENT_GONE", "Queued", "forget_prepared", "send_queued", "supported"]

# A prepared statement the session no longer has: psycopg deallocates every statement of the
# session on a rollback once it prepared one of its own (``DEALLOCATE ALL``). The batch then
# prepares its statements again; the write that met it is run again (store.transactions).
STATEMENT_GONE = "26000"

_FAILED = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE)
_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_SYNC = pq.ExecStatus.PIPELINE_SYNC
_IDLE = pq.TransactionStatus.IDLE
_OFF = pq.PipelineStatus.OFF


class Queued:
    """One statement of a batch: sent by ``send_queued``, then read like a DBAPI cursor.
    Unnamed (``b""``): a statement without parameters, run as it is (not prepared)."""

    __slots__ = ("_adapt", "_result", "name", "parameters", "sent", "sql")
    queued = True  # store.driver.Pending: read once the batch is sent

    def __init__(self, name: bytes, sql: str, parameters: Sequence[Any]) -> None:
        self.name = name
        self.sql = sql
        self.parameters = parameters
        self.sent = False  # handed to libpq (a batch undone before it was sent never is)
        self._result: pq.abc.PGresult | None = None
        self._adapt: Any = None  # psycopg's Transformer, once answered

    def answered(self, result: pq.abc.PGresult, adapt: Any) -> None:
        self._result = result
        self._adapt = adapt

    def fetchone(self) -> tuple[Any, ...] | None:
        result, adapt = self._result, self._adapt
        if result is None or adapt is None:
            raise RuntimeError("a queued statement is read once its batch is sent")
        if result.ntuples == 0:
            return None
        adapt.set_pgresult(result)
        row: tuple[Any, ...] = adapt.load_row(0, tuple)
        return row

    @property
    def rowcount(self) -> int:
        if self._result is None:
            raise RuntimeError("a queued statement is read once its batch is sent")
        count = self._result.command_tuples
        return -1 if count is None else count

    def close(self) -> None:
        """As a cursor's: nothing to release."""


def send_queued(connection: psycopg.Connection[Any], queued: Sequence[Queued]) -> None:
    """Send ``queued`` in one pipeline on ``connection`` (psycopg's, idle between statements:
    nothing else of it is under way), wait once, and hand each its result; the first that
    failed raised as psycopg raises it."""
    pgconn = connection.pgconn
    if pgconn.pipeline_status != _OFF:
        raise psycopg.ProgrammingError("the connection is in pipeline mode already")
    prepared, adapt = _kept(connection)
    dump = adapt.dump_sequence
    # Dumped before anything is sent: a value psycopg refuses (text with NUL) fails here, as
    # through a cursor, with the session as it was.
    dumped = [dump(s.parameters, [PyFormat.TEXT] * len(s.parameters)) for s in queued]
    pgconn.enter_pipeline_mode()
    answered = False
    try:
        begins = not connection.autocommit and pgconn.transaction_status == _IDLE
        if begins:
            pgconn.send_query_params(_begin(connection), None)
        # In the order sent: a name closed (None), a name being prepared, a statement run.
        sent: list[bytes | Queued | None] = []
        for statement, values in zip(queued, dumped, strict=True):
            name = statement.name
            if not name:  # a plain statement (a savepoint's): run once, nothing to prepare
                pgconn.send_query_params(statement.sql.encode(), None)
                sent.append(statement)
                continue
            if name not in prepared and name not in sent:
                # Closed first, in case the session still has it: closing a statement it does
                # not have is no error, preparing one it has is (``forget_prepared``).
                pgconn.send_close_prepared(name)
                sent.append(None)
                pgconn.send_prepare(name, statement.sql.encode())
                sent.append(name)
            pgconn.send_query_prepared(name, values)
            sent.append(statement)
        for statement in queued:
            statement.sent = True
        pgconn.pipeline_sync()
        _flush(pgconn)
        answers = _answers(pgconn)
        answered = True
    finally:
        if pgconn.status == pq.ConnStatus.OK and pgconn.pipeline_status != _OFF:
            if answered:
                pgconn.exit_pipeline_mode()
            else:  # left with answers unread: the session cannot go on; the pool replaces it
                pgconn.finish()
    answers = answers[1:] if begins else answers
    if len(answers) != len(sent):
        raise psycopg.OperationalError("the pipeline's answers do not match what it sent")
    failure = next((r for r in answers if r is not None and r.status in _FAILED), None)
    for command, result in zip(sent, answers, strict=True):
        if command is None:
            continue
        if isinstance(command, bytes):
            if result is not None and result.status == pq.ExecStatus.COMMAND_OK:
                prepared.add(command)
        elif failure is None:
            if result is None or result.status == _ABORTED:
                raise psycopg.OperationalError("a statement of the pipeline was not run")
            command.answered(result, adapt)
    if failure is not None:
        error = _error(connection, failure)
        if error.sqlstate == STATEMENT_GONE:
            prepared.clear()
        raise error


def supported() -> bool:
    """Whether the libpq psycopg runs on can send a batch: PQsendClosePrepared came with libpq
    17. psycopg's binary package brings its own (newer); its C or pure-Python implementation,
    if installed or chosen (``PSYCOPG_IMPL``), runs on the system's, which may be older."""
    return pq.version() >= 170000


def forget_prepared(connection: psycopg.Connection[Any], *, rolling_back: bool = True) -> None:
    """Before a rollback on ``connection``: psycopg may deallocate every prepared statement of
    the session then (or not), so the next batch closes and prepares its statements again.
    ``rolling_back``: a rollback of the transaction, which psycopg sends only when one is open;
    else one to a savepoint."""
    if rolling_back and connection.pgconn.transaction_status == _IDLE:
        return  # psycopg sends nothing, so deallocates nothing
    kept: tuple[set[bytes], Any] | None = getattr(connection, "_stacksafe_pipeline", None)
    if kept is not None:
        kept[0].clear()


def _kept(connection: psycopg.Connection[Any]) -> tuple[set[bytes], Any]:
    """What this module prepared on ``connection``, and psycopg's adapters for it
    (a ``Transformer``)."""
    kept: tuple[set[bytes], Any] | None = getattr(connection, "_stacksafe_pipeline", None)
    if kept is None:
        kept = (set(), Transformer.from_context(connection))
        # An attribute of psycopg's connection object: it goes with the server session, which
        # holds the prepared statements (a reconnection is a new object).
        connection._stacksafe_pipeline = kept  # type: ignore[attr-defined]
    return kept


def _begin(connection: psycopg.Connection[Any]) -> bytes:
    """The BEGIN psycopg sends for ``connection``'s next transaction."""
    parts = [b"BEGIN"]
    if connection.isolation_level is not None:
        level = psycopg.IsolationLevel(connection.isolation_level)
        parts += [b"ISOLATION LEVEL", level.name.replace("_", " ").encode()]
    if connection.read_only is not None:
        parts.append(b"READ ONLY" if connection.read_only else b"READ WRITE")
    if connection.deferrable is not None:
        parts.append(b"DEFERRABLE" if connection.deferrable else b"NOT DEFERRABLE")
    return b" ".join(parts)


def _flush(pgconn: pq.abc.PGconn) -> None:
    """Everything queued sent; meanwhile what the server answers is read in, so that neither
    side waits on the other's full buffer."""
    while pgconn.flush():  # 1: not all sent yet
        if _wait(pgconn.socket, select.POLLIN | select.POLLOUT) & select.POLLIN:
            pgconn.consume_input()


def _wait(socket: int, events: int) -> int:
    """Until ``socket`` is ready for ``events`` (``select.POLLIN``, ``POLLOUT``): which it is.
    poll(), not select(): a busy server holds more than select()'s 1,024 descriptors, and a
    connection opened then has a number above them. An error or a hang-up counts as readable:
    reading then says what it is."""
    waiting = select.poll()
    waiting.register(socket, events)
    ready = 0
    while not ready:  # poll() without a timeout returns once the socket is ready
        ready = sum(mask for _, mask in waiting.poll())
    if ready & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
        ready |= select.POLLIN
    return ready


def _answers(pgconn: pq.abc.PGconn) -> list[pq.abc.PGresult | None]:
    """Each command's last result, in order, up to the pipeline's sync (None: it gave none)."""
    answers: list[pq.abc.PGresult | None] = []
    current: pq.abc.PGresult | None = None
    while True:
        pgconn.consume_input()
        while pgconn.is_busy():
            _wait(pgconn.socket, select.POLLIN)
            pgconn.consume_input()
        result = pgconn.get_result()
        if result is None:  # the end of one command's results
            answers.append(current)
            current = None
        elif result.status == _SYNC:
            return answers
        else:
            current = result


def _error(connection: psycopg.Connection[Any], result: pq.abc.PGresult) -> psycopg.Error:
    """The failed ``result`` as psycopg raises it: the class of its SQLSTATE, its diagnostics."""
    encoding = connection.info.encoding
    state = result.error_field(pq.DiagnosticField.SQLSTATE)
    try:
        kind: type[psycopg.Error] = errors.lookup(state.decode()) if state else errors.DatabaseError
    except KeyError:
        kind = errors.DatabaseError
    message = result.error_message.decode(encoding, "replace").strip()
    return kind(message, info=result, encoding=encoding)
