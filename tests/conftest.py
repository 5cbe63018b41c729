"""Fixtures: every storage-level test runs on SQLite and on a real throwaway PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.clock import Clock
from tests.postgres import Cluster, throwaway_cluster

_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh database in the PostgreSQL cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'stacksafe.db'}"
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    name = f"stacksafe_test_{next(_database_numbers)}"
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)


@pytest.fixture
def second_database_url(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A second, empty database of the same kind as ``database_url`` (SQLite under
    ``tmp_path/restored``), e.g. to restore a backup into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'stacksafe.db'}"
        return
    cluster: Cluster = request.getfixturevalue("pg_cluster")
    name = f"stacksafe_second_{next(_database_numbers)}"
    url = cluster.create_database(name)
    try:
        yield url
    finally:
        cluster.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    return Settings.load({"STACKSAFE_DATABASE_URL": database_url}, data_dir=data_dir)


@pytest.fixture
def installation(settings: Settings) -> Iterator[Installation]:
    opened, _ = initialise(settings)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def account_target(installation: Installation) -> Target:
    return Target(create_account(installation, LOCAL, "acme"))


@pytest.fixture
def stack_target(installation: Installation, account_target: Target) -> Target:
    stack = create_stack(installation, LOCAL, "acme", "web", "production")
    return Target(account_target.account, stack)


@pytest.fixture
def clock(installation: Installation) -> Iterator[Clock]:
    original = installation.clock
    installation.clock = Clock()
    yield installation.clock
    installation.clock = original
