"""The `stacksafe` command builds a command only when it is used (cli/lazy_group.py): a command
line imports its own command's module, not the fifteen others, and every command shows exactly
what Typer shows when it builds them all up front (help, options, errors, the commands' order).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from stacksafe.cli.commands import COMMANDS
from stacksafe.cli.main import app, build_app
from tests.cli.helpers import Cli
from tests.cli.test_import_guard import imported

COMMAND_MODULES = {f"stacksafe.cli.{entry.module}" for entry in COMMANDS.values()}


def _eager() -> typer.Typer:
    """The same app with every command registered up front, as Typer builds it by default."""
    application = build_app()
    application.info.cls = TyperGroup
    for name, entry in COMMANDS.items():
        target = getattr(entry.load(), entry.attribute)
        if isinstance(target, typer.Typer):
            application.add_typer(target, name=name)
        else:
            settings = dict(entry.context_settings) or None
            application.command(name, context_settings=settings)(target)
    return application


def _helps(command: Any, context: typer.Context) -> Iterator[tuple[str, str]]:
    """(command path, its --help text) of ``command`` and of every command under it."""
    yield context.command_path, command.get_help(context)
    if isinstance(command, TyperGroup):
        for name in command.list_commands(context):
            sub = command.commands[name]
            yield from _helps(sub, typer.Context(sub, info_name=name, parent=context))


def _every_help(application: typer.Typer) -> list[tuple[str, str]]:
    top = typer.main.get_command(application)
    return list(_helps(top, typer.Context(top, info_name="stacksafe")))


EAGER = _eager()


def _shown(application: typer.Typer, *argv: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(application, list(argv), prog_name="stacksafe")
    return done.exit_code, done.stdout, done.stderr


def test_every_command_shows_what_typer_builds_up_front() -> None:
    shown = _every_help(app)
    assert len(shown) > len(COMMANDS)  # the groups' commands too
    assert shown == _every_help(EAGER)
    # What the walk renders is what `--help` prints (wrapped to the runner's width).
    printed = _shown(app, "secrets", "list", "--help")[1]
    assert printed.split() == dict(shown)["stacksafe secrets list"].split()


@pytest.mark.parametrize(
    "argv",
    [(), ("secrets",), ("nosuch",), ("secret",), ("secrets", "lst"), ("secrets", "set")],
    ids=lambda argv: " ".join(("stacksafe", *argv)),
)
def test_usage_errors_and_suggestions_are_typers(argv: tuple[str, ...]) -> None:
    assert _shown(app, *argv) == _shown(EAGER, *argv)


def test_the_table_lists_every_command_once_in_typers_order() -> None:
    lazy, eager = typer.main.get_command(app), typer.main.get_command(EAGER)
    assert isinstance(lazy, TyperGroup)
    assert isinstance(eager, TyperGroup)
    assert lazy.list_commands(typer.Context(lazy)) == list(COMMANDS)
    assert eager.list_commands(typer.Context(eager)) == list(COMMANDS)


@pytest.mark.parametrize(
    ("argv", "module"),
    [
        (("secrets", "list", "--help"), "stacksafe.cli.secrets_cmd"),
        (("serve", "--help"), "stacksafe.cli.serve_cmd"),
        (("audit", "verify", "--help"), "stacksafe.cli.admin_cmd"),
    ],
    ids=lambda part: " ".join(part) if isinstance(part, tuple) else part,
)
def test_a_command_line_imports_its_own_command_only(
    tmp_path: Path, argv: tuple[str, ...], module: str
) -> None:
    done = Cli(tmp_path / "empty").run(*argv, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert done.returncode == 0, done.stderr
    assert imported(done.stderr) & COMMAND_MODULES == {module}
