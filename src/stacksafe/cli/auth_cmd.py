"""`stacksafe auth jwt`: the issuers and roles of workload logins (docs/identity.md), configured
by the server owner on the machine that holds the master key, like `users set-password`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.auth_oidc_cmd import oidc_app
from stacksafe.cli.common import (
    DataDirOption,
    NarrowEnvironmentsOption,
    NarrowStacksOption,
    local_actor,
)
from stacksafe.cli.local import server_side
from stacksafe.cli.output import ListFormat, ListFormatOption, print_json, print_table
from stacksafe.errors import InvalidInput
from stacksafe.model import iso8601

if TYPE_CHECKING:
    from stacksafe.core.installation import Installation
    from stacksafe.core.workload.issuers import StoredIssuer
    from stacksafe.core.workload.roles import ClaimBinding, StoredRole

__all__ = ["auth_app", "server_side"]

auth_app = typer.Typer(help="How workloads and people log in.")
jwt_app = typer.Typer(
    help="Workload logins with a JWT (GitHub Actions, Kubernetes, any OIDC issuer)."
)
auth_app.add_typer(jwt_app, name="jwt")
auth_app.add_typer(oidc_app, name="oidc")


@jwt_app.command("add-issuer")
def add_issuer(
    name: str,
    issuer: Annotated[
        str,
        typer.Option(
            "--issuer",
            help="The issuer's URL, as its tokens' iss (github-actions: GitHub's).",
        ),
    ],
    discovery: Annotated[
        bool, typer.Option("--discovery", help="Keys from ISSUER/.well-known/openid-configuration.")
    ] = False,
    jwks_url: Annotated[
        str | None, typer.Option("--jwks-url", help="Keys from this JWK set URL.")
    ] = None,
    jwks_file: Annotated[
        Path | None,
        typer.Option(
            "--jwks-file", help="Keys from this file (kubectl get --raw /openid/v1/jwks)."
        ),
    ] = None,
    audience: Annotated[
        list[str] | None,
        typer.Option("--audience", help="Roles may bind only these audiences; repeatable."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Trust an issuer's tokens (its public keys are fetched or read now)."""
    from stacksafe.core.workload.issuers import IssuerSource
    from stacksafe.core.workload.issuers import add_issuer as add

    chosen = [c for c in (discovery, jwks_url is not None, jwks_file is not None) if c]
    if len(chosen) != 1:
        raise InvalidInput("give exactly one of --discovery, --jwks-url URL or --jwks-file FILE")
    if discovery:
        source = IssuerSource("discovery")
    elif jwks_url is not None:
        source = IssuerSource("jwks_url", url=jwks_url)
    else:
        assert jwks_file is not None  # noqa: S101 - one of the three, checked above
        try:
            text = jwks_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"--jwks-file {jwks_file}: {type(exc).__name__}") from None
        source = IssuerSource("file", jwks_text=text)
    with server_side(data_dir) as installation:
        stored = add(
            installation,
            local_actor(),
            name,
            issuer=issuer,
            source=source,
            audiences=audience or (),
        )
    typer.echo(f"Issuer {name!r} added: {stored.issuer}", err=True)


def _issuer_row(issuer: StoredIssuer) -> dict[str, object]:
    import json

    keys = json.loads(issuer.jwks).get("keys", [])
    return {
        "name": issuer.name,
        "issuer": issuer.issuer,
        "keys_from": issuer.keys_from,
        "keys_url": issuer.keys_url,
        "key_ids": [k.get("kid", "") for k in keys],
        "audiences": None if issuer.audiences is None else list(issuer.audiences),
        "updated_at_iso": iso8601(issuer.updated_at),
    }


@jwt_app.command("list-issuers")
def list_issuers(fmt: ListFormatOption = ListFormat.table, data_dir: DataDirOption = None) -> None:
    """The issuers workloads may log in with."""
    from stacksafe.core.workload.issuers import list_issuers as listed

    with server_side(data_dir) as installation:
        rows = [_issuer_row(i) for i in listed(installation, local_actor())]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    print_table(
        ["NAME", "ISSUER", "KEYS FROM", "KEYS"],
        [
            [str(r["name"]), str(r["issuer"]), str(r["keys_from"]), str(len(r["key_ids"]))]  # type: ignore[arg-type]
            for r in rows
        ],
    )


@jwt_app.command("show-issuer")
def show_issuer(name: str, data_dir: DataDirOption = None) -> None:
    """One issuer, as JSON."""
    from stacksafe.core.workload.issuers import find_issuer

    with server_side(data_dir) as installation:
        print_json(_issuer_row(find_issuer(installation, local_actor(), name)))


@jwt_app.command("remove-issuer")
def remove_issuer(name: str, data_dir: DataDirOption = None) -> None:
    """Stop trusting an issuer (refused while roles use it)."""
    from stacksafe.core.workload.issuers import remove_issuer as remove

    with server_side(data_dir) as installation:
        remove(installation, local_actor(), name)
    typer.echo(f"Issuer {name!r} removed", err=True)


