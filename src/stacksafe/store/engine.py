"""Database URL → SQLAlchemy engine: the driver, its pool, and SQLite's settings.

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``; write transactions start with
``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of failing with "database is
locked" when a read transaction tries to upgrade. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import QueuePool

from stacksafe.errors import ConfigurationError
from stacksafe.store.driver import serve_batches
from stacksafe.store.schema import postgresql_options

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "WRITE_OPTION",
    "PoolLimits",
    "PoolUsage",
    "make_engine",
    "pool_usage",
    "redact_url",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
# The execution option that marks a write transaction (store.transactions sets it).
WRITE_OPTION = "stacksafe_write"


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


@dataclass(frozen=True)
class PoolUsage:
    """The connection pool now: connections lent out, kept, and the most it may open."""

    checked_out: int
    size: int
    limit: int


def pool_usage(engine: Engine) -> PoolUsage:
    """What ``engine``'s pool holds now (read for metrics at scrape time; takes no lock)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):  # pragma: no cover - make_engine always makes one
        return PoolUsage(0, 0, 0)
    # No public reader of the overflow allowed; -1 (no bound) is never configured here.
    return PoolUsage(pool.checkedout(), pool.size(), pool.size() + max(pool._max_overflow, 0))


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
        postgresql_options()  # the metadata's indexes as PostgreSQL has them (store.schema)
        try:
            # pool_pre_ping: a connection the server closed (a restart, an idle timeout) is
            # replaced when it is next taken from the pool, instead of failing a request.
            engine = create_engine(
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
        serve_batches(engine)
        return engine
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
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
