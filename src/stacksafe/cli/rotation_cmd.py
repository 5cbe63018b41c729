"""`stacksafe rotation ...`: policies, what is due, and rotations (by hand or from cron)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from stacksafe.cli.backend import backend, secrets_backend
from stacksafe.cli.common import AccountOption, DataDirOption, StackOption, parse_moment
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.model import iso8601

if TYPE_CHECKING:
    from stacksafe.client import RotationPolicy, RotationStatus

__all__ = ["rotation_app"]

rotation_app = typer.Typer(
    help="Rotation policies (interval, expiry, rotator), what is due, and rotating.",
    no_args_is_help=True,
)

RotatorOption = Annotated[
    str,
    typer.Option(
        "--rotator",
        help="manual (reminders only), generate, webhook or postgres.",
    ),
]


def _config(
    length: int | None,
    charset: str | None,
    url: str | None,
    signing_key: str | None,
    admin_key: str | None,
    roles: str | None,
) -> dict[str, Any]:
    given: dict[str, Any] = {
        "length": length,
        "charset": charset,
        "url": url,
        "signing_key": signing_key,
        "admin_key": admin_key,
        "roles": None if roles is None else [r.strip() for r in roles.split(",") if r.strip()],
    }
    return {k: v for k, v in given.items() if v is not None}


def _show_policy(policy: RotationPolicy) -> None:
    every = policy.rotate_every
    typer.echo(f"{policy.key}: rotator {policy.rotator}")
    typer.echo(
        f"  rotate every   {'-' if every is None else _duration(int(every.total_seconds()))}"
    )
    for label, moment in (
        ("next rotation", policy.next_rotation_at),
        ("expires at", policy.expires_at),
        ("last rotated", policy.last_rotated_at),
        ("pending since", policy.pending_since),
    ):
        typer.echo(f"  {label:<14} {'-' if moment is None else iso8601(moment)}")
    if policy.config:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(policy.config.items()))
        typer.echo(f"  settings       {settings}")
    if policy.last_error:
        typer.echo(f"  last error     {policy.last_error} ({policy.failures} failures)")


def _duration(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@rotation_app.command("set")
def set_(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    every: Annotated[
        str | None,
        typer.Option("--every", help="How often, e.g. 30d, 12h, 1w.", show_default=False),
    ] = None,
    expires_at: Annotated[
        str | None,
        typer.Option(
            "--expires-at",
            help="When the current value stops being valid (ISO 8601 with a zone).",
            show_default=False,
        ),
    ] = None,
    rotator: RotatorOption = "manual",
    length: Annotated[int | None, typer.Option(help="Generated characters.")] = None,
    charset: Annotated[
        str | None, typer.Option(help="alnum, hex, base64url or symbols.", show_default=False)
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="webhook: the address to call.", show_default=False)
    ] = None,
    signing_key: Annotated[
        str | None,
        typer.Option(help="webhook: key of a secret that signs calls (HMAC).", show_default=False),
    ] = None,
    admin_key: Annotated[
        str | None,
        typer.Option(
            help="postgres: key of a secret holding an admin connection string.",
            show_default=False,
        ),
    ] = None,
    roles: Annotated[
        str | None,
        typer.Option(
            help="postgres: the two alternating roles, e.g. app_a,app_b.", show_default=False
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Give KEY a rotation policy (replacing any it had)."""
    config = _config(length, charset, url, signing_key, admin_key, roles)
    expiry = None if expires_at is None else parse_moment(expires_at, "--expires-at")
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        policy = target.set_rotation(key, every, expiry, rotator, config)
    _show_policy(policy)


@rotation_app.command("show")
def show(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Show KEY's rotation policy and the state of its rotations."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        policy = target.rotation_policy(key)
    if fmt is ListFormat.json:
        print_json(policy.to_json())
    else:
        _show_policy(policy)


@rotation_app.command("clear")
def clear(
    key: str,
    stack: StackOption = None,
    account: AccountOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove KEY's rotation policy (the secret stays)."""
    with secrets_backend(data_dir, account=account, stack=stack) as target:
        target.clear_rotation(key)
        typer.echo(f"Cleared the rotation policy of {key} on {target.describe()}")


def _status_rows(entries: list[RotationStatus]) -> list[list[str]]:
    return [
        [
            e.state,
            e.account,
            e.stack or "(account)",
            e.key,
            "-" if e.due_at is None else iso8601(e.due_at),
            "-" if e.expires_at is None else iso8601(e.expires_at),
            e.rotator,
            e.last_error or "",
        ]
        for e in entries
    ]


@rotation_app.command("status")
def status(
    account: AccountOption = None,
    within: Annotated[str, typer.Option("--within", help="Window for due and expiring.")] = "7d",
    include_ok: Annotated[bool, typer.Option("--all", help="Include ok ones too.")] = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Secrets that are expired, overdue, expiring or due, most urgent first."""
    with backend(data_dir) as where:
        entries = where.rotation_status(account, within, include_ok)
    if fmt is ListFormat.json:
        print_json([e.to_json() for e in entries])
        return
    headers = ["STATE", "ACCOUNT", "STACK", "KEY", "DUE", "EXPIRES", "ROTATOR", "LAST ERROR"]
    print_table(headers, _status_rows(entries))


@rotation_app.command("run")
def run(
    key: Annotated[
        str | None,
        typer.Option("--key", help="Rotate this key now (with --stack or --account), due or not."),
    ] = None,
    stack: StackOption = None,
    account: AccountOption = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Rotate every automatic policy in scope now, due or not."),
    ] = False,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Rotate what is due (for cron, on the server's machine), or one key now (--key).

    --account or --stack narrows it to that account or that stack's own secrets. Exit code 1
    when a rotation failed; the current value of that secret stays.
    """
    with backend(data_dir) as where:
        if key is not None:
            outcomes = [where.secrets(account=account, stack=stack).rotate(key)]
        else:
            outcomes = where.rotate_due(account, stack, force)
    if fmt is ListFormat.json:
        print_json([o.to_json() for o in outcomes])
    else:
        print_table(
            ["OUTCOME", "ACCOUNT", "STACK", "KEY", "VERSION", "ERROR"],
            [
                [
                    o.outcome,
                    o.account_uid,
                    o.stack_uid or "(account)",
                    o.key,
                    "-" if o.version is None else str(o.version),
                    o.error or "",
                ]
                for o in outcomes
            ],
        )
    if any(o.outcome == "failed" for o in outcomes):
        raise typer.Exit(1)
