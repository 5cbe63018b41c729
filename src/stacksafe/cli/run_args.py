"""The fast path of `stacksafe run`: its options parsed with argparse, without Typer.

Typer (0.29) validates every parameter through pydantic, which costs more than the whole request
to the server. `run` is the command whose start-up time matters: it sits in front of every
process start. So ``parse_run`` reads the usual forms of `run`'s command line itself. Anything
it does not accept returns None, and Typer handles the command line instead: --help, mistakes,
and options in forms it does not take. The error messages and the help stay Typer's.

tests/cli/test_run_args.py checks that this parser and the Typer command have the same options.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from stacksafe.cli.run_exec import RunOptions

__all__ = ["parse_run"]


class _Refused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Refused(message)


def _parser() -> _Parser:
    # A fixed width: this parser never shows help (Typer does), and without one argparse asks
    # the terminal's size through shutil (and its compression modules) on every start.
    wide = functools.partial(argparse.HelpFormatter, width=100)
    parser = _Parser(add_help=False, allow_abbrev=False, formatter_class=wide)
    parser.add_argument("--stack", "-s", required=True)
    parser.add_argument("--account", "-a")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--only")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--mask", action="store_true")
    parser.add_argument("--watch", action="store_true")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--fallback", action="store_true")
    parser.add_argument("--fallback-max-age", default="7d")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--keep-stacksafe-env", action="store_true")
    return parser


def parse_run(
    arguments: list[str], environ_data_dir: str | Path | None
) -> tuple[list[str], RunOptions] | None:
    """(command, options) of `run`'s arguments (after the word `run`), or None for Typer."""
    if "--" not in arguments:
        return None
    split = arguments.index("--")
    options, command = arguments[:split], arguments[split + 1 :]
    if not command or any(o in ("--help", "-h") for o in options):
        return None
    try:
        parsed = _parser().parse_args(options)
    except _Refused:
        return None
    if parsed.interval < 0.05 or parsed.grace < 0:  # Typer's bounds: let it say so
        return None
    data_dir = parsed.data_dir or (Path(environ_data_dir) if environ_data_dir else None)
    return command, RunOptions(
        stack=parsed.stack,
        account=parsed.account,
        strict=parsed.strict,
        only=parsed.only,
        prefix=parsed.prefix,
        mask=parsed.mask,
        watch=parsed.watch,
        interval=parsed.interval,
        grace=parsed.grace,
        fallback=parsed.fallback,
        fallback_max_age=parsed.fallback_max_age,
        data_dir=data_dir,
        keep_stacksafe_env=parsed.keep_stacksafe_env,
    )
