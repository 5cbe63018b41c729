"""A write of one secret sent in batches (core.secrets.set_secret, store.driver.batch) leaves
nothing of itself when any batch fails, and its pooled connection clean for the next write
(SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.secrets import get_secret, set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.errors import (
    AuditUnavailable,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    StorageUnavailable,
)
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.postgres import Cluster, throwaway_cluster

VALUE = "a-value-never-in-an-error"


def _state(installation: Installation, target: Target) -> tuple[Any, ...]:
    assert target.stack is not None
    with installation.store.engine.connect() as conn:
        return tuple(
            conn.execute(text(sql), {"stack": target.stack.id}).scalar()
            for sql in (
                "SELECT count(*) FROM secret_versions",
                "SELECT count(*) FROM level_writes",
                "SELECT count(*) FROM audit_events",
                "SELECT sum(seal_count) FROM data_keys",
                "SELECT secrets_revision FROM stacks WHERE id = :stack",
                "SELECT seq FROM audit_head",
            )
        )


def _ddl(installation: Installation, *statements: str) -> None:
    with installation.store.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _refuse(installation: Installation, table: str) -> None:
    if installation.store.dialect == "sqlite":
        _ddl(
            installation,
            f"CREATE TRIGGER probe BEFORE INSERT ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'refused by probe'); END",
        )
        return
    _ddl(
        installation,
        "CREATE FUNCTION probe() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused by probe'; END $$",
        f"CREATE TRIGGER probe BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION probe()",
    )


def _allow(installation: Installation, table: str) -> None:
    if installation.store.dialect == "sqlite":
        _ddl(installation, "DROP TRIGGER probe")
    else:
        _ddl(installation, f"DROP TRIGGER probe ON {table}", "DROP FUNCTION probe()")


def _clean_pool(installation: Installation) -> None:
    """Every pooled connection idle, out of pipeline mode."""
    if installation.store.dialect != "postgresql":
        return
    from psycopg import pq

    raw = installation.store.engine.raw_connection()
    try:
        pgconn = raw.driver_connection.pgconn  # type: ignore[union-attr]
        assert pgconn.pipeline_status == pq.PipelineStatus.OFF
        assert pgconn.transaction_status == pq.TransactionStatus.IDLE
    finally:
        raw.close()


def _fails_leaving_nothing(
    installation: Installation, target: Target, expected: type[Exception]
) -> None:
    """A write of API_KEY fails as ``expected``, naming no value, and leaves nothing of itself
    and a clean pool."""
    before = _state(installation, target)
    with pytest.raises(expected) as raised:
        set_secret(installation, LOCAL, target, "API_KEY", SecretValue(VALUE))
    assert VALUE not in str(raised.value)
    assert _state(installation, target) == before
    _clean_pool(installation)


def _revealed(installation: Installation, target: Target, key: str) -> str | None:
    found = get_secret(installation, LOCAL, target, key, reveal=True).raw_value
    return None if found is None else found.reveal()


@pytest.mark.parametrize("table", ["secret_versions", "audit_events"])
@pytest.mark.parametrize("existing", [True, False])
def test_a_refused_batch_leaves_nothing_and_the_next_write_works(
    installation: Installation, stack_target: Target, table: str, existing: bool
) -> None:
    set_secret(installation, LOCAL, stack_target, "OTHER", SecretValue("x"))
    if existing:
        set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("first"))
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("warm"))  # prepared
    _refuse(installation, table)
    try:
        # The version's refusal is the database's error as it was; the audit log's is 503.
        expected = DBAPIError if table == "secret_versions" else AuditUnavailable
        _fails_leaving_nothing(installation, stack_target, expected)
    finally:
        _allow(installation, table)
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("after"))
    assert _revealed(installation, stack_target, "API_KEY") == "after"
    set_secret(installation, LOCAL, stack_target, "NEW_KEY", SecretValue("new"))
    _clean_pool(installation)


@pytest.mark.databases("postgresql")
@pytest.mark.parametrize("table", ["secret_versions", "audit_events"])
def test_a_backend_killed_mid_write_leaves_nothing_and_the_next_write_works(
    installation: Installation, stack_target: Target, table: str
) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("warm"))
    # Killed once: a sequence is not undone with the transaction.
    _ddl(
        installation,
        "CREATE SEQUENCE probe_once",
        "CREATE FUNCTION probe() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF nextval('probe_once') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); "
        "PERFORM pg_sleep(5); END IF; RETURN NEW; END $$",
        f"CREATE TRIGGER probe BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION probe()",
    )
    try:
        _fails_leaving_nothing(installation, stack_target, StorageUnavailable)
    finally:
        _allow(installation, table)
        _ddl(installation, "DROP SEQUENCE probe_once")
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("after"))
    assert _revealed(installation, stack_target, "API_KEY") == "after"


def test_the_one_line_refusals_are_unchanged(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("first"))
    before = _state(installation, stack_target)
    with pytest.raises(PreconditionFailed) as failed:
        set_secret(
            installation, LOCAL, stack_target, "API_KEY", SecretValue(VALUE), expected_version=7
        )
    assert str(failed.value) == (
        "'API_KEY' is at version 1, not 7: someone else wrote it first; read it again and retry"
    )
    assert _state(installation, stack_target) == before
    _clean_pool(installation)
    from stacksafe.core.deletion import delete_stack

    assert stack_target.stack is not None
    delete_stack(installation, LOCAL, stack_target.stack.uid, force=True)
    before = _state(installation, stack_target)
    with pytest.raises(NotFound) as gone:
        set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue(VALUE))
    # As before batches: the lock found no live stack, and nothing sent after it refused first.
    assert str(gone.value) == "the stack was deleted meanwhile; nothing was written"
    assert _state(installation, stack_target) == before
    _clean_pool(installation)


def _write_in_threads(
    installation: Installation, target: Target, rounds: int, key_of: Callable[[int, int], str]
) -> None:
    """Four threads each writing ``rounds`` values (writer n's i-th to ``key_of(n, i)``), a
    refused write (a rollback: psycopg may DEALLOCATE ALL then) every few; none fails."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(rounds):
                key = key_of(n, i)
                set_secret(installation, LOCAL, target, key, SecretValue(f"{n}-{i}"))
                if i % 4 == 1:
                    with pytest.raises(PreconditionFailed):
                        set_secret(
                            installation,
                            LOCAL,
                            target,
                            key,
                            SecretValue("no"),
                            expected_version=10_000,
                        )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.databases("postgresql")
@pytest.mark.parametrize("same_key", [True, False])
def test_concurrent_writers_of_one_level_lose_nothing(
    installation: Installation, stack_target: Target, same_key: bool
) -> None:
    rounds = 25
    _write_in_threads(
        installation, stack_target, rounds, lambda n, _: "SHARED" if same_key else f"KEY_{n}"
    )
    assert stack_target.stack is not None
    with installation.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT s.key, s.current_version, count(v.id), max(v.version) FROM secrets s "
                "JOIN secret_versions v ON v.secret_id = s.id WHERE s.stack_id = :s "
                "GROUP BY s.key, s.current_version"
            ),
            {"s": stack_target.stack.id},
        ).all()
    expected = {"SHARED": 4 * rounds} if same_key else {f"KEY_{n}": rounds for n in range(4)}
    assert {r[0]: r[1] for r in rows} == expected
    assert all(r[1] == r[3] for r in rows)


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this module's own, which a test restarts."""
    with throwaway_cluster() as cluster:
        yield cluster


