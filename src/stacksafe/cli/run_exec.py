"""`stacksafe run -- CMD`: start a process with a stack's effective secrets in its environment.

No Typer here: the fast path of cli/main.py parses `run`'s options with argparse and calls
``execute_run`` directly, so starting a process does not pay for Typer (and pydantic).

The command replaces the stacksafe process (``execvpe``): signals reach it directly, and its exit
status is the exit status, with no supervisor in between. Only ``--mask`` and ``--watch`` keep
stacksafe as its parent (cli/supervise.py).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from stacksafe.cli.child_env import inherited_environment
from stacksafe.cli.run_source import Delivers, run_source
from stacksafe.core.validation import SHELL_NAME
from stacksafe.errors import BrokenReferences, InvalidInput, ServerUnreachable
from stacksafe.model import SecretValue
from stacksafe.settings import ClientSettings

if TYPE_CHECKING:
    from stacksafe.cli.backend import SecretsBackend
    from stacksafe.cli.watch import Watcher
    from stacksafe.core.offline import Snapshot

__all__ = ["ENV_NAME", "RunOptions", "environment_for", "execute_run"]

ENV_NAME = SHELL_NAME


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


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
        _say(f"Error: command not found: {command[0]}")
        raise SystemExit(127) from None
    except PermissionError:
        _say(f"Error: command not executable: {command[0]}")
        raise SystemExit(126) from None


def _wanted(only: str) -> list[str]:
    return [k.strip() for k in only.split(",") if k.strip()]


def _selected(
    values: dict[str, SecretValue], only: str | None, prefix: str
) -> dict[str, SecretValue]:
    """``values`` narrowed to ``--only`` keys and renamed with ``--prefix``."""
    if only is not None:
        wanted = _wanted(only)
        missing = sorted(set(wanted) - set(values))
        if missing:
            raise InvalidInput(f"--only names keys the stack does not have: {', '.join(missing)}")
        values = {k: values[k] for k in wanted}
    return {prefix + k: v for k, v in values.items()}


@dataclass(frozen=True)
class RunOptions:
    """`stacksafe run`'s options, however they were parsed (Typer, or the fast path)."""

    stack: str
    account: str | None = None
    strict: bool = False
    only: str | None = None
    prefix: str = ""
    mask: bool = False
    watch: bool = False
    interval: float = 10.0
    grace: float = 10.0
    fallback: bool = False
    fallback_max_age: str = "7d"
    data_dir: Path | None = None
    keep_stacksafe_env: bool = False


def execute_run(command: list[str], options: RunOptions) -> NoReturn:
    """Start ``command`` with the stack's secrets (exec, or supervised with --mask/--watch)."""
    stack, account, strict, only, prefix = (
        options.stack,
        options.account,
        options.strict,
        options.only,
        options.prefix,
    )
    mask, watch, interval, grace = options.mask, options.watch, options.interval, options.grace
    fallback, fallback_max_age, data_dir = (
        options.fallback,
        options.fallback_max_age,
        options.data_dir,
    )
    if prefix and not ENV_NAME.fullmatch(prefix):
        raise InvalidInput(f"--prefix {prefix!r} cannot start a variable name")
    purpose = f"run {command[0]}"
    offline = _Offline(stack, account, fallback_max_age) if fallback else None

    def environment_of(
        values: dict[str, SecretValue],
    ) -> tuple[dict[str, str], dict[str, SecretValue]]:
        chosen = _selected(values, only, prefix)
        base = inherited_environment(os.environ, keep_stacksafe_env=options.keep_stacksafe_env)
        env, unusable = environment_for(base, chosen)
        if unusable:
            names = ", ".join(unusable)
            if strict:
                raise InvalidInput(f"not valid environment variable names: {names}")
            _say(f"Warning: not passed to the command (not valid variable names): {names}")
        return env, chosen

    def fetching(
        source: Delivers,
    ) -> Callable[[], tuple[dict[str, str], dict[str, SecretValue]]]:
        def environment() -> tuple[dict[str, str], dict[str, SecretValue]]:
            values, broken = source.delivery(purpose)
            # Only a key the command is given may stop it: `--only OTHER` still runs.
            BrokenReferences.among(broken, None if only is None else _wanted(only))
            if offline is not None:
                offline.save(values)
            return environment_of(values)

        return environment

    try:
        if watch:
            # The watcher needs the backend (the SDK's change stream, or the installation).
            from stacksafe.cli.backend import secrets_backend

            with secrets_backend(data_dir, account=account, stack=stack) as target:
                watcher = _watcher(target, interval)
                _supervised(command, fetching(target), mask=mask, watcher=watcher, grace=grace)
        with run_source(data_dir, stack=stack, account=account) as source:
            environment = fetching(source)
            if mask:
                _supervised(command, environment, mask=True, watcher=None, grace=grace)
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
    # Python ignores SIGPIPE (and SIGXFSZ) at start-up and exec keeps ignored signals: give the
    # command the defaults, so `stacksafe run -- yes | head -1` ends as `yes | head -1` does.
    for name in ("SIGPIPE", "SIGXFSZ"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    with _starting(command):
        os.execvpe(command[0], command, env)  # noqa: S606 - running the user's command is the point
    raise AssertionError("unreachable: execvpe returns only by raising")  # pragma: no cover


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
    raise SystemExit(status)


class _Offline:
    """Where `run --fallback` keeps its snapshot, and the key that seals it."""

    def __init__(self, stack: str, account: str | None, max_age: str) -> None:
        from stacksafe.core.validation import parse_duration

        settings = ClientSettings.load()
        self.address = settings.address or ""
        if not self.address:
            raise InvalidInput(
                "--fallback is for remote mode (STACKSAFE_ADDR): locally there is no server to miss"
            )
        self.stack, self.account, self.max_age = stack, account, parse_duration(max_age)
        passphrase = settings.fallback_passphrase
        if not passphrase and not settings.token:
            # A JWT login's token changes at every login: it could not open the snapshot again.
            raise InvalidInput(
                "--fallback with a JWT login needs STACKSAFE_FALLBACK_PASSPHRASE to seal the "
                "snapshot"
            )
        self.kind = "passphrase" if passphrase else "token"
        self.secret = passphrase or settings.token or ""

    def save(self, values: dict[str, SecretValue]) -> None:
        from stacksafe.core.offline import save_snapshot

        save_snapshot(
            values,
            self.address,
            self.stack,
            self.kind,
            self.secret,
            datetime.now(UTC),
            account=self.account,
        )

    def load(self, unreachable: ServerUnreachable) -> Snapshot:
        from stacksafe.core.offline import load_snapshot

        snapshot = load_snapshot(
            self.address,
            self.stack,
            self.secret,
            self.max_age,
            datetime.now(UTC),
            account=self.account,
        )
        _say(
            f"stacksafe: {unreachable.message}; using the offline snapshot of {self.stack!r} "
            f"from {snapshot.created_at}"
        )
        return snapshot
