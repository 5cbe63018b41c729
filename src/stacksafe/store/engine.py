"""Database URL → SQLAlchemy engine, and the ``Store`` that hands out read and write transactions.

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing with "database is
locked" when a read transaction tries to upgrade. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import QueuePool

from stacksafe.errors import ConfigurationError, Conflict

__all__ = ["SQLITE_BUSY_TIMEOUT_MS", "RetryWrite", "Store", "make_engine", "redact_url"]

T = TypeVar("T")
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

    @classmethod
    def from_url(cls, url: str) -> Store:
        return cls(make_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with contextlib.ExitStack() as stack:
            if self._local_writer is not None:
                stack.enter_context(self._local_writer)
            conn = stack.enter_context(self.engine.connect())
            conn = conn.execution_options(**{_WRITE: True})
            with conn.begin():
                yield conn

    def transact(self, work: Callable[[Connection], T], what: str) -> T:
        """Run ``work`` in a write transaction, again from scratch when it lost a race.

        Races are unique-key collisions between concurrent creators, a lost compare-and-set
        (``RetryWrite``) and PostgreSQL serialization failures. ``what`` names the operation
        in the conflict error raised when every attempt lost.
        """
        for _attempt in range(WRITE_ATTEMPTS):
            try:
                with self.write() as conn:
                    return work(conn)
            except Exception as exc:
                if not _retryable(exc):
                    raise
        raise Conflict(f"{what} kept colliding with concurrent writes; try again")

    def close(self) -> None:
        self.engine.dispose()


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
