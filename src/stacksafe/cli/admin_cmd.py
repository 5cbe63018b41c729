"""Server administration on the machine that holds the master key: users, tokens, audit."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.audit_sinks_cmd import sinks_app, verify_stream_files
from stacksafe.cli.backend import backend
from stacksafe.cli.common import (
    DataDirOption,
    NarrowEnvironmentsOption,
    NarrowStacksOption,
    local_actor,
    opened_installation,
)
from stacksafe.cli.environment_names import warn_unknown_environments
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue, iso8601
from stacksafe.settings import ClientSettings

if TYPE_CHECKING:
    from stacksafe.client import Token

__all__ = ["audit_app", "tokens_app", "users_app"]

users_app = typer.Typer(help="Users and their roles in accounts and stacks.")
tokens_app = typer.Typer(help="API tokens: shown once at creation, stored as keyed hashes.")
audit_app = typer.Typer(help="The hash-chained audit log.")
audit_app.add_typer(sinks_app, name="sinks")


@users_app.command("create")
def users_create(
    email: str,
    account: Annotated[str, typer.Option("--account", "-a", help="Account uid or name.")],
    role: Annotated[
        str,
        typer.Option(
            help="viewer, deployer, developer, operation, power_user, administrator, owner"
        ),
    ] = "viewer",
    stack_role: Annotated[
        list[str] | None, typer.Option("--stack-role", help="STACK=ROLE; repeatable.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a user (or add an existing one to an account) with a role."""
    stack_roles: dict[str, str] = {}
    for item in stack_role or []:
        stack, sep, name = item.partition("=")
        if not sep or not stack or not name:
            raise InvalidInput(f"--stack-role {item!r} must be STACK=ROLE")
        stack_roles[stack] = name
    with backend(data_dir) as where:
        where.create_user(email, account, role, stack_roles)
    typer.echo(f"{email} is {role} in account {account!r}", err=True)


@users_app.command("list")
def users_list(data_dir: DataDirOption = None, fmt: ListFormatOption = ListFormat.table) -> None:
    """List users: all for the server owner, else those of the accounts you administer."""
    with backend(data_dir) as where:
        rows = [
            {
                "id": u.id,
                "email": u.email,
                "is_owner": u.is_owner,
                "accounts": [
                    {"uid": m.account_uid, "name": m.account_name, "role": m.role}
                    for m in u.accounts
                ],
                "stack_roles": [{"stack_uid": r.stack_uid, "role": r.role} for r in u.stack_roles],
                "created_at_iso": iso8601(u.created_at),
            }
            for u in where.users()
        ]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    print_table(
        ["EMAIL", "OWNER", "ACCOUNTS", "STACK ROLES"],
        [
            [
                str(u["email"]),
                "yes" if u["is_owner"] else "-",
                " ".join(f"{a['name']}:{a['role']}" for a in _dicts(u["accounts"])) or "-",
                " ".join(f"{r['stack_uid']}:{r['role']}" for r in _dicts(u["stack_roles"])) or "-",
            ]
            for u in rows
        ],
    )


def _dicts(value: object) -> list[dict[str, str]]:
    return value if isinstance(value, list) else []


@users_app.command("remove")
def users_remove(email: str, data_dir: DataDirOption = None) -> None:
    """Offboard a user (the server owner): end their web sessions, revoke every token of
    theirs, delete every role; the audit log keeps naming them."""
    with backend(data_dir) as where:
        removed = where.remove_user(email)
    typer.echo(
        f"Removed {removed.email}: {len(removed.tokens_revoked)} token(s) revoked, "
        f"{removed.sessions_ended} web session(s) ended, "
        f"{len(removed.accounts)} membership(s) and {len(removed.stacks)} stack role(s) deleted"
    )


