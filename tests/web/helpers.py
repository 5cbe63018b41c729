"""Helpers for the web UI's HTTP-level tests: users with passwords, signed-in clients, CSRF."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from stacksafe.api import create_app
from stacksafe.core.installation import Installation
from stacksafe.core.principals import create_user, set_password
from stacksafe.core.sessions import SessionPolicy
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import Account, SecretValue, Stack
from tests.actors import LOCAL

PASSWORD = "correct horse battery staple"
BASE = "http://testserver"
SAME_ORIGIN = {"Origin": BASE}
_CSRF = re.compile(r'name="csrf" value="([^"]*)"')


def csrf_in(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


def user_with_password(
    installation: Installation, email: str, role: str, stack_roles: dict[str, str] | None = None
) -> str:
    create_user(installation, LOCAL, email, "acme", role, stack_roles)
    set_password(installation, LOCAL, email, SecretValue(PASSWORD))
    return email


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    """The sign-in form as a browser fills it: GET for its token, POST from the same origin."""
    page = client.get("/sign-in")
    answer: Response = client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf": csrf_in(page.text)},
        headers={"Origin": str(client.base_url).rstrip("/")},
        follow_redirects=False,
    )
    return answer


def signed_in(app: FastAPI, email: str, base_url: str = BASE) -> TestClient:
    client = TestClient(app, base_url=base_url, client=("198.51.100.7", 50000))
    answer = sign_in(client, email)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/"
    return client


def page_csrf(client: TestClient, path: str = "/") -> str:
    return csrf_in(client.get(path).text)


def notice(response: Response) -> str | None:
    found = re.search(r'class="notice [a-z]+"[^>]*>([^<]*)<', response.text)
    return None if found is None else html.unescape(found.group(1))


@dataclass
class WebWorld:
    """Account ``acme`` with stack ``web`` (production); an administrator and a viewer of
    ``acme``, both with passwords; the app with a 10-minute idle timeout."""

    installation: Installation
    app: FastAPI
    account: Account
    stack: Stack
    admin: str
    viewer: str

    @property
    def account_target(self) -> Target:
        return Target(self.account)

    @property
    def stack_target(self) -> Target:
        return Target(self.account, self.stack)

    @property
    def stack_url(self) -> str:
        return f"/stacks/{self.stack.uid}"

    @property
    def account_url(self) -> str:
        return f"/accounts/{self.account.uid}"


IDLE = 10  # minutes


def build_web_world(installation: Installation) -> WebWorld:
    account = create_account(installation, LOCAL, "acme")
    stack = create_stack(installation, LOCAL, "acme", "web", "production")
    admin = user_with_password(installation, "admin@acme.test", "administrator")
    viewer = user_with_password(installation, "viewer@acme.test", "viewer")
    app = create_app(installation, web_policy=SessionPolicy(idle_timeout=timedelta(minutes=IDLE)))
    return WebWorld(installation, app, account, stack, admin, viewer)
