"""Damaged stored rows through the local CLI: exit 6 (integrity_error) with one error line and no
value, on every read command (list, get, history, export, run).

The real console script for ``run`` and one ``secrets list`` (main()'s exit code and the single
``Error:`` line, where a crash used to exit 70); the in-process CLI for the rest."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from stacksafe.store.schema import stacks
from tests.cli.helpers import Cli, error_line, seed
from tests.damage import INHERITED, KINDS, OTHER, OVERRIDE, damage, values_seeded

# SQLite only (tests/conftest.py, DATABASES): the exit code and the error line; finding the damage
# is core's, every kind on every read on both databases in tests/core/test_damaged_rows.py (and
# through the API, tests/api).
pytestmark = pytest.mark.databases("sqlite")

INTEGRITY = 6  # stacksafe.errors.IntegrityError.exit_code

READS = [
    ("secrets", "list", "--stack", "web"),
    ("secrets", "list", "--stack", "web", "--reveal"),
    ("secrets", "get", "K", "--stack", "web", "--reveal"),
    ("secrets", "history", "K", "--stack", "web"),
    ("export", "--stack", "web"),
]


def _database_url(cli: Cli) -> str:
    return cli.database_url or f"sqlite:///{cli.data_dir / 'stacksafe.db'}"


def _damaged(cli: Cli, kind: str) -> None:
    runner = cli.in_process()
    seed(runner)
    seeded = values_seeded()
    for level, option, name in (("account", "--account", "acme"), ("stack", "--stack", "web")):
        for key, value in seeded[level].items():
            runner.ok("secrets", "set", f"{key}={value}", option, name)
    engine = create_engine(_database_url(cli))
    try:
        with engine.connect() as conn:
            stack_id = conn.execute(select(stacks.c.id).where(stacks.c.name == "web")).scalar_one()
        damage(engine, stack_id, kind)
    finally:
        engine.dispose()


def _no_value(text: str) -> None:
    for value in (INHERITED, OVERRIDE, OTHER):
        assert value not in text


@pytest.mark.parametrize("kind", KINDS)
def test_every_read_command_exits_6_on_damage(cli_any_db: Cli, kind: str) -> None:
    _damaged(cli_any_db, kind)
    runner = cli_any_db.in_process()
    for args in READS:
        outcome = runner.invoke(*args)
        assert outcome.exit_code == INTEGRITY, (args, outcome)
        assert outcome.stdout == ""
        _no_value(outcome.stderr)


@pytest.mark.parametrize("kind", ["null_envelope", "deleted_flag"])
def test_the_console_script_exits_6_with_one_line(cli_any_db: Cli, kind: str) -> None:
    _damaged(cli_any_db, kind)
    listed = cli_any_db.fails(INTEGRITY, "secrets", "list", "--stack", "web", "--reveal")
    line = error_line(listed.stderr)
    assert "'K'" in line
    _no_value(listed.stderr + listed.stdout)
    ran = cli_any_db.fails(INTEGRITY, "run", "--stack", "web", "--", "env")
    error_line(ran.stderr)
    _no_value(ran.stderr + ran.stdout)
