"""`stacksafe run -- CMD`: start a process with a stack's effective secrets in its environment.

The command replaces the stacksafe process (``execvpe``): signals reach it directly, and its exit
status is the exit status, with no supervisor in between. Only ``--mask`` and ``--watch`` keep
stacksafe as its parent (cli/supervise.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from stacksafe.cli.backend import SecretsBackend, secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption
from stacksafe.errors import InvalidInput, ServerUnreachable
from stacksafe.model import SecretValue

if TYPE_CHECKING:
    from stacksafe.cli.watch import Watcher
    from stacksafe.core.offline import Snapshot

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
    data_dir: DataDirOption = None,
) -> None:
    """Run COMMAND with the stack's effective secrets as environment variables.

    Secrets override variables of the same name already in the environment. Without --mask and
    --watch, stacksafe replaces itself with COMMAND; with them it stays as its parent.
    """
    if prefix and not ENV_NAME.fullmatch(prefix):
        raise InvalidInput(f"--prefix {prefix!r} cannot start a variable name")
    purpose = f"run {command[0]}"
    offline = _Offline(stack, fallback_max_age) if fallback else None

    def environment_of(
        values: dict[str, SecretValue],
    ) -> tuple[dict[str, str], dict[str, SecretValue]]:
        chosen = _selected(values, only, prefix)
        env, unusable = environment_for(dict(os.environ), chosen)
        if unusable:
            names = ", ".join(unusable)
            if strict:
                raise InvalidInput(f"not valid environment variable names: {names}")
            typer.echo(
                "Warning: not passed to the command (not valid environment variable names): "
                + names,
                err=True,
            )
        return env, chosen

    try:
        with secrets_backend(data_dir, account=account, stack=stack) as target:

            def environment() -> tuple[dict[str, str], dict[str, SecretValue]]:
                values = target.values(purpose)
                if offline is not None:
                    offline.save(values)
                return environment_of(values)

            if mask or watch:
                watcher = _watcher(target, interval) if watch else None
                _supervised(command, environment, mask=mask, watcher=watcher, grace=grace)
            env, _ = environment()
    except ServerUnreachable as unreachable:
        if offline is None:
            raise
        snapshot = offline.load(unreachable)
        if mask:
            _supervised(
                command,
                lambda: environment_of(snapshot.values),
                mask=True,
                watcher=None,
                grace=grace,
            )
        env, _ = environment_of(snapshot.values)
    with _starting(command):
        os.execvpe(command[0], command, env)  # noqa: S606 - running the user's command is the point


def _watcher(target: SecretsBackend, interval: float) -> Watcher:
    from stacksafe.cli.watch import Watcher

    return Watcher(target, interval)


def _supervised(
    command: list[str],
    environment: Callable[[], tuple[dict[str, str], dict[str, SecretValue]]],
    *,
    mask: bool,
    watcher: Watcher | None,
    grace: float,
) -> NoReturn:
    from stacksafe.cli.supervise import supervise

    with _starting(command):
        status = supervise(command, environment, mask=mask, watcher=watcher, grace=grace)
    raise typer.Exit(status)


class _Offline:
    """Where `run --fallback` keeps its snapshot, and the key that seals it."""

    def __init__(self, stack: str, max_age: str) -> None:
        from stacksafe.core.validation import parse_duration

        self.address = os.environ.get("STACKSAFE_ADDR", "")
        if not self.address:
            raise InvalidInput(
                "--fallback is for remote mode (STACKSAFE_ADDR): locally there is no server to miss"
            )
        self.stack, self.max_age = stack, parse_duration(max_age)
        passphrase = os.environ.get("STACKSAFE_FALLBACK_PASSPHRASE")
        self.kind = "passphrase" if passphrase else "token"
        self.secret = passphrase or os.environ.get("STACKSAFE_TOKEN", "")

    def save(self, values: dict[str, SecretValue]) -> None:
        from stacksafe.core.offline import save_snapshot

        save_snapshot(values, self.address, self.stack, self.kind, self.secret, datetime.now(UTC))

    def load(self, unreachable: ServerUnreachable) -> Snapshot:
        from stacksafe.core.offline import load_snapshot

        snapshot = load_snapshot(
            self.address, self.stack, self.secret, self.max_age, datetime.now(UTC)
        )
        typer.echo(
            f"stacksafe: {unreachable.message}; using the offline snapshot of {self.stack!r} "
            f"from {snapshot.created_at}",
            err=True,
        )
        return snapshot
