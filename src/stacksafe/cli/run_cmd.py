"""`stacksafe run -- CMD`: start a process with a stack's effective secrets in its environment.

The command replaces the stacksafe process (``execvpe``): signals reach it directly, and its exit
status is the exit status, with no supervisor in between.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from stacksafe.cli.backend import secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = ["ENV_NAME", "environment_for", "run"]

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def environment_for(
    base: dict[str, str], values: dict[str, SecretValue]
) -> tuple[dict[str, str], list[str]]:
    """``base`` overlaid by ``values``, and the keys that cannot be environment variable names."""
    env = dict(base)
    unusable = []
    for key, value in values.items():
        if ENV_NAME.fullmatch(key):
            env[key] = value.reveal()
        else:
            unusable.append(key)
    return env, sorted(unusable)


@contextmanager
def _starting(command: list[str]) -> Iterator[None]:
    """A command that cannot be started: the shell's exit codes (127, 126) and a clear line."""
    try:
        yield
    except FileNotFoundError:
        typer.echo(f"Error: command not found: {command[0]}", err=True)
        raise typer.Exit(127) from None
    except PermissionError:
        typer.echo(f"Error: command not executable: {command[0]}", err=True)
        raise typer.Exit(126) from None


def _selected(
    values: dict[str, SecretValue], only: str | None, prefix: str
) -> dict[str, SecretValue]:
    """``values`` narrowed to ``--only`` keys and renamed with ``--prefix``."""
    if only is not None:
        wanted = [k.strip() for k in only.split(",") if k.strip()]
        missing = sorted(set(wanted) - set(values))
        if missing:
            raise InvalidInput(f"--only names keys the stack does not have: {', '.join(missing)}")
        values = {k: values[k] for k in wanted}
    return {prefix + k: v for k, v in values.items()}


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
    interval: Annotated[
        float, typer.Option("--interval", min=0.05, help="Seconds between checks with --watch.")
    ] = 10.0,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0.0, help="Seconds between SIGTERM and SIGKILL on restart."),
    ] = 10.0,
    data_dir: DataDirOption = None,
) -> None:
    """Run COMMAND with the stack's effective secrets as environment variables.

    Secrets override variables of the same name already in the environment. Without --mask and
    --watch, stacksafe replaces itself with COMMAND; with them it stays as its parent.
    """
    if prefix and not ENV_NAME.fullmatch(prefix):
        raise InvalidInput(f"--prefix {prefix!r} cannot start a variable name")
    purpose = f"run {command[0]}"
    with secrets_backend(data_dir, account=account, stack=stack) as target:

        def environment() -> tuple[dict[str, str], dict[str, SecretValue]]:
            values = _selected(target.values(purpose), only, prefix)
            env, unusable = environment_for(dict(os.environ), values)
            if unusable:
                names = ", ".join(unusable)
                if strict:
                    raise InvalidInput(f"not valid environment variable names: {names}")
                typer.echo(
                    "Warning: not passed to the command (not valid environment variable "
                    f"names): {names}",
                    err=True,
                )
            return env, values

        if mask or watch:
            from stacksafe.cli.supervise import supervise
            from stacksafe.cli.watch import Watcher

            watcher = Watcher(target, interval) if watch else None
            with _starting(command):
                status = supervise(command, environment, mask=mask, watcher=watcher, grace=grace)
            raise typer.Exit(status)
        env, _ = environment()
    with _starting(command):
        os.execvpe(command[0], command, env)  # noqa: S606 - running the user's command is the point
