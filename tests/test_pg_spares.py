"""tests/pg_spares.py: every database taken is new and the test's own (a copy of the template, or
empty), one it hands back is dropped, and closing leaves no database and no thread behind."""

from __future__ import annotations

import threading

import psycopg
import pytest

from tests.pg_spares import Spares
from tests.postgres import Cluster


def _databases(cluster: Cluster, prefix: str) -> set[str]:
    with cluster.admin() as admin:
        rows = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{prefix}%",)
        ).fetchall()
    return {str(name) for (name,) in rows}


def _tables(cluster: Cluster, database: str) -> set[str]:
    with psycopg.connect(cluster.url(database).replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {str(name) for (name,) in rows}


def _spares_threads() -> int:
    return sum(thread.name == "pg-spares" for thread in threading.enumerate())


def test_each_database_taken_is_new_and_the_takers_own(pg_cluster: Cluster) -> None:
    prefix = "spares_own"
    template = f"{prefix}_template"
    pg_cluster.create_database(template)
    with psycopg.connect(pg_cluster.url(template).replace("+psycopg", "")) as conn:
        conn.execute("CREATE TABLE kept (value text)")
    spares = Spares(pg_cluster, prefix=f"{prefix}_copy", depth=2)
    try:
        first, second = spares.take(template), spares.take(template)
        empty = spares.take()
        assert len({first, second, empty}) == 3
        assert _tables(pg_cluster, first) == _tables(pg_cluster, second) == {"kept"}
        assert _tables(pg_cluster, empty) == set()
        with psycopg.connect(pg_cluster.url(first).replace("+psycopg", "")) as conn:
            conn.execute("INSERT INTO kept VALUES ('written by the first taker')")
        spares.hand_back(first)
        later = spares.take(template)
        assert later not in {first, second}
        with psycopg.connect(pg_cluster.url(later).replace("+psycopg", "")) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
    finally:
        spares.close()
        pg_cluster.drop_database(template)
    assert _databases(pg_cluster, prefix) == set()  # taken, handed back, spare: all dropped


def test_a_database_still_connected_to_is_dropped_all_the_same(pg_cluster: Cluster) -> None:
    spares = Spares(pg_cluster, prefix="spares_connected")
    name = spares.take()
    left_open = psycopg.connect(pg_cluster.url(name).replace("+psycopg", ""))
    try:
        spares.hand_back(name)
        spares.close()
        assert _databases(pg_cluster, "spares_connected") == set()
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("SELECT 1")
    finally:
        left_open.close()


def test_closing_stops_the_thread(pg_cluster: Cluster) -> None:
    before = _spares_threads()
    spares = Spares(pg_cluster, prefix="spares_thread")
    assert _spares_threads() == before + 1
    spares.take()
    spares.close()
    assert _spares_threads() == before


def test_a_database_the_cluster_refuses_fails_the_test_that_asked(pg_cluster: Cluster) -> None:
    spares = Spares(pg_cluster, prefix="spares_refused")
    try:
        with pytest.raises(psycopg.errors.InvalidCatalogName, match="no_such_template"):
            spares.take("no_such_template")
        assert _databases(pg_cluster, "spares_refused") == set()
        assert _tables(pg_cluster, spares.take()) == set()  # and the next one is made
    finally:
        spares.close()
    assert _databases(pg_cluster, "spares_refused") == set()
