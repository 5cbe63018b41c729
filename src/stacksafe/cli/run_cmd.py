"""`stacksafe run -- CMD`: start a process with a stack's effective secrets in its environment.

The command replaces the stacksafe process (``execvpe``): signals reach it directly, and its exit
status is the exit status, with no supervisor in between.
"""

from __future__ import annotations

import os
import re
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
    data_dir: DataDirOption = None,
) -> None:
    """Run COMMAND with the stack's effective secrets as environment variables.

    Secrets override variables of the same name already in the environment.
    """
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        values = target.values(f"run {command[0]}")
    env, unusable = environment_for(dict(os.environ), values)
    if unusable:
        names = ", ".join(unusable)
        if strict:
            raise InvalidInput(f"not valid environment variable names: {names}")
        typer.echo(
            f"Warning: not passed to the command (not valid environment variable names): {names}",
            err=True,
        )
    try:
        os.execvpe(command[0], command, env)  # noqa: S606 - running the user's command is the point
    except FileNotFoundError:
        typer.echo(f"Error: command not found: {command[0]}", err=True)
        raise typer.Exit(127) from None
    except PermissionError:
        typer.echo(f"Error: command not executable: {command[0]}", err=True)
        raise typer.Exit(126) from None