def test_writes_go_on_after_postgresql_restarts_or_ends_the_pooled_sessions(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    url = own_cluster.create_database("stacksafe_restarted")
    settings = Settings.load({"STACKSAFE_DATABASE_URL": url}, data_dir=tmp_path / "data")
    installation, _ = initialise(settings)
    try:
        target = Target(create_account(installation, LOCAL, "acme"))
        stack = create_stack(installation, LOCAL, "acme", "web", "production")
        target = Target(target.account, stack)
        for n in range(3):
            set_secret(installation, LOCAL, target, "API_KEY", SecretValue(f"v{n}"))
        own_cluster.stop()
        own_cluster.start()
        # The pool's pre-ping replaces the session: its statements are prepared anew.
        set_secret(installation, LOCAL, target, "API_KEY", SecretValue("after restart"))
        set_secret(installation, LOCAL, target, "NEW", SecretValue("new"))
        with own_cluster.admin() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'stacksafe_restarted' AND pid <> pg_backend_pid()"
            )
        set_secret(installation, LOCAL, target, "API_KEY", SecretValue("after kill"))
        assert _revealed(installation, target, "API_KEY") == "after kill"
        assert _revealed(installation, target, "NEW") == "new"
        _clean_pool(installation)
    finally:
        installation.close()


@pytest.mark.parametrize("size", [1, 65_536])
def test_a_big_value_and_a_nul_in_a_key(
    installation: Installation, stack_target: Target, size: int
) -> None:
    value = "v" * size
    set_secret(installation, LOCAL, stack_target, "BIG", SecretValue(value))
    assert _revealed(installation, stack_target, "BIG") == value
    before = _state(installation, stack_target)
    with pytest.raises(InvalidInput) as raised:
        set_secret(installation, LOCAL, stack_target, "NUL\x00KEY", SecretValue(VALUE))
    assert str(raised.value) == (
        "key 'NUL\\x00KEY' is not valid: use letters and digits, with single . _ or - between them"
    )
    assert VALUE not in str(raised.value)
    assert _state(installation, stack_target) == before
    _clean_pool(installation)


