"""`stacksafe login`: a workload's JWT exchanged for a short-lived token (docs/identity.md)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from stacksafe.errors import ConfigurationError
from stacksafe.settings import ClientSettings

__all__ = ["login"]


def login(
    role: Annotated[
        str | None,
        typer.Option("--role", envvar="STACKSAFE_JWT_ROLE", help="The JWT role to log in as."),
    ] = None,
    jwt_file: Annotated[
        str | None,
        typer.Option(
            "--jwt-file",
            envvar="STACKSAFE_JWT_FILE",
            help="The JWT's file (- for stdin), e.g. a service-account token.",
        ),
    ] = None,
) -> None:
    """Log in to STACKSAFE_ADDR with a JWT; print the token, and only it, on stdout:
    export STACKSAFE_TOKEN=$(stacksafe login --role ci --jwt-file -)."""
    settings = ClientSettings.load()
    if not settings.address:
        raise ConfigurationError("stacksafe login needs the server's address in STACKSAFE_ADDR")
    if not role or not jwt_file:
        raise ConfigurationError("give --role and --jwt-file (or STACKSAFE_JWT_ROLE/_FILE)")
    from stacksafe.client import Client, JwtLogin

    login = JwtLogin(role, jwt_file)
    with Client(settings.address, login, ca_bundle=settings.ca_bundle) as client:
        token = client.bearer()
    typer.echo(f"Logged in as role {role!r}; the token is shown only now.", err=True)
    sys.stdout.write(token + "\n")
