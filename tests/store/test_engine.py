"""Database URLs and SQLite settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from stacksafe.errors import ConfigurationError
from stacksafe.store import Store, make_engine, redact_url


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
