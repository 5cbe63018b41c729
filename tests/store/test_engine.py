"""Database URLs and SQLite settings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from stacksafe.errors import ConfigurationError, InvalidInput
from stacksafe.store import Store, make_engine, redact_url
from tests.postgres import Cluster


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not valid"),
        ("mysql://u@h/db", "'mysql' is not supported"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite+pysqlcipher:///x.db", "not supported"),
        ("postgresql://u@h/db", "use postgresql\\+psycopg://"),
        ("sqlite:////no/such/dir/x.db", "does not exist"),
    ],
)
def test_bad_database_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_engine(url)


def test_redact_url_hides_the_password() -> None:
    assert "hunter2" not in redact_url("postgresql+psycopg://me:hunter2@db:5432/x")
    assert redact_url("::::") == "<unparsable database URL>"


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    with store.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 30_000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
    store.close()


def test_sqlite_write_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    with store.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    # While a write transaction is open, a second BEGIN IMMEDIATE must wait, not slip in.
    import sqlite3

    with store.write():
        other = sqlite3.connect(tmp_path / "x.db", timeout=0.05, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    store.close()


def test_statement_parameters_never_appear_in_database_errors(tmp_path: Path) -> None:
    from sqlalchemy.exc import IntegrityError as DatabaseIntegrityError

    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    with store.write() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT UNIQUE)"))
        conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "hunter2-param"})
    with pytest.raises(DatabaseIntegrityError) as caught, store.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "hunter2-param"})
    assert "hunter2" not in str(caught.value)
    store.close()


# -- connection pool limits and a database that cannot serve ----------------------------------


def _store(database_url: str, pool: object = None) -> Store:
    """A store on ``database_url``; for SQLite, its directory made first (as init does)."""
    from stacksafe.store.engine import PoolLimits

    if database_url.startswith("sqlite:///"):
        Path(database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    assert pool is None or isinstance(pool, PoolLimits)
    return Store.from_url(database_url, pool)


def _table(store: Store) -> None:
    with store.write() as conn:
        conn.execute(text("CREATE TABLE t (x TEXT)"))
        conn.execute(text("INSERT INTO t VALUES ('kept')"))


def _rows(store: Store) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(text("SELECT x FROM t ORDER BY x")).scalars())


@contextmanager
def _pg_store(pg_cluster: Cluster, name: str) -> Iterator[Store]:
    """A store on a new database ``name`` of the cluster holding ``_table``; dropped after."""
    store = Store.from_url(pg_cluster.create_database(name))
    try:
        _table(store)
        yield store
    finally:
        store.close()
        pg_cluster.drop_database(name)


def test_pool_limits_reach_the_engine_and_a_full_pool_fails_fast(database_url: str) -> None:
    from contextlib import ExitStack

    from stacksafe.errors import StorageUnavailable
    from stacksafe.store.engine import PoolLimits

    store = _store(database_url, PoolLimits(size=2, max_overflow=1, timeout=0.3))
    try:
        assert store.engine.pool.size() == 2  # type: ignore[attr-defined]
        with ExitStack() as held:
            for _ in range(3):  # size + max_overflow: every connection the pool may open
                held.enter_context(store.read())
            started = time.monotonic()
            with pytest.raises(StorageUnavailable, match="database busy") as caught:
                held.enter_context(store.read())
            assert time.monotonic() - started < 5  # the pool timeout, not a hang
        assert caught.value.code == "storage_unavailable"
        with store.read() as conn:  # connections handed back: the pool serves again
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        store.close()


def test_default_pool_limits_are_the_settings_defaults() -> None:
    from stacksafe import settings
    from stacksafe.store.engine import PoolLimits

    assert PoolLimits() == PoolLimits(
        size=settings.DEFAULT_DB_POOL_SIZE,
        max_overflow=settings.DEFAULT_DB_MAX_OVERFLOW,
        timeout=settings.DEFAULT_DB_POOL_TIMEOUT,
        connect_timeout=settings.DEFAULT_DB_CONNECT_TIMEOUT,
    )


def test_a_full_sqlite_database_refuses_writes_clearly_and_keeps_reading(tmp_path: Path) -> None:
    from sqlalchemy import event

    from stacksafe.errors import StorageUnavailable

    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        _table(store)
        with store.read() as conn:
            pages = conn.execute(text("PRAGMA page_count")).scalar_one()
        # SQLite's own limit on the file's size: past it, SQLITE_FULL as on a full disk.
        event.listen(
            store.engine,
            "connect",
            lambda dbapi, _: dbapi.execute(f"PRAGMA max_page_count = {pages}"),
        )
        store.engine.dispose()

        def grow(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "hunter2-value" * 2000})

        with pytest.raises(StorageUnavailable) as caught:
            store.transact(grow, "growing t")
        assert caught.value.message == (
            "database or disk is full; growing t was not done; try again later"
        )
        assert "hunter2" not in caught.value.message + caught.value.reason
        assert "SQLITE_FULL" not in caught.value.message  # the driver's words stay in the reason
        assert "full" in caught.value.reason
        assert _rows(store) == ["kept"]  # reads go on; nothing of the write is there
    finally:
        store.close()


def test_a_read_only_sqlite_database_refuses_writes_clearly(tmp_path: Path) -> None:
    from sqlalchemy import event

    from stacksafe.errors import StorageUnavailable

    store = Store.from_url(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        _table(store)
        event.listen(
            store.engine, "connect", lambda dbapi, _: dbapi.execute("PRAGMA query_only = 1")
        )
        store.engine.dispose()
        with (
            pytest.raises(StorageUnavailable, match=r"^database is read-only; nothing was written"),
            store.write() as conn,
        ):
            conn.execute(text("INSERT INTO t VALUES ('new')"))
        assert _rows(store) == ["kept"]
    finally:
        store.close()


def test_other_database_errors_are_not_storage_failures(database_url: str) -> None:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    store = _store(database_url)
    try:
        # A mistake in a query stays what it is (a 500 for the API), not a "try again later".
        with (
            pytest.raises((OperationalError, ProgrammingError), match="no_such_table"),
            store.read() as conn,
        ):
            conn.execute(text("SELECT * FROM no_such_table"))
    finally:
        store.close()


def test_a_nul_in_a_text_parameter_is_bad_input_never_a_database_error(database_url: str) -> None:
    """PostgreSQL cannot hold NUL in text: psycopg refuses the parameter. Wherever the text came
    from (schemathesis found ``GET /api/3/tokens?user=...%00...``: a 500 on PostgreSQL only),
    that is bad input (400), not a server error; SQLite takes it (and matches nothing)."""
    store = _store(database_url)
    try:
        with store.read() as conn:
            if store.dialect == "sqlite":
                assert conn.execute(text("SELECT :v"), {"v": "a\x00b"}).scalar() == "a\x00b"
                return
        for transaction in (store.read, store.write):
            with pytest.raises(InvalidInput, match="NUL character"), transaction() as conn:
                conn.execute(text("SELECT :v"), {"v": "a\x00b"})
    finally:
        store.close()


def test_an_unreachable_postgresql_fails_fast_without_the_password() -> None:
    from stacksafe.errors import StorageUnavailable
    from stacksafe.store.engine import PoolLimits

    # A port nothing listens on: refused at once; connect_timeout bounds a silent host.
    url = "postgresql+psycopg://someone:hunter2@127.0.0.1:1/nowhere"
    store = Store.from_url(url, PoolLimits(connect_timeout=2))
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as caught, store.read():
            pass
        assert time.monotonic() - started < 5
        assert caught.value.message.startswith("database unavailable: ")
        assert "hunter2" not in caught.value.message + caught.value.reason
        assert "127.0.0.1" not in caught.value.message  # where the database is: the log's business
        assert "refused" in caught.value.reason
    finally:
        store.close()


def test_a_postgresql_connection_lost_mid_transaction_fails_cleanly_then_recovers(
    pg_cluster: Cluster,
) -> None:
    from stacksafe.errors import StorageUnavailable

    with _pg_store(pg_cluster, "stacksafe_test_connection_lost") as store:

        def lose_the_connection(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES ('lost')"))
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with pg_cluster.admin() as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            conn.execute(text("SELECT 1"))

        with pytest.raises(StorageUnavailable, match=r"^database unavailable: .* was not done"):
            store.transact(lose_the_connection, "inserting")
        # The pool dropped the dead connection; the next transactions get fresh ones.
        assert _rows(store) == ["kept"]
        with store.write() as conn:
            conn.execute(text("INSERT INTO t VALUES ('later')"))
        assert _rows(store) == ["kept", "later"]


def test_a_postgresql_connection_lost_during_commit_says_the_write_may_have_been_made(
    pg_cluster: Cluster,
) -> None:
    from sqlalchemy import event

    from stacksafe.errors import StorageUnavailable

    with _pg_store(pg_cluster, "stacksafe_test_lost_at_commit") as store:

        def cut_before_commit(conn: Connection) -> None:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with pg_cluster.admin() as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        def insert(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES ('maybe')"))

        event.listen(store.engine, "commit", cut_before_commit)
        with pytest.raises(StorageUnavailable) as caught:
            store.transact(insert, "inserting")
        event.remove(store.engine, "commit", cut_before_commit)
        assert caught.value.message == (
            "database unavailable: it cannot be reached or the connection was lost; the "
            "connection broke while inserting was committing, so it may have been made: read "
            "it back before trying again"
        )
        assert _rows(store) == ["kept"]  # here the server went before the COMMIT reached it


@pytest.mark.parametrize(
    ("setting", "statement", "cause"),
    [
        ("statement_timeout = 50", "SELECT pg_sleep(5)", "canceling statement due to statement"),
        ("lock_timeout = 50", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "canceling statement"),
    ],
)
def test_a_postgresql_statement_cancelled_by_a_timeout_is_a_503_and_writes_nothing(
    pg_cluster: Cluster, setting: str, statement: str, cause: str
) -> None:
    # Operators bound runaway statements with the role's or database's statement_timeout;
    # a write it cancels is a busy database (503, try again), never a 500.
    from stacksafe.errors import StorageUnavailable

    with _pg_store(pg_cluster, "stacksafe_test_cancelled") as store:

        def cancelled(conn: Connection) -> None:
            conn.execute(text("INSERT INTO t VALUES ('cancelled')"))
            conn.execute(text(f"SET LOCAL {setting}"))
            conn.execute(text(statement))

        with store.read() as holder:  # holds a lock the LOCK TABLE waits for
            holder.execute(text("SELECT * FROM t"))
            with pytest.raises(StorageUnavailable) as caught:
                store.transact(cancelled, "inserting")
        assert caught.value.message == (
            "database busy: a statement was cancelled (the database's statement_timeout or "
            "lock_timeout, or an operator); inserting was not done; try again later"
        )
        assert cause in caught.value.reason
        assert _rows(store) == ["kept"]


def test_a_postgresql_out_of_connections_is_named(pg_cluster: Cluster) -> None:
    from stacksafe.errors import StorageUnavailable

    role = "stacksafe_test_no_connections"  # refused as a full server refuses everyone
    with pg_cluster.admin() as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    store = Store.from_url(
        f"postgresql+psycopg://{role}@{pg_cluster.host}:{pg_cluster.port}/postgres"
    )
    try:
        with pytest.raises(StorageUnavailable) as caught, store.read():
            pass
        assert caught.value.message == (
            "database refused the connection: out of connections or resources; try again later"
        )
        assert "too many connections" in caught.value.reason
    finally:
        store.close()
        with pg_cluster.admin() as admin:
            admin.execute(f"DROP ROLE {role}")


def test_libpq_parameters_in_the_url_reach_the_connection(pg_cluster: Cluster) -> None:
    from stacksafe.store.engine import PoolLimits

    def parameters(url: str) -> dict[str, str]:
        engine = make_engine(url, PoolLimits(connect_timeout=7))
        try:
            raw = engine.raw_connection()
            try:
                found: dict[str, str] = raw.driver_connection.info.get_parameters()  # type: ignore[union-attr]
                return found
            finally:
                raw.close()
        finally:
            engine.dispose()

    url = pg_cluster.url("postgres")
    assert parameters(url)["connect_timeout"] == "7"
    tuned = parameters(f"{url}?connect_timeout=3&tcp_user_timeout=10000")
    assert (tuned["connect_timeout"], tuned["tcp_user_timeout"]) == ("3", "10000")


def test_a_statement_the_driver_refuses_is_a_bug_not_an_outage(database_url: str) -> None:
    """Over 65,535 parameters psycopg refuses the statement with no SQLSTATE, on a healthy
    connection (SQLite: too many SQL variables): reported as what it is, never as a 503."""
    from sqlalchemy import exc as sa_exc
    from sqlalchemy import literal, select

    from stacksafe.errors import StorageUnavailable

    store = _store(database_url)
    try:
        if store.dialect == "sqlite":
            import sqlite3

            limit = sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        else:
            limit = 65_535
        too_many = select(literal(1)).where(literal(1).in_(list(range(limit + 1))))
        with pytest.raises(sa_exc.DBAPIError) as caught, store.read() as conn:
            conn.execute(too_many)
        assert not isinstance(caught.value, StorageUnavailable)
        with store.read() as conn:  # and the database serves on
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        store.close()


def test_a_sqlite_read_kept_waiting_by_another_process_lock_is_a_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from stacksafe.errors import StorageUnavailable
    from stacksafe.store import engine as engine_module

    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 300)  # not 30 s
    path = tmp_path / "locked.db"
    store = Store.from_url(f"sqlite:///{path}")
    other = None
    try:
        with store.write() as conn:
            conn.execute(text("CREATE TABLE t (x)"))
        store.engine.dispose()
        # Another process's connection (a sqlite3 shell, a backup tool) holding the file.
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("PRAGMA locking_mode = EXCLUSIVE")
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO t VALUES (1)")
        with (
            pytest.raises(StorageUnavailable, match="another process held its lock"),
            store.read() as conn,
        ):
            conn.execute(text("SELECT count(*) FROM t")).scalar()
        other.execute("ROLLBACK")
        other.close()
        other = None
        store.engine.dispose()
        with store.read() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        if other is not None:
            other.close()
        store.close()


def test_a_sqlite_commit_whose_fsync_failed_may_have_been_written() -> None:
    """SQLite wrote the WAL frames and only their sync failed (SQLITE_IOERR_FSYNC): the next
    start's recovery may find them, so the client must not be told "nothing was written". The
    fault itself needs a failing disk (strace fault injection reproduces it); this checks the
    wording for the error SQLite gives then."""
    import sqlite3

    from sqlalchemy import exc as sa_exc

    from stacksafe.errors import StorageUnavailable
    from stacksafe.store.transactions import Attempt, storage_errors

    def failing(code: int) -> sa_exc.OperationalError:
        orig = sqlite3.OperationalError("disk I/O error")
        orig.sqlite_errorcode = code
        return sa_exc.OperationalError("COMMIT", None, orig)

    committing = Attempt()
    committing.committing = True
    for code, maybe in ((10 | 4 << 8, True), (10 | 5 << 8, True), (10 | 3 << 8, False)):
        with pytest.raises(StorageUnavailable) as caught, storage_errors("not done", committing):
            raise failing(code)
        assert ("may have been made" in caught.value.message) is maybe, (code, caught.value)
        assert caught.value.message.startswith("database disk I/O error")
    with (
        pytest.raises(StorageUnavailable) as before_commit,
        storage_errors("not done", Attempt()),
    ):
        raise failing(10 | 4 << 8)
    assert "may have been made" not in before_commit.value.message


def test_a_postgresql_engine_gives_the_per_level_indexes_their_where(tmp_path: Path) -> None:
    """store.schema names PostgreSQL's partial-index WHERE only once a PostgreSQL engine is made
    (so that SQLite never imports PostgreSQL's dialect); then the metadata's DDL is the
    migrations': each per-level unique index is partial on both databases."""
    from sqlalchemy.schema import CreateIndex

    from stacksafe.store.schema import metadata

    dialects = [
        make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none").dialect,  # not connected
        make_engine(f"sqlite:///{tmp_path / 'x.db'}").dialect,
    ]
    per_level = [
        index
        for table in metadata.sorted_tables
        for index in table.indexes
        if index.name is not None and index.name.endswith("_level")
    ]
    assert len(per_level) == 8
    for index in per_level:
        for dialect in dialects:
            ddl = str(CreateIndex(index).compile(dialect=dialect))
            assert ddl.startswith("CREATE UNIQUE INDEX")
            assert ddl.endswith(("WHERE stack_id IS NULL", "WHERE stack_id IS NOT NULL")), ddl
