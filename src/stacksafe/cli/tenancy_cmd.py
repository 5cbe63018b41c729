"""`stacksafe accounts ...` and `stacksafe stacks ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from stacksafe.cli.backend import remote_client
from stacksafe.cli.common import AccountOption, DataDirOption, local_actor, opened_installation
from stacksafe.cli.output import (
    ListFormat,
    ListFormatOption,
    account_json,
    print_json,
    print_table,
    stack_json,
)
from stacksafe.core import tenancy

__all__ = ["accounts_app", "stacks_app"]

accounts_app = typer.Typer(help="Accounts: their secrets are inherited by all their stacks.")
stacks_app = typer.Typer(help="Stacks: applications in an account, one environment each.")


@accounts_app.command("create")
def accounts_create(name: str, data_dir: DataDirOption = None) -> None:
    """Create an account (the server owner only)."""
    with remote_client() as client:
        if client is not None:
            created = client.create_account(name)
            typer.echo(f"Created account {created['name']!r} (uid {created['uid']})")
            return
    with opened_installation(data_dir) as installation:
        account = tenancy.create_account(installation, local_actor(), name)
    typer.echo(f"Created account {account.name!r} (uid {account.uid})")


@accounts_app.command("list")
def accounts_list(data_dir: DataDirOption = None, fmt: ListFormatOption = ListFormat.table) -> None:
    """List accounts."""
    with remote_client() as client:
        if client is not None:
            rows = [
                {k: a[k] for k in ("uid", "name", "created_at_iso", "updated_at_iso")}
                for a in client.accounts()
            ]
        else:
            with opened_installation(data_dir) as installation:
                rows = [account_json(a) for a in tenancy.list_accounts(installation, local_actor())]
    if fmt is ListFormat.json:
        print_json(rows)
    else:
        print_table(
            ["NAME", "UID", "CREATED"],
            [[str(a["name"]), str(a["uid"]), str(a["created_at_iso"])] for a in rows],
        )


@stacks_app.command("create")
def stacks_create(
    name: str,
    account: Annotated[str, typer.Option("--account", "-a", help="Account uid or name.")],
    environment: Annotated[
        str,
        typer.Option(
            "--environment", "-e", help="development, staging, qa, production, or your own."
        ),
    ] = "development",
    data_dir: DataDirOption = None,
) -> None:
    """Create a stack in an account."""
    with remote_client() as client:
        if client is not None:
            made = client.create_stack(name, account=account, environment=environment)
            typer.echo(f"Created stack {made['name']!r} ({made['environment']}, uid {made['uid']})")
            return
    with opened_installation(data_dir) as installation:
        stack = tenancy.create_stack(installation, local_actor(), account, name, environment)
    typer.echo(f"Created stack {stack.name!r} ({stack.environment}, uid {stack.uid})")


@stacks_app.command("list")
def stacks_list(
    account: AccountOption = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """List stacks, of one account or of all."""
    with remote_client() as client:
        if client is not None:
            rows = [
                {
                    "uid": s["uid"],
                    "name": s["name"],
                    "environment": s["environment"],
                    "account": s["account_name"],
                    "created_at_iso": s["created_at_iso"],
                    "updated_at_iso": s["updated_at_iso"],
                }
                for s in client.stacks(account=account)
            ]
        else:
            with opened_installation(data_dir) as installation:
                found = tenancy.list_stacks(installation, local_actor(), account)
                owners = {a.id: a for a in tenancy.list_accounts(installation, local_actor())}
            rows = [stack_json(s, owners.get(s.account_id)) for s in found]
    if fmt is ListFormat.json:
        print_json(rows)
    else:
        print_table(
            ["ACCOUNT", "NAME", "ENVIRONMENT", "UID"],
            [
                [str(s["account"]), str(s["name"]), str(s["environment"]), str(s["uid"])]
                for s in rows
            ],
        )
