"""Fixtures: every storage-level test runs on SQLite and on a real throwaway PostgreSQL, unless
it is marked ``@pytest.mark.databases("sqlite")`` (see ``pytest_generate_tests``).

Under pytest-xdist each worker is its own test session: its own PostgreSQL cluster, templates,
database numbers and tmp_path tree, so nothing here is shared between workers.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import anyio.from_thread
import pytest
from argon2 import PasswordHasher, profiles
from starlette.testclient import TestClient

from stacksafe.core.installation import Installation, initialise
from stacksafe.core.principals import passwords
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.settings import Settings
from stacksafe.store import Store
from stacksafe.store.migrate import upgrade
from tests.actors import LOCAL
from tests.clock import Clock
from tests.pg_spares import Spares
from tests.postgres import Cluster, throwaway_cluster

# The hasher the product uses (tests/core/test_password_cost.py holds it to the library's cost).
PRODUCTION_HASHER = passwords._hasher

# Which databases a test of a database fixture runs on (docs/architecture.md, "The test suite"):
# both, unless the test, its class or its module is marked ``databases(...)``, the closest mark
# winning. A test of HTTP shapes, CLI output, templates or argument parsing runs the same core
# code on either, and is marked ``databases("sqlite")``; anything where the dialects can differ
# (transactions, locking, concurrency, outages, migrations, ordering, types read back) keeps both.
DATABASES = ("sqlite", "postgresql")
# The fixtures so parametrized, by scope (tests/e2e/conftest.py has the module-scoped one).
_DATABASE_FIXTURES: dict[str, Literal["function", "module"]] = {
    "database_url": "function",
    "module_database_url": "module",
}
# Folders where the database's behaviour is what every module tests: a module there may not
# narrow itself (a single test of one dialect's own behaviour may).
_BOTH_ALWAYS = ("core", "store")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the database fixtures a test uses with its ``databases`` (ids: the names)."""
    mark = metafunc.definition.get_closest_marker("databases")
    databases = DATABASES if mark is None else tuple(mark.args)
    where = metafunc.definition.nodeid
    if not databases or not set(databases) <= set(DATABASES):
        raise pytest.UsageError(f"{where}: databases{databases} names no database of {DATABASES}")
    folder = metafunc.definition.path.relative_to(Path(__file__).parent).parts[0]
    if folder in _BOTH_ALWAYS and _module_marked(metafunc.module):
        raise pytest.UsageError(f"{where}: every module of tests/{folder} runs on both databases")
    for name, scope in _DATABASE_FIXTURES.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, databases, indirect=True, scope=scope)


