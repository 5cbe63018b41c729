"""The web UI's offboarding: the users page with its remove buttons, removing a role or a user
through the forms, a removed user's session refused on its next page, and deleting a stack or
an account from its page (refused while it holds values unless asked to destroy them)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import update

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import create_user, set_password
from stacksafe.core.tenancy import create_stack, list_stacks
from stacksafe.model import SecretValue
from stacksafe.store.schema import users
from tests.actors import LOCAL
from tests.api.helpers import set_local, snapshot
from tests.web.helpers import (
    PASSWORD,
    SAME_ORIGIN,
    WebWorld,
    notice,
    page_csrf,
    sign_in,
    signed_in,
)

# SQLite only (tests/conftest.py, DATABASES): templates and forms over core calls that
# tests/core makes on both databases.
pytestmark = pytest.mark.databases("sqlite")

DEV = "dev@acme.test"


def _post(client: TestClient, path: str, page: str, form: dict[str, str] | None = None) -> Response:
    answer: Response = client.post(
        path, data={**(form or {}), "csrf": page_csrf(client, page)}, headers=SAME_ORIGIN
    )
    return answer


def _owner(web: WebWorld) -> str:
    email = "owner@acme.test"
    create_user(web.installation, LOCAL, email, "acme", "viewer")
    set_password(web.installation, LOCAL, email, SecretValue(PASSWORD))
    with web.installation.store.write() as conn:
        conn.execute(update(users).where(users.c.email == email).values(is_owner=True))
    return email


def _user_id(web: WebWorld, email: str) -> int:
    with web.installation.store.read() as conn:
        found: int = conn.execute(users.select().where(users.c.email == email)).one().id
    return found


def test_an_administrator_sees_the_users_and_removes_a_role(web: WebWorld) -> None:
    create_user(web.installation, LOCAL, DEV, "acme", "developer", {"web": "operation"})
    client = signed_in(web.app, web.admin)
    page = client.get("/users")
    assert page.status_code == 200
    assert DEV in page.text
    assert "web: operation" in page.text
    assert "Remove user" not in page.text  # the server owner's alone
    dev_id = _user_id(web, DEV)

    done = _post(client, f"/users/{dev_id}/stacks/{web.stack.uid}/remove", "/users")
    assert notice(done) == f"Removed {DEV}'s role in stack web."
    done = _post(client, f"/users/{dev_id}/accounts/{web.account.uid}/remove", "/users")
    assert notice(done) == f"Removed {DEV} from account acme."
    assert DEV not in client.get("/users").text
    assert [e.action for e in list_events(web.installation, limit=2)] == [
        "membership.remove",
        "stack_role.remove",
    ]
    before = snapshot(web.installation)
    refused = _post(client, f"/users/{_user_id(web, web.viewer)}/remove", "/users")
    assert notice(refused) == (
        "only the server owner may remove users (account administrators: users remove-role)"
    )
    assert snapshot(web.installation) == before


def test_a_viewer_sees_their_roles_without_remove_buttons(web: WebWorld) -> None:
    page = signed_in(web.app, web.viewer).get("/users")
    assert "acme: viewer" in page.text
    assert "/accounts/" not in page.text  # no form to remove a role
    assert "Remove" not in page.text


def test_a_removed_users_session_fails_on_its_next_page(web: WebWorld) -> None:
    owner = signed_in(web.app, _owner(web))
    victim = signed_in(web.app, web.viewer)
    assert victim.get("/").status_code == 200
    assert "Remove user" in owner.get("/users").text

    done = _post(owner, f"/users/{_user_id(web, web.viewer)}/remove", "/users")

    assert notice(done) == f"Removed {web.viewer}: 0 token(s) revoked, 1 session(s) ended."
    after = victim.get("/", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/sign-in")
    # Nor can they sign in again: their password went with them.
    again = TestClient(web.app, client=("198.51.100.7", 50000))
    refused = sign_in(again, web.viewer)
    assert refused.headers.get("location") != "/"
    assert list_events(web.installation, limit=1)[0].outcome == "denied"


def test_deleting_a_stack_from_its_page(web: WebWorld) -> None:
    set_local(web.installation, web.stack_target, {"A": "1"})
    viewer = signed_in(web.app, web.viewer)
    assert "Delete stack" not in viewer.get(web.stack_url).text
    client = signed_in(web.app, web.admin)
    assert "Delete stack" in client.get(web.stack_url).text
    before = snapshot(web.installation)

    refused = _post(client, f"{web.stack_url}/delete", web.stack_url)
    assert notice(refused) == (
        "stack 'web' holds values of 1 key(s) (A), current or in history; nothing was deleted: "
        "give --force to destroy them and delete it"
    )
    assert snapshot(web.installation) == before
    done = _post(client, f"{web.stack_url}/delete", web.stack_url, {"force": "yes"})
    assert notice(done) == "Deleted stack web; the values of 1 key(s) were destroyed first."
    assert list_stacks(web.installation, LOCAL) == []
    assert client.get(web.stack_url).status_code == 404


def test_deleting_an_account_is_offered_to_the_server_owner_only(web: WebWorld) -> None:
    create_stack(web.installation, LOCAL, "acme", "api", "staging")
    admin = signed_in(web.app, web.admin)
    assert "Delete account" not in admin.get(web.account_url).text
    refused = _post(admin, f"{web.account_url}/delete", web.account_url, {"force": "yes"})
    assert notice(refused) == "only the server owner may delete accounts"
    owner = signed_in(web.app, _owner(web))
    assert "Delete account" in owner.get(web.account_url).text
    done = _post(owner, f"{web.account_url}/delete", web.account_url)
    assert notice(done) == "Deleted account acme."
    assert list_stacks(web.installation, LOCAL) == []
