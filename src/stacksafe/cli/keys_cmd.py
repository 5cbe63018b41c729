"""`stacksafe keys ...`: master-key rotation and status, on the machine that holds the key."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stacksafe.cli.common import DataDirOption, local_actor, opened_vault, settings_for
from stacksafe.core import custody

__all__ = ["keys_app"]

keys_app = typer.Typer(help="The master key: rotation and where the data keys stand.")


@keys_app.command("status")
def status(data_dir: DataDirOption = None) -> None:
    """Master-key versions, and how many data and server keys each one wraps."""
    with opened_vault(data_dir) as vault:
        found = custody.key_status(vault)
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


@keys_app.command("rotate")
def rotate(
    batch: Annotated[
        int, typer.Option(min=1, max=100_000, help="Keys re-wrapped per transaction.")
    ] = custody.BATCH,
    data_dir: DataDirOption = None,
) -> None:
    """Add a master-key version and re-wrap every data key under it while servers keep
    serving (values are not re-encrypted). Interrupted, it resumes where it stopped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    settings = settings_for(data_dir)
    with (
        opened_vault(data_dir) as vault,
        Progress(
            TextColumn("re-wrapping keys"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=not sys.stderr.isatty(),
        ) as bar,
    ):
        task = bar.add_task("rewrap", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, done))

        report = custody.rotate_master_key(
            vault, local_actor(), settings, progress=progress, batch=batch
        )
    verb = "Rotated to" if report.created else "Resumed the rotation to"
    typer.echo(
        f"{verb} master key version {report.version}: {report.rewrapped} keys re-wrapped. "
        f"{settings.master_key_file} now holds every version: back it up."
    )