def _bindings(exact: list[str], globs: list[str]) -> list[ClaimBinding]:
    from stacksafe.core.workload.roles import ClaimBinding

    merged: dict[tuple[str, bool], list[str]] = {}
    for items, glob in ((exact, False), (globs, True)):
        option = "--claim-glob" if glob else "--claim"
        for item in items:
            claim, sep, value = item.partition("=")
            if not sep or not claim or not value:
                raise InvalidInput(f"{option} {item!r} must be KEY=VALUE")
            merged.setdefault((claim, glob), []).append(value)
    return [ClaimBinding(claim, glob, tuple(values)) for (claim, glob), values in merged.items()]


@jwt_app.command("add-role")
def add_role(
    name: str,
    issuer: Annotated[str, typer.Option("--issuer", help="The issuer's name (add-issuer).")],
    audience: Annotated[
        list[str], typer.Option("--audience", help="An audience the token must name; repeatable.")
    ],
    account: Annotated[str, typer.Option("--account", "-a", help="Account uid or name.")],
    role: Annotated[
        str, typer.Option("--role", help="The account role: viewer ... administrator.")
    ],
    claim: Annotated[
        list[str] | None,
        typer.Option("--claim", help="KEY=VALUE the token must carry; repeatable (same KEY: or)."),
    ] = None,
    claim_glob: Annotated[
        list[str] | None,
        typer.Option("--claim-glob", help="KEY=PATTERN, * matching anything; repeatable."),
    ] = None,
    stack: NarrowStacksOption = None,
    environment: NarrowEnvironmentsOption = None,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="public and/or admin (default both).")
    ] = None,
    ttl: Annotated[str, typer.Option(help="The issued token's lifetime.")] = "15m",
    max_ttl: Annotated[str, typer.Option("--max-ttl", help="The longest ttl allowed.")] = "1h",
    refuse_replay: Annotated[
        bool,
        typer.Option("--refuse-replay", help="Refuse a token whose jti was used before."),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Let tokens of an issuer with these claims log in, as this account role."""
    from stacksafe.core.validation import parse_duration
    from stacksafe.core.workload.roles import RoleGrant
    from stacksafe.core.workload.roles import add_role as add

    grant = RoleGrant(
        account=account,
        role=role,
        stacks=stack or (),
        environments=environment or (),
        scopes=scope or ("public", "admin"),
        ttl=parse_duration(ttl, "--ttl"),
        max_ttl=parse_duration(max_ttl, "--max-ttl"),
    )
    with server_side(data_dir) as installation:
        add(
            installation,
            local_actor(),
            name,
            issuer=issuer,
            audiences=audience,
            claims=_bindings(claim or [], claim_glob or []),
            grant=grant,
            refuse_replay=refuse_replay,
        )
    typer.echo(f"Role {name!r} added: it logs in as {role} in account {account!r}", err=True)


def _role_row(
    role: StoredRole, issuers: dict[int, str], accounts: dict[int, str]
) -> dict[str, object]:
    return {
        "name": role.name,
        "issuer": issuers.get(role.issuer_id, ""),
        "audiences": list(role.audiences),
        "claims": [
            {"claim": b.claim, "glob": b.glob, "values": list(b.values)} for b in role.claims
        ],
        "account": accounts.get(role.account_id, ""),
        "role": role.role,
        "stacks": None if role.stack_uids is None else list(role.stack_uids),
        "environments": None if role.environments is None else list(role.environments),
        "scopes": list(role.scopes),
        "ttl_seconds": role.ttl_seconds,
        "max_ttl_seconds": role.max_ttl_seconds,
        "refuse_replay": role.refuse_replay,
    }


def _names(installation: Installation) -> tuple[dict[int, str], dict[int, str]]:
    from stacksafe.core.tenancy import list_accounts
    from stacksafe.core.workload.issuers import list_issuers as issuers

    actor = local_actor()
    return (
        {i.id: i.name for i in issuers(installation, actor)},
        {a.id: a.name for a in list_accounts(installation, actor)},
    )


@jwt_app.command("list-roles")
def list_roles(fmt: ListFormatOption = ListFormat.table, data_dir: DataDirOption = None) -> None:
    """The roles workloads may log in as."""
    from stacksafe.core.workload.roles import list_roles as listed

    with server_side(data_dir) as installation:
        issuers, accounts = _names(installation)
        rows = [_role_row(r, issuers, accounts) for r in listed(installation, local_actor())]
    if fmt is ListFormat.json:
        print_json(rows)
        return
    print_table(
        ["NAME", "ISSUER", "ACCOUNT", "ROLE", "AUDIENCES", "TTL"],
        [
            [
                str(r["name"]),
                str(r["issuer"]),
                str(r["account"]),
                str(r["role"]),
                " ".join(r["audiences"]),  # type: ignore[arg-type]
                f"{r['ttl_seconds']}s",
            ]
            for r in rows
        ],
    )


@jwt_app.command("show-role")
def show_role(name: str, data_dir: DataDirOption = None) -> None:
    """One role, as JSON."""
    from stacksafe.core.workload.roles import find_role

    with server_side(data_dir) as installation:
        issuers, accounts = _names(installation)
        print_json(_role_row(find_role(installation, local_actor(), name), issuers, accounts))


@jwt_app.command("remove-role")
def remove_role(name: str, data_dir: DataDirOption = None) -> None:
    """Remove a role; every token its logins issued is revoked at once."""
    from stacksafe.core.workload.roles import remove_role as remove

    with server_side(data_dir) as installation:
        revoked = remove(installation, local_actor(), name)
    typer.echo(f"Role {name!r} removed; {len(revoked)} token(s) revoked", err=True)
