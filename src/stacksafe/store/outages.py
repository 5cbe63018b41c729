"""Outages: which database failures mean it cannot serve now, and what clients are told.

A database that cannot do what was asked (unreachable, restarting, out of connections, full,
read-only) surfaces from ``Store.read`` and ``Store.write`` as one error, ``StorageUnavailable``,
whatever the driver called it; nothing was written and the request may be tried again.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from stacksafe.errors import StorageUnavailable

__all__ = [
    "NOT_WRITTEN",
    "TRY_AGAIN",
    "nul_in_text",
    "storage_unavailable",
    "while_committing",
]

# What clients are told, by kind of failure. Never the driver's text: it names hosts and ports.
_UNAVAILABLE = "database unavailable: it cannot be reached or the connection was lost"
_FULL = "database or disk is full"
_READ_ONLY = "database is read-only"
_IO = "database disk I/O error: check the disk and that the database file is writable"
_BUSY = "database busy: no connection became free in time"
_LOCKED = "database busy: another process held its lock for longer than the busy timeout"
_EXHAUSTED = "database refused the connection: out of connections or resources"
_TIMED_OUT = (
    "database busy: a statement was cancelled (the database's statement_timeout or "
    "lock_timeout, or an operator)"
)
TRY_AGAIN = "try again later"
NOT_WRITTEN = "nothing was written; try again later"
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
    # query_canceled: the role's or database's statement_timeout (operators set one to bound
    # runaway queries), or pg_cancel_backend; lock_not_available: its lock_timeout. The
    # statement and its transaction are undone: nothing was written, and a retry may succeed.
    "57014": _TIMED_OUT,
    "55P03": _TIMED_OUT,
}
_PG_CLASSES = {"08": _UNAVAILABLE, "53": _EXHAUSTED}


def storage_unavailable(exc: BaseException, after: str = TRY_AGAIN) -> StorageUnavailable | None:
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


def nul_in_text(exc: BaseException) -> bool:
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


def while_committing(unavailable: StorageUnavailable, exc: BaseException) -> StorageUnavailable:
    """``unavailable`` (from ``exc``) as told when it struck a write during its COMMIT: the
    write may have been made after all when the connection broke or only the fsync failed."""
    if unavailable.message.startswith(_UNAVAILABLE):
        return StorageUnavailable(f"{_UNAVAILABLE}; {_MAYBE_WRITTEN}", unavailable.reason)
    if getattr(getattr(exc, "orig", None), "sqlite_errorcode", None) in _SQLITE_FSYNC:
        # The WAL frames were written, only their fsync failed: a recovery (the next
        # start after a crash) may find them, so the write may exist after all.
        return StorageUnavailable(f"{_IO}; {_MAYBE_WRITTEN_IO}", unavailable.reason)
    return unavailable
