"""`stacksafe auth oidc`: people sign in to the web UI with an OpenID provider (docs/identity.md,
"People: single sign-on"), configured by the server owner on the server's machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stacksafe.cli.common import DataDirOption, local_actor
from stacksafe.cli.output import print_json
from stacksafe.errors import InvalidInput
from stacksafe.model import iso8601

if TYPE_CHECKING:
    from stacksafe.core.oidc.provider import GroupRole, StoredProvider

__all__ = ["oidc_app"]

oidc_app = typer.Typer(help="People sign in to the web UI with an OpenID provider (SSO).")


def _secret_from(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"--client-secret-file {path}: {type(exc).__name__}") from None
    # One final line break is the file's (echo, editors), not the secret's.
    return text.removesuffix("\n").removesuffix("\r")


@oidc_app.command("configure")
def configure(
    issuer: Annotated[str, typer.Option("--issuer", help="The provider's URL (its tokens' iss).")],
    client_id: Annotated[str, typer.Option("--client-id", help="This server's client id.")],
    client_secret_file: Annotated[
        Path, typer.Option("--client-secret-file", help="A file holding the client secret.")
    ],
    groups_claim: Annotated[
        str | None,
        typer.Option("--groups-claim", help="The ID token's claim that lists the groups."),
    ] = None,
    map_group: Annotated[
        list[str] | None,
        typer.Option("--map-group", help="GROUP=ACCOUNT:ROLE, applied at every sign-in."),
    ] = None,
    allowed_domain: Annotated[
        list[str] | None,
        typer.Option("--allowed-domain", help="Only emails of this domain; repeatable."),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="A scope to ask for besides openid, email, profile."),
    ] = None,
    password_sign_in: Annotated[
        bool,
        typer.Option(
            "--password-sign-in/--no-password-sign-in",
            help="Whether people may still sign in with a password.",
        ),
    ] = True,
    data_dir: DataDirOption = None,
) -> None:
    """Configure (or replace) the provider; its discovery document and keys are fetched now."""
    from stacksafe.cli.auth_cmd import server_side
    from stacksafe.core.oidc.provider import GroupMapping, ProviderSettings, configure_provider
    from stacksafe.model import SecretValue

    settings = ProviderSettings(
        issuer=issuer,
        client_id=client_id,
        client_secret=SecretValue(_secret_from(client_secret_file)),
        groups_claim=groups_claim,
        mappings=[GroupMapping.parse(m) for m in map_group or ()],
        allowed_domains=allowed_domain or (),
        password_sign_in=password_sign_in,
        scopes=scope or (),
    )
    with server_side(data_dir, "auth oidc") as installation:
        stored = configure_provider(installation, local_actor(), settings)
    typer.echo(
        f"Single sign-on configured with {stored.issuer} (client {stored.client_id!r}); "
        f"password sign-in {'on' if stored.password_sign_in else 'off'}",
        err=True,
    )


def _row(provider: StoredProvider, roles: list[GroupRole]) -> dict[str, object]:
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": "(sealed)",
        "authorization_endpoint": provider.authorization_endpoint,
        "token_endpoint": provider.token_endpoint,
        "token_auth_method": provider.token_auth_method,
        "jwks_uri": provider.jwks_uri,
        "scopes": list(provider.scopes),
        "groups_claim": provider.groups_claim,
        "group_roles": [
            {"group": r.group, "account": r.account_name, "role": r.role} for r in roles
        ],
        "allowed_domains": None
        if provider.allowed_domains is None
        else list(provider.allowed_domains),
        "password_sign_in": provider.password_sign_in,
        "updated_at_iso": iso8601(provider.updated_at),
    }


@oidc_app.command("show")
def show(data_dir: DataDirOption = None) -> None:
    """The provider's configuration, as JSON (never the client secret)."""
    from stacksafe.cli.auth_cmd import server_side
    from stacksafe.core.oidc.provider import show_provider

    with server_side(data_dir, "auth oidc") as installation:
        print_json(_row(*show_provider(installation, local_actor())))


@oidc_app.command("remove")
def remove(data_dir: DataDirOption = None) -> None:
    """Stop single sign-on (users, their roles and open sessions stay)."""
    from stacksafe.cli.auth_cmd import server_side
    from stacksafe.core.oidc.provider import remove_provider

    with server_side(data_dir, "auth oidc") as installation:
        remove_provider(installation, local_actor())
    typer.echo("Single sign-on removed; password sign-in is on", err=True)
