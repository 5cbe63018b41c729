"""Every state-changing form needs this site's Origin (or Referer) and the session's CSRF token;
a refused form changes nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stacksafe.core.principals import create_token
from tests.actors import LOCAL
from tests.api.helpers import set_local, snapshot
from tests.web.helpers import BASE, SAME_ORIGIN, WebWorld, page_csrf, signed_in

# SQLite only (tests/conftest.py, DATABASES): the Origin and CSRF checks of forms are the web
# layer's, the same on either database.
pytestmark = pytest.mark.databases("sqlite")


def _forms(web: WebWorld, token_uid: str) -> list[tuple[str, dict[str, str]]]:
    stack, account = web.stack_url, web.account_url
    return [
        (f"{stack}/secrets/SHARED/reveal", {}),  # a reveal is audited: the snapshot shows it
        (f"{account}/secrets/SHARED/reveal", {}),
        (f"/tokens/{token_uid}/revoke", {}),
        (f"{stack}/secrets", {"key": "NEW_KEY", "value": "v-1"}),
        (f"{stack}/secrets/SHARED/delete", {}),
        (f"{account}/secrets", {"key": "SHARED", "value": "changed"}),
        (f"{stack}/import", {"dotenv": "A=1\nB=2\n"}),
        (f"{account}/stacks", {"name": "api", "environment": "staging"}),
        ("/accounts", {"name": "other"}),
        ("/tokens", {"scopes": "public"}),
        (f"{account}/secrets/SHARED/rollback", {"to_version": "1"}),
    ]


@pytest.fixture
def seeded(web: WebWorld) -> WebWorld:
    set_local(web.installation, web.account_target, {"SHARED": "account value"})
    set_local(web.installation, web.stack_target, {"SHARED": "stack value"})
    set_local(web.installation, web.account_target, {"SHARED": "account value 2"})
    return web


@pytest.fixture
def token_uid(seeded: WebWorld) -> str:
    """An API token of the administrator, for the revoke form."""
    return create_token(seeded.installation, LOCAL, seeded.admin, scopes=["public"]).uid


@pytest.mark.parametrize(
    ("case", "headers"),
    [
        ("missing token", SAME_ORIGIN),
        ("wrong token", SAME_ORIGIN),
        ("another origin", {"Origin": "https://evil.example"}),
        ("no origin nor referer", {}),
        ("referer of another site", {"Referer": "https://evil.example/page"}),
        # This site's origin as a prefix of another host's name is another site.
        ("lookalike referer", {"Referer": f"{BASE}.evil.example/page"}),
        ("lookalike origin", {"Origin": f"{BASE}.evil.example"}),
        ("referer of another port", {"Referer": f"{BASE}:8080/page"}),
    ],
)
def test_a_refused_form_changes_nothing(
    seeded: WebWorld, token_uid: str, case: str, headers: dict[str, str]
) -> None:
    client = signed_in(seeded.app, seeded.admin)
    good = page_csrf(client)
    before = snapshot(seeded.installation)
    for path, form in _forms(seeded, token_uid):
        token = {"missing token": None, "wrong token": "0" * 64}.get(case, good)
        data = form if token is None else {**form, "csrf": token}
        answer = client.post(path, data=data, headers=headers, follow_redirects=False)
        assert answer.status_code == 403, (case, path, answer.status_code)
        assert "text/html" in answer.headers["content-type"]
    assert snapshot(seeded.installation) == before


def test_the_token_of_another_session_is_refused(seeded: WebWorld) -> None:
    mine = signed_in(seeded.app, seeded.admin)
    theirs = signed_in(seeded.app, seeded.admin)
    before = snapshot(seeded.installation)
    answer = mine.post(
        f"{seeded.stack_url}/secrets",
        data={"key": "X", "value": "y", "csrf": page_csrf(theirs)},
        headers=SAME_ORIGIN,
    )
    assert answer.status_code == 403
    assert snapshot(seeded.installation) == before


def test_a_same_site_referer_without_origin_is_accepted(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    answer = client.post(
        f"{seeded.stack_url}/secrets",
        data={"key": "FROM_REFERER", "value": "ok", "csrf": page_csrf(client)},
        headers={"Referer": f"{BASE}{seeded.stack_url}"},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def test_sign_out_needs_the_token_too(seeded: WebWorld) -> None:
    client = signed_in(seeded.app, seeded.admin)
    answer = client.post("/sign-out", data={}, headers=SAME_ORIGIN, follow_redirects=False)
    assert answer.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_forms_of_someone_not_signed_in_go_to_sign_in(seeded: WebWorld) -> None:
    before = snapshot(seeded.installation)
    anonymous = TestClient(seeded.app, base_url=BASE)
    answer = anonymous.post(
        f"{seeded.stack_url}/secrets",
        data={"key": "X", "value": "y", "csrf": "x"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"
    assert snapshot(seeded.installation) == before
