"""`run`'s fast path (argparse) and its Typer command accept the same options, and whatever the
fast path does not take goes to Typer."""

from __future__ import annotations

import sys
from pathlib import Path

import typer.main

from stacksafe.cli.main import build_single_app
from stacksafe.cli.run_args import _parser, parse_run
from stacksafe.cli.run_exec import RunOptions
from tests.cli.helpers import Cli


def typer_options() -> set[str]:
    command = typer.main.get_command(build_single_app("run"))
    run = command.commands["run"]  # type: ignore[attr-defined]
    return {opt for param in run.params for opt in param.opts if opt.startswith("-")}


def test_both_parsers_know_the_same_options() -> None:
    fast = set(_parser()._option_string_actions)
    assert fast == typer_options()


def test_the_usual_command_lines_take_the_fast_path() -> None:
    parsed = parse_run(
        ["-s", "web", "--only", "A,B", "--prefix", "APP_", "--mask", "--", "node", "--port", "8"],
        "/data",
    )
    assert parsed == (
        ["node", "--port", "8"],
        RunOptions(stack="web", only="A,B", prefix="APP_", mask=True, data_dir=Path("/data")),
    )
    watched = parse_run(["--stack", "web", "--watch", "--interval", "0.5", "--", "x"], None)
    assert watched is not None
    assert watched[1].interval == 0.5


def test_everything_else_goes_to_typer() -> None:
    for arguments in (
        ["--stack", "web", "--help", "--", "x"],
        ["--stack", "web", "x"],  # no --
        ["--stack", "web", "--"],  # no command
        ["--", "x"],  # no --stack
        ["--stack", "web", "--nonsense", "--", "x"],
        ["--stack", "web", "--interval", "0.001", "--", "x"],
        ["--stack", "web", "--interval", "soon", "--", "x"],
        ["--stack", "web", "--sta", "x", "--", "x"],  # no abbreviations
    ):
        assert parse_run(arguments, None) is None, arguments


def test_typer_reports_what_the_fast_path_refused(seeded: Cli) -> None:
    bad = seeded.run("run", "--stack", "web", "--interval", "0.001", "--", sys.executable, "-V")
    assert bad.returncode == 2
    assert "--interval" in bad.stderr
    shown = seeded.ok("run", "--help").stdout
    assert "--fallback-max-age" in shown
    plain = seeded.ok("run", "--stack", "web", sys.executable, "-c", "print('no dashes')")
    assert plain.stdout == "no dashes\n"
