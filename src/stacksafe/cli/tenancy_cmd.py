"""`stacksafe accounts ...` and `stacksafe stacks ...`."""

from __future__ import annotations

from typing import Annotated

import typer

from stacksafe.cli.common import AccountOption, DataDirOption, local_actor, opened_vault
from stacksafe.cli.output import (
    ListFormat,
    ListFormatOption,
    account_json,
    print_json,
    print_table,
    stack_json,
)
from stacksafe.core import tenancy
from stacksafe.model import iso8601

__all__ = ["accounts_app", "stacks_app"]

accounts_app = typer.Typer(help="Accounts: their secrets are inherited by all their stacks.")
stacks_app = typer.Typer(help="Stacks: applications in an account, one environment each.")


@accounts_app.command("create")
def accounts_create(name: str, data_dir: DataDirOption = None) -> None:
    """Create an account."""
    with opened_vault(data_dir) as vault:
        account = tenancy.create_account(vault, local_actor(), name)
    typer.echo(f"Created account {account.name!r} (uid {account.uid})")


@accounts_app.command("list")
def accounts_list(data_dir: DataDirOption = None, fmt: ListFormatOption = ListFormat.table) -> None:
    """List accounts."""
    with opened_vault(data_dir) as vault:
        found = tenancy.list_accounts(vault, local_actor())
    if fmt is ListFormat.json:
        print_json([account_json(a) for a in found])
    else:
        print_table(
            ["NAME", "UID", "CREATED"], [[a.name, a.uid, iso8601(a.created_at)] for a in found]
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
    with opened_vault(data_dir) as vault:
        stack = tenancy.create_stack(vault, local_actor(), account, name, environment)
    typer.echo(f"Created stack {stack.name!r} ({stack.environment}, uid {stack.uid})")


@stacks_app.command("list")
def stacks_list(
    account: AccountOption = None,
    data_dir: DataDirOption = None,
    fmt: ListFormatOption = ListFormat.table,
) -> None:
    """List stacks, of one account or of all."""
    with opened_vault(data_dir) as vault:
        found = tenancy.list_stacks(vault, local_actor(), account)
        owners = {a.id: a for a in tenancy.list_accounts(vault, local_actor())}
    if fmt is ListFormat.json:
        print_json([stack_json(s, owners.get(s.account_id)) for s in found])
    else:
        print_table(
            ["ACCOUNT", "NAME", "ENVIRONMENT", "UID"],
            [[owners[s.account_id].name, s.name, s.environment, s.uid] for s in found],
        )
