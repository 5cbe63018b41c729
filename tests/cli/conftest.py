"""Fixtures driving the `stacksafe` command; the drivers themselves are in helpers.py.

``cli`` runs the real installed console script on SQLite; ``cli_any_db`` on SQLite and on the
throwaway PostgreSQL; ``cli_runner`` is the fast in-process twin of ``cli`` (Typer's runner,
to seed and inspect); ``cli_here`` and ``seeded_here`` run the script's own ``main()`` in this
process, for tests whose point is not the process (tests/cli/main_in_process.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stacksafe.settings.installation import DATABASE_FILE
from tests.cli.helpers import Cli, InProcessCli, seed
from tests.cli.main_in_process import MainInProcess, in_this_process


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The real CLI on a not yet initialised SQLite data dir."""
    return Cli(tmp_path / "data")


@pytest.fixture
def cli_any_db(tmp_path: Path, database_url: str) -> Cli:
    """The real CLI on a not yet initialised data dir, with SQLite and with PostgreSQL."""
    return Cli(tmp_path / "data", database_url)


@pytest.fixture
def cli_runner(cli: Cli) -> InProcessCli:
    """The in-process twin of ``cli`` (same data dir)."""
    return cli.in_process()


def _migrated(cli: Cli, template: Path) -> None:
    """``cli``'s database starts as a copy of the migrated template: ``init`` then runs whole on
    it and finds the schema current, as the ``installation`` fixture's ``initialise`` does
    (tests/conftest.py, ``from_migrated_template``). The migrations themselves run wherever a
    test runs ``init`` on the bare ``cli``."""
    database = cli.data_dir / DATABASE_FILE
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(template, database)
    database.chmod(0o600)  # the mode init gives a database file it creates


@pytest.fixture
def seeded(cli: Cli, cli_runner: InProcessCli, sqlite_template: Path) -> Cli:
    """``cli`` after init, with account ``acme`` and its stack ``web`` (seeded in-process)."""
    _migrated(cli, sqlite_template)
    seed(cli_runner)
    return cli


@pytest.fixture
def cli_here(cli: Cli) -> MainInProcess:
    """``cli`` (not yet initialised), its commands run by the script's ``main()`` in this
    process."""
    return in_this_process(cli)


@pytest.fixture
def seeded_here(seeded: Cli) -> MainInProcess:
    """``seeded``, its commands run by the script's ``main()`` in this process."""
    return in_this_process(seeded)


@pytest.fixture(scope="module")
def module_seeded(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Cli:
    """Like ``seeded``, shared by a module's tests that must not change anything."""
    shared = Cli(tmp_path_factory.mktemp("shared") / "data")
    _migrated(shared, sqlite_template)
    seed(shared.in_process())
    return shared
