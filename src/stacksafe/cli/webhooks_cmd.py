"""`stacksafe webhooks add|list|remove|pause|resume|status`: change events of a stack or an
account POSTed, signed, to a receiver (docs/operations.md "Webhooks"); in local and remote mode
alike, for whoever may manage the account's stacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.common import AccountOption, DataDirOption, StackOption
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.cli.webhooks_backend import webhooks_backend
from stacksafe.model import iso8601

if TYPE_CHECKING:
    from stacksafe.model import Webhook

__all__ = ["webhooks_app"]

webhooks_app = typer.Typer(
    help="POST a stack's or an account's changes, signed, to a receiver (never a value)."
)


def _level(hook: Webhook) -> str:
    if hook.stack_name is None:
        return f"account {hook.account_name}"
    return f"{hook.account_name}/{hook.stack_name}"


@webhooks_app.command("add")
def add(
    name: str,
    url: Annotated[
        str,
        typer.Option(
            "--url", help="Where changes are POSTed: https:// (plain http only to this machine)."
        ),
    ],
    signing_key_secret: Annotated[
        str,
        typer.Option(
            "--signing-key-secret",
            help="The name of the level's secret whose value is the HMAC key (it must exist).",
        ),
    ],
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Subscribe to the changes of --stack (within --account when names repeat), or of
    --account alone (its own level and every stack's), made from now on."""
    with webhooks_backend(data_dir) as where:
        hook = where.add(
            name, url=url, signing_key=signing_key_secret, stack=stack, account=account
        )
    typer.echo(
        f"Added webhook {hook.name!r} for {_level(hook)}: changes go to {hook.origin}, "
        f"signed with the secret {hook.signing_key}"
    )


def _listed(account: str | None, data_dir: Path | None, fmt: ListFormat) -> list[Webhook] | None:
    """The webhooks, or None once printed as JSON (``--format json``: every field)."""
    with webhooks_backend(data_dir) as where:
        found = where.list(account)
    if fmt is ListFormat.json:
        print_json([h.to_json() for h in found])
        return None
    return found


@webhooks_app.command("list")
def list_(
    account: AccountOption = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """The webhooks you may manage (of --account only, when given)."""
    found = _listed(account, data_dir, fmt)
    if found is None:
        return
    print_table(
        ["NAME", "LEVEL", "ORIGIN", "SIGNING KEY", "STATE"],
        [[h.name, _level(h), h.origin, h.signing_key, h.state] for h in found],
    )


@webhooks_app.command("status")
def status(
    account: AccountOption = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """Each webhook's delivery: its state, the audit events it has still to read, its last
    delivery and its last error."""
    found = _listed(account, data_dir, fmt)
    if found is None:
        return
    print_table(
        ["NAME", "LEVEL", "STATE", "CURSOR", "BEHIND", "LAST DELIVERED", "LAST ERROR"],
        [
            [
                h.name,
                _level(h),
                h.state,
                str(h.cursor),
                str(h.behind),
                "-" if h.last_delivered_at is None else iso8601(h.last_delivered_at),
                h.last_error or "-",
            ]
            for h in found
        ],
    )


@webhooks_app.command("remove")
def remove(name: str, account: AccountOption = None, data_dir: DataDirOption = None) -> None:
    """Stop a webhook and forget it."""
    with webhooks_backend(data_dir) as where:
        hook = where.remove(name, account)
    typer.echo(f"Removed webhook {hook.name!r} of {_level(hook)}")


@webhooks_app.command("pause")
def pause(name: str, account: AccountOption = None, data_dir: DataDirOption = None) -> None:
    """Hold a webhook's deliveries; the changes made meanwhile are sent on resuming."""
    with webhooks_backend(data_dir) as where:
        hook = where.set_paused(name, True, account)
    typer.echo(f"Paused webhook {hook.name!r} of {_level(hook)}")


@webhooks_app.command("resume")
def resume(name: str, account: AccountOption = None, data_dir: DataDirOption = None) -> None:
    """Deliver again, from where it stopped: nothing is lost."""
    with webhooks_backend(data_dir) as where:
        hook = where.set_paused(name, False, account)
    typer.echo(f"Resumed webhook {hook.name!r} of {_level(hook)}: {hook.behind} event(s) to read")