@users_app.command("remove-role")
def users_remove_role(
    email: str,
    account: Annotated[
        str | None,
        typer.Option(
            "--account",
            "-a",
            help="Take the user out of this account (its membership and their roles in its "
            "stacks); with --stack: the account the stack is in.",
        ),
    ] = None,
    stack: Annotated[
        str | None, typer.Option("--stack", "-s", help="Delete the user's role in this stack.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove one of a user's roles: an account membership, or a stack role."""
    if account is None and stack is None:
        raise InvalidInput("name what to remove: --account ACCOUNT or --stack STACK")
    with backend(data_dir) as where:
        removed = where.remove_role(email, account, stack)
    if removed.stack_uid is not None:
        typer.echo(f"Removed {email}'s role {removed.role} in stack {stack!r}")
        return
    extra = f" and {len(removed.stack_roles)} stack role(s) in it" if removed.stack_roles else ""
    role = f" (was {removed.role})" if removed.role else ""
    typer.echo(f"Removed {email} from account {account!r}{role}{extra}")


@users_app.command("set-password")
def users_set_password(
    email: str,
    from_stdin: Annotated[
        bool,
        typer.Option("--stdin", help="Read the password from stdin (one final newline dropped)."),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Set a user's web UI password (asked twice, hidden; or --stdin); ends their sessions."""
    if ClientSettings.load().remote:
        raise InvalidInput("users set-password runs on the server's machine; unset STACKSAFE_ADDR")
    if from_stdin:
        text = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    elif sys.stdin.isatty():
        text = typer.prompt(f"Password for {email}", hide_input=True, confirmation_prompt=True)
    else:
        raise InvalidInput("no password: type it at the prompt (a terminal), or use --stdin")
    from stacksafe.core import principals

    with opened_installation(data_dir) as installation:
        principals.set_password(installation, local_actor(), email, SecretValue(text))
    typer.echo(f"Password set for {email}; their open web sessions were ended.", err=True)


@tokens_app.command("create")
def tokens_create(
    user: Annotated[str, typer.Option("--user", help="The user's email.")],
    scope: Annotated[list[str], typer.Option("--scope", help="public and/or admin.")],
    stack: NarrowStacksOption = None,
    environment: NarrowEnvironmentsOption = None,
    expires_in: Annotated[str | None, typer.Option(help="e.g. 30d, 12h.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Create a token; print it, and only it, on stdout, once: TOKEN=$(stacksafe tokens create)."""
    with backend(data_dir) as where:
        uid, token = where.create_token(user, scope, stack or (), environment or (), expires_in)
        warn_unknown_environments(where, environment or ())
    typer.echo(f"Created token {uid} for {user}; it is shown only now.", err=True)
    sys.stdout.write(token.reveal() + "\n")


@tokens_app.command("list")
def tokens_list(
    user: Annotated[str | None, typer.Option("--user", help="Only this user's (email).")] = None,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """List tokens (never their values)."""
    with backend(data_dir) as where:
        rows = [_token_row(t) for t in where.tokens(user)]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    columns = ["id", "user", "scopes", "stacks", "environments", "expires_at_iso", "revoked_at_iso"]
    print_table(
        [c.upper().removesuffix("_ISO") for c in columns],
        [[str(r[c] or "-") for c in columns] for r in rows],
    )


def _token_row(token: Token) -> dict[str, object]:
    return {
        "id": token.id,
        "user": token.user,
        "scopes": " ".join(token.scopes),
        "stacks": " ".join(token.stacks or ()) or None,
        "environments": " ".join(token.environments or ()) or None,
        "created_at_iso": iso8601(token.created_at),
        "expires_at_iso": None if token.expires_at is None else iso8601(token.expires_at),
        "revoked_at_iso": None if token.revoked_at is None else iso8601(token.revoked_at),
    }


@tokens_app.command("revoke")
def tokens_revoke(token_id: str, data_dir: DataDirOption = None) -> None:
    """Revoke a token by its id (tok_...)."""
    with backend(data_dir) as where:
        where.revoke_token(token_id)
    typer.echo(f"Revoked {token_id}")


@audit_app.command("list")
def audit_list(
    account: Annotated[
        str | None,
        typer.Option("--account", "-a", help="Only this account's events (uid or name)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only events since, ISO 8601, e.g. 2026-11-20T10:00:00Z.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help="Only this actor's (email or local:USER).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Only events that name this secret key.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=1, max=10_000, help="At most this many events, newest first.")
    ] = 50,
    fmt: ListFormatOption = ListFormat.table,
    data_dir: DataDirOption = None,
) -> None:
    """Audit events, newest first."""
    if since is not None:
        try:
            datetime.fromisoformat(since.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"--since {since!r} is not an ISO 8601 time") from None
    with backend(data_dir) as where:
        events = where.audit_events(account, since, actor, key, limit)
    if fmt is ListFormat.json:
        print_json([e.to_json() for e in events])
        return
    print_table(
        ["SEQ", "AT", "ACTOR", "FROM", "ACTION", "OUTCOME", "KEYS"],
        [
            [
                str(e.seq),
                iso8601(e.at),
                e.actor,
                e.source_ip or "-",  # the local CLI's events come from no address
                e.action,
                e.outcome,
                " ".join(f"{k}@{v}" for k, v in _keys_of(e.detail)),
            ]
            for e in events
        ],
    )


def _keys_of(detail: object) -> list[tuple[str, object]]:
    keys = detail.get("keys") if isinstance(detail, dict) else None
    if isinstance(keys, dict):
        return list(keys.items())
    return []


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDirOption = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint file kept elsewhere (another server's, a copy); repeatable.",
        ),
    ] = None,
    expect_head: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-head",
            help="SEQ:HASH the log must still hold, as an earlier verify printed; repeatable.",
        ),
    ] = None,
    no_anchor: Annotated[
        bool,
        typer.Option(
            "--no-anchor",
            help="Accept a log with no checkpoint and no --expect-head (the chain alone: a "
            "cut tail is not seen).",
        ),
    ] = False,
    stream: Annotated[
        list[Path] | None,
        typer.Option(
            "--stream",
            help="Check a sink's JSON-lines file instead (rotated files together, any order); "
            "repeatable.",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="With --stream: the PEM of `audit sinks public-key` (default: this "
            "installation's, on its machine).",
        ),
    ] = None,
) -> None:
    """Walk the hash chain and compare its end with the checkpoints: exit 0 when intact, else
    6 naming the first bad event or the rollback, or saying no checkpoint was found. With
    --stream, check streamed lines: gaps, reordering, edits, duplicates that differ."""
    if stream:
        verify_stream_files(stream, public_key, data_dir)
        return
    if public_key is not None:
        raise InvalidInput("--public-key goes with --stream")
    from stacksafe.core.audit_checkpoint import parse_expected_head

    expected = [parse_expected_head(text) for text in expect_head or []]
    with backend(data_dir) as where:
        report, anchors = where.verify_audit(
            checkpoint or [], [a.text for a in expected], no_anchor
        )
    if report.intact:
        typer.echo(f"Audit log intact: {report.events} events")
        if report.head is not None and anchors is not None:
            typer.echo(f"  head {report.head} (checked against {anchors} checkpoint(s))")
        elif report.head is not None:
            typer.echo(f"  head {report.head}")
        return
    if report.unanchored:
        typer.echo(f"Error: audit log not checked against an anchor: {report.problem}", err=True)
        raise typer.Exit(6)
    at = "" if report.first_bad_seq is None else f" at event {report.first_bad_seq}"
    typer.echo(f"Error: audit log broken{at}: {report.problem}", err=True)
    raise typer.Exit(6)