@pytest.mark.databases("postgresql")
def test_a_write_waits_for_its_level_first_and_a_backend_killed_there_leaves_nothing(
    installation: Installation, stack_target: Target, pg_cluster: Cluster
) -> None:
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("warm"))
    before = _state(installation, stack_target)
    assert stack_target.stack is not None
    database = installation.store.engine.url.database
    raised: list[BaseException] = []

    def write() -> None:
        try:
            set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue(VALUE))
        except BaseException as exc:
            raised.append(exc)

    with (
        pg_cluster.admin() as watcher,
        psycopg.connect(
            host=pg_cluster.host, port=pg_cluster.port, user=pg_cluster.user, dbname=database
        ) as locker,
    ):
        locker.execute("SELECT 1 FROM stacks WHERE id = %s FOR UPDATE", [stack_target.stack.id])
        writer = threading.Thread(target=write)
        writer.start()
        waiting = None
        for _ in range(2_000):  # until the writer waits for the lock (bounded)
            waiting = watcher.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'",
                [database],
            ).fetchone()
            if waiting is not None:
                break
            watcher.execute("SELECT pg_sleep(0.005)")
        assert waiting is not None
        # What it waits on is the level's row, before anything of the write ran.
        assert "FROM stacks" in str(waiting[1])
        assert "FOR UPDATE" in str(waiting[1])
        watcher.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
        writer.join()
        locker.rollback()
    assert len(raised) == 1
    assert isinstance(raised[0], StorageUnavailable), raised
    assert _state(installation, stack_target) == before
    _clean_pool(installation)
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("after"))
    assert _revealed(installation, stack_target, "API_KEY") == "after"


def test_writers_on_a_churning_pool_meet_no_lost_statement(
    own_cluster: Cluster, tmp_path: Path
) -> None:
    """A pool of one kept connection: most writes open a new session and close it after."""
    url = own_cluster.create_database("stacksafe_churning")
    settings = Settings.load(
        {
            "STACKSAFE_DATABASE_URL": url,
            "STACKSAFE_DB_POOL_SIZE": "1",
            "STACKSAFE_DB_MAX_OVERFLOW": "6",
        },
        data_dir=tmp_path / "data",
    )
    installation, _ = initialise(settings)
    try:
        account = create_account(installation, LOCAL, "acme")
        target = Target(account, create_stack(installation, LOCAL, "acme", "web", "production"))

        _write_in_threads(installation, target, 15, lambda _, i: f"K{i % 3}")
        with installation.store.engine.connect() as conn:
            versions = conn.execute(text("SELECT sum(current_version) FROM secrets")).scalar()
        assert versions == 4 * 15
    finally:
        installation.close()


@pytest.mark.databases("postgresql")
def test_a_write_on_a_connection_whose_descriptor_is_above_select_s_limit(
    installation: Installation, stack_target: Target
) -> None:
    """A busy server holds more than 1,024 descriptors (its clients' sockets): select() takes
    none above that, and the batch's waits must not depend on it."""
    installation.store.engine.dispose()  # the next connection opens after the descriptors
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1_100)]
    try:
        set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("high"))
        raw = installation.store.engine.raw_connection()
        try:
            assert raw.driver_connection.pgconn.socket > 1_024  # type: ignore[union-attr]
        finally:
            raw.close()
        set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("higher"))
    finally:
        for fd in held:
            os.close(fd)
    assert _revealed(installation, stack_target, "API_KEY") == "higher"


def test_writes_roll_the_data_key_over_when_its_seals_are_spent(
    installation: Installation, stack_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("stacksafe.core.data_keys.DATA_KEY_SEAL_LIMIT", 2)
    for n in range(5):
        set_secret(installation, LOCAL, stack_target, f"K{n}", SecretValue(f"v{n}"))
    assert stack_target.stack is not None
    with installation.store.engine.connect() as conn:
        counts = conn.execute(
            text("SELECT version, seal_count FROM data_keys WHERE stack_id = :s ORDER BY version"),
            {"s": stack_target.stack.id},
        ).all()
    assert [tuple(c) for c in counts] == [(1, 2), (2, 2), (3, 1)]
    assert [_revealed(installation, stack_target, f"K{n}") for n in range(5)] == [
        f"v{n}" for n in range(5)
    ]
