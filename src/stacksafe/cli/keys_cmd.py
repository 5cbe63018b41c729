"""`stacksafe keys ...`: master-key and data-key rotation and status, on the machine that holds
the master key."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from stacksafe.cli.common import (
    AccountOption,
    DataDirOption,
    StackOption,
    local_actor,
    opened_installation,
    settings_for,
)

__all__ = ["keys_app"]

# The core's default batches (master_key_rotation.BATCH, data_key_rotation.BATCH), shown by
# `--help`: repeated here so that building the CLI imports no core service
# (tests/cli/test_import_guard.py checks both).
REWRAP_BATCH = 500
RESEAL_BATCH = 500

keys_app = typer.Typer(help="The master key and data keys: rotation and where they stand.")


@keys_app.command("status")
def status(data_dir: DataDirOption = None) -> None:
    """Master-key versions, and how many data and server keys each one wraps."""
    from stacksafe.core import master_key_rotation

    with opened_installation(data_dir) as installation:
        found = master_key_rotation.key_status(installation)
    typer.echo(
        f"Master key versions: {', '.join(map(str, found.versions))} (newest {found.newest})"
    )
    for label, counts in (("data keys", found.data_keys), ("server keys", found.server_keys)):
        shown = ", ".join(f"{n} under version {v}" for v, n in sorted(counts.items())) or "none"
        typer.echo(f"  {label}: {shown}")
    if found.remaining:
        typer.echo(
            f"{found.remaining} keys are still wrapped under older versions: "
            "run `stacksafe keys rotate` to finish re-wrapping them"
        )
    if found.retired_data_keys:
        typer.echo(
            f"{found.retired_data_keys} retired data keys still exist: "
            "run `stacksafe keys rotate-data-keys` to finish re-encrypting the values under them"
        )


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (only on a terminal); yields ``progress(done, total)``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task(label, total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done))

        yield progress


@keys_app.command("rotate")
def rotate(
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Keys re-wrapped per transaction.")
    ] = REWRAP_BATCH,
    data_dir: DataDirOption = None,
) -> None:
    """Add a master-key version and re-wrap every data key under it while servers keep
    serving (values are not re-encrypted). Interrupted, it resumes where it stopped."""
    from stacksafe.core import master_key_rotation

    settings = settings_for(data_dir)
    with opened_installation(data_dir) as installation, _progress("re-wrapping keys") as progress:
        report = master_key_rotation.rotate_master_key(
            installation, local_actor(), settings, progress=progress, batch=batch
        )
    verb = "Rotated to" if report.created else "Resumed the rotation to"
    typer.echo(
        f"{verb} master key version {report.version}: {report.rewrapped} keys re-wrapped. "
        f"{settings.master_key_file} now holds every version: back it up."
    )


@keys_app.command("rotate-data-keys")
def rotate_data_keys(
    account: AccountOption = None,
    stack: StackOption = None,
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Values re-encrypted per transaction.")
    ] = RESEAL_BATCH,
    data_dir: DataDirOption = None,
) -> None:
    """Re-encrypt every stored value (every version) under fresh data keys, then delete the
    old data keys: for when a data key may be compromised. --account covers the account's own
    level and all its stacks, --stack one stack; default: everything. Servers keep serving;
    interrupted, it resumes where it stopped."""
    from stacksafe.core import data_key_rotation

    with (
        opened_installation(data_dir) as installation,
        _progress("re-encrypting values") as progress,
    ):
        report = data_key_rotation.rotate_data_keys(
            installation,
            local_actor(),
            account=account,
            stack=stack,
            batch=batch,
            progress=progress,
        )
    resumed = f" ({report.resumed} resumed)" if report.resumed else ""
    typer.echo(
        f"Replaced the data keys of {report.scopes} scopes{resumed}: {report.resealed} values "
        f"re-encrypted, {report.deleted} old data keys deleted."
    )
