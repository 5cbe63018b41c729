"""Helpers for the API tests: users with tokens, clients, the error envelope, state snapshots,
and a raw ASGI request for what an HTTP client would normalise away (``..`` in a path, bytes
outside ASCII in a header).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from starlette.types import Message

from stacksafe.api import create_app
from stacksafe.core.installation import Installation
from stacksafe.core.principals import CreatedToken, create_token, create_user
from stacksafe.core.secrets import list_secrets, set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack, list_accounts, list_stacks
from stacksafe.model import Account, SecretValue, Stack
from tests.actors import LOCAL
from tests.tables import CHANGEABLE_TABLES, raw_rows

ENVELOPE_FIELDS = {"error", "error_description", "details"}
SECRET_FIELDS = {"key", "value", "raw_value", "inherited", "created_at_iso", "updated_at_iso"}
BOTH_SCOPES = ("public", "admin")


def assert_error(response: Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The Cloud66 error body, exactly its three fields, with ``status`` (and ``code``)."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict)
    assert set(body) == ENVELOPE_FIELDS, body
    assert isinstance(body["error"], str)
    assert body["error"]
    assert isinstance(body["error_description"], str)
    assert body["error_description"]
    assert body["details"]
    if code is not None:
        assert body["error"] == code, body
    return body


def user_with_token(
    installation: Installation,
    email: str,
    account: str,
    role: str,
    *,
    scopes: Sequence[str] = BOTH_SCOPES,
    stack_roles: Mapping[str, str] | None = None,
    stacks: Sequence[str] = (),
    environments: Sequence[str] = (),
    expires_in: timedelta | None = None,
) -> CreatedToken:
    """Create (or extend) ``email`` with ``role`` in ``account`` and give it a fresh token."""
    create_user(installation, LOCAL, email, account, role, stack_roles)
    return create_token(
        installation,
        LOCAL,
        email,
        scopes=scopes,
        stacks=stacks,
        environments=environments,
        expires_in=expires_in,
    )


def client_for(
    app: FastAPI,
    token: str | None,
    *,
    address: str = "testclient",
    raise_server_exceptions: bool = False,
) -> TestClient:
    """A client sending ``token`` from ``address``; a 500 comes back as a response by default."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return TestClient(
        app,
        headers=headers,
        client=(address, 50000),
        raise_server_exceptions=raise_server_exceptions,
    )


def set_local(installation: Installation, target: Target, values: Mapping[str, str]) -> None:
    """Seed secrets as the local operator (not through the API under test)."""
    for key, value in values.items():
        set_secret(installation, LOCAL, target, key, SecretValue(value))


def table_rows(installation: Installation) -> dict[str, list[tuple[Any, ...]]]:
    """The raw rows of every table a secret, stack or user operation may change (no audit)."""
    with installation.store.read() as conn:
        return {table.name: raw_rows(conn, table) for table in CHANGEABLE_TABLES}


def revealed(installation: Installation) -> dict[str, list[tuple[str, int, str | None, bool]]]:
    """Every level's secrets as the local operator reveals them: key, version, value, inherited."""
    state: dict[str, list[tuple[str, int, str | None, bool]]] = {}
    for account in list_accounts(installation, LOCAL):
        levels = [Target(account)] + [
            Target(account, s) for s in list_stacks(installation, LOCAL, account.uid)
        ]
        for level in levels:
            state[level.describe()] = [
                (
                    s.key,
                    s.version,
                    None if s.raw_value is None else s.raw_value.reveal(),
                    s.inherited,
                )
                for s in list_secrets(installation, LOCAL, level, reveal=True)
            ]
    return state


def snapshot(installation: Installation) -> dict[str, object]:
    """Revealed values of every level plus the raw rows: equal before and after = no change."""
    return {"revealed": revealed(installation), "rows": table_rows(installation)}


@dataclass
class World:
    """Account ``acme`` with stack ``web`` (production), and an administrator of ``acme``
    whose token has both scopes; ``client`` speaks for that administrator."""

    installation: Installation
    app: FastAPI
    account: Account
    stack: Stack
    admin_email: str
    admin_token: CreatedToken
    client: TestClient

    @property
    def account_target(self) -> Target:
        return Target(self.account)

    @property
    def stack_target(self) -> Target:
        return Target(self.account, self.stack)

    def stack_url(self, key: str | None = None) -> str:
        base = f"/api/3/stacks/{self.stack.uid}/secrets"
        return base if key is None else f"{base}/{key}"

    def account_url(self, key: str | None = None) -> str:
        base = f"/api/3/accounts/{self.account.uid}/secrets"
        return base if key is None else f"{base}/{key}"


def build_world(installation: Installation, *, rate_limit: int | None = None) -> World:
    account = create_account(installation, LOCAL, "acme")
    stack = create_stack(installation, LOCAL, "acme", "web", "production")
    email = "admin@acme.test"
    token = user_with_token(installation, email, "acme", "administrator")
    app = (
        create_app(installation)
        if rate_limit is None
        else create_app(installation, rate_limit=rate_limit)
    )
    return World(installation, app, account, stack, email, token, client_for(app, token.token))


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    app: FastAPI,
    method: str,
    path: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> RawResponse:
    """Call the ASGI app with exactly this path and these header bytes (no client rewriting).

    ``path`` is what a server puts in the scope: percent-decoded, dot segments left alone.
    """
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("utf-8"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("testclient", 50000),
        "server": ("testserver", 80),
    }
    sent: list[Message] = []
    request_done = False

    async def receive() -> Message:
        nonlocal request_done
        if request_done:
            return {"type": "http.disconnect"}
        request_done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    async def run() -> None:
        # The server error middleware answers 500, then re-raises for the server to log.
        with contextlib.suppress(Exception):
            await app(scope, receive, send)

    anyio.run(run)
    start = next(m for m in sent if m["type"] == "http.response.start")
    return RawResponse(
        status=start["status"],
        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]},
        body=b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"),
    )


def assert_raw_error(response: RawResponse, status_range: range = range(400, 500)) -> None:
    """A 4xx carrying the error envelope."""
    assert response.status in status_range, (response.status, response.body)
    body = response.json()
    assert set(body) == ENVELOPE_FIELDS, body
