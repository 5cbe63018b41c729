"""`stacksafe run -- CMD` as a Typer command: its options and help. The work is in run_exec.py,
which cli/main.py's fast path also calls without Typer (bench/cli_bench.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from stacksafe.cli.common import AccountOption, DataDirOption, WatchIntervalOption
from stacksafe.cli.run_exec import RunOptions, execute_run

__all__ = ["run"]


def run(
    command: Annotated[list[str], typer.Argument(metavar="-- COMMAND [ARGS]...")],
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack uid or name.")],
    account: AccountOption = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Fail instead of warning when a key is not a valid variable name."
        ),
    ] = False,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Only these keys (comma-separated).", show_default=False),
    ] = None,
    prefix: Annotated[
        str, typer.Option("--prefix", help="Put this before every variable name, e.g. APP_.")
    ] = "",
    mask: Annotated[
        bool,
        typer.Option(
            "--mask",
            help="Replace secret values in the command's stdout and stderr with [stacksafe:KEY].",
        ),
    ] = False,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Restart the command when the stack's secrets change."),
    ] = False,
    interval: WatchIntervalOption = 10.0,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0.0, help="Seconds between SIGTERM and SIGKILL on restart."),
    ] = 10.0,
    fallback: Annotated[
        bool,
        typer.Option(
            "--fallback",
            help="Keep an encrypted snapshot of the values; use it when the server is "
            "unreachable (remote mode).",
        ),
    ] = False,
    fallback_max_age: Annotated[
        str, typer.Option("--fallback-max-age", help="Refuse older snapshots, e.g. 7d, 12h.")
    ] = "7d",
    keep_stacksafe_env: Annotated[
        bool,
        typer.Option(
            "--keep-stacksafe-env",
            help="Pass stacksafe's own credentials (STACKSAFE_TOKEN, STACKSAFE_ADDR, the "
            "master key and database settings) on to the command; by default they are removed.",
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Run COMMAND with the stack's effective secrets as environment variables.

    Secrets override variables of the same name already in the environment. stacksafe's own
    credentials are not passed on (--keep-stacksafe-env keeps them). Without --mask and
    --watch, stacksafe replaces itself with COMMAND; with them it stays as its parent.
    """
    execute_run(
        command,
        RunOptions(
            stack=stack,
            account=account,
            strict=strict,
            only=only,
            prefix=prefix,
            mask=mask,
            watch=watch,
            interval=interval,
            grace=grace,
            fallback=fallback,
            fallback_max_age=fallback_max_age,
            data_dir=data_dir,
            keep_stacksafe_env=keep_stacksafe_env,
        ),
    )
