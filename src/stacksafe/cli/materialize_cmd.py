"""`stacksafe materialize`: a stack's secrets as one read-only file per key in a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stacksafe.cli.backend import SecretsBackend, secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption, WatchIntervalOption
from stacksafe.cli.watch import Watcher
from stacksafe.errors import StacksafeError

__all__ = ["materialize_command"]


def _once(target: SecretsBackend, directory: Path) -> None:
    from stacksafe.core.materialize import materialize

    report = materialize(target.values("materialize"), directory)
    typer.echo(
        f"{directory}: {len(report.written)} written, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed",
        err=True,
    )


def materialize_command(
    stack: Annotated[str, typer.Option("--stack", "-s", help="Stack uid or name.")],
    directory: Annotated[
        Path, typer.Option("--dir", help="Directory for the files (made 0700 if missing).")
    ],
    account: AccountOption = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep the files current until interrupted.")
    ] = False,
    interval: WatchIntervalOption = 10.0,
    data_dir: DataDirOption = None,
) -> None:
    """Write each effective secret of the stack to DIR/<key> (mode 0400, atomically); files
    of keys that left the stack are removed. Only files it wrote are ever removed."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        # Watching starts before the first fetch: a change in between is not missed.
        watcher = Watcher(target, interval) if watch else None
        try:
            _once(target, directory)
            while watcher is not None and watcher.wait_for_change():
                try:
                    _once(target, directory)
                except StacksafeError as exc:
                    typer.echo(f"stacksafe: {exc.message}; the files stay as they were", err=True)
                    watcher.retry()
        finally:
            if watcher is not None:
                watcher.stop()