# The folders and modules whose tests start processes (servers, the CLI, browsers, node): most
# of the suite's time in a few hundred tests. They run first, so that with work stealing
# (`make test`: -n auto --dist worksteal) the last tests left are short ones, and no worker waits
# at the end while another finishes a long one. The order within a module does not change.
_PROCESS_HEAVY = ("e2e", "cli", "web", "test_readme_tour.py")
# Before them, the module holding the suite's longest test (several times any other): it came
# last in its folder and ran alone at the end of the run, the other workers having nothing left
# to take (bench/README.md, "Measured outside these scripts").
_LONGEST = ("e2e/test_schemathesis.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest module first (``_LONGEST``), then the process-heavy tests (``_PROCESS_HEAVY``),
    then the rest, each part in collection order."""
    root = Path(__file__).parent

    def rank(item: pytest.Item) -> int:
        where = item.path.relative_to(root)
        if where.as_posix() in _LONGEST:
            return 0
        return 1 if where.parts[0] in _PROCESS_HEAVY else 2

    items.sort(key=rank)


def _module_marked(module: object) -> bool:
    marks = getattr(module, "pytestmark", [])
    return any(mark.name == "databases" for mark in (marks if isinstance(marks, list) else [marks]))


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashing() -> Iterator[None]:
    """Real Argon2id in this process, with argon2-cffi's CHEAPEST profile (the one it offers
    for tests): the web and sign-in tests hash and verify hundreds of passwords, each 0.12 s at
    the production cost, which bought them nothing. Servers the tests start as processes keep
    the production cost; hashes of either cost verify with either hasher."""
    with pytest.MonkeyPatch.context() as patch:
        cheap = functools.cache(lambda: PasswordHasher.from_parameters(profiles.CHEAPEST))
        patch.setattr(passwords, "_hasher", cheap)
        yield


@pytest.fixture(autouse=True, scope="session")
def one_event_loop_for_test_clients() -> Iterator[None]:
    """Every ``TestClient`` used without ``with`` sends its requests to one event loop of this
    worker, as a server's requests share its one loop. Starlette's default starts a thread and
    an event loop for each request and closes them after it (more CPU than the request itself
    under coverage's tracer), and a loop that closes after each request hides what
    a long-lived loop keeps (the PostgreSQL loop reader's connections: store.loop_reader).
    A client entered with ``with`` runs its app's lifespan on a loop of its own, as before."""
    with anyio.from_thread.start_blocking_portal() as portal, pytest.MonkeyPatch.context() as patch:
        patch.setattr(TestClient, "portal", portal)
        yield


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def pg_spares(pg_cluster: Cluster) -> Iterator[Spares]:
    """The session's fresh PostgreSQL databases, made and dropped on a thread of their own."""
    spares = Spares(pg_cluster)
    try:
        yield spares
    finally:
        spares.close()


def _migrate(url: str) -> None:
    store = Store.from_url(url)
    try:
        upgrade(store)
    finally:
        store.close()  # a PostgreSQL template must have no connection left to be copied


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database with every migration applied and nothing else (no master key)."""
    path = tmp_path_factory.mktemp("template") / "stacksafe.db"
    _migrate(f"sqlite:///{path}")
    # Closing the last connection checkpoints the WAL into the file: the file alone is the copy.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_cluster: Cluster) -> str:
    """The name of a database in the cluster with every migration applied and nothing else."""
    name = "stacksafe_migrated_template"
    _migrate(pg_cluster.create_database(name))
    return name


@pytest.fixture
def from_migrated_template() -> None:
    """Requested by ``installation``: its database starts as a copy of a migrated template.

    ``initialise`` still runs whole on it (key, registration, server keys) and finds the schema
    current, which is what it does on any migrated database; the migrations themselves run in
    the templates, in tests/store/test_migrations.py and wherever a test runs ``init``.
    Running them for every test was most of the suite's time.
    """


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh database in the PostgreSQL cluster (made
    before the test asks and dropped after it, on ``pg_spares``' thread).

    Only when the test's ``installation`` fixture will initialise it (``from_migrated_template``)
    it is instead a copy of the migrated template, schema only.
    """
    migrated = "from_migrated_template" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "data" / "stacksafe.db"
        if migrated:
            template: Path = request.getfixturevalue("sqlite_template")
            path.parent.mkdir(exist_ok=True)
            shutil.copyfile(template, path)
            path.chmod(0o600)  # the mode initialise gives a database file it creates
        yield f"sqlite:///{path}"
        return
    spares: Spares = request.getfixturevalue("pg_spares")
    with spares.database(request.getfixturevalue("pg_template") if migrated else None) as url:
        yield url


@pytest.fixture
def second_database_url(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A second, empty database of the same kind as ``database_url`` (SQLite under
    ``tmp_path/restored``), e.g. to restore a backup into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'stacksafe.db'}"
        return
    spares: Spares = request.getfixturevalue("pg_spares")
    with spares.database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir(exist_ok=True)
    return Settings.load({"STACKSAFE_DATABASE_URL": database_url}, data_dir=data_dir)


@pytest.fixture
def installation(settings: Settings, from_migrated_template: None) -> Iterator[Installation]:
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
