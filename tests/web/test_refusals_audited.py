"""Refusals in the web UI are audited like the API's: a form refused by the Origin or CSRF check
(signed in or not, the sign-in form included) and a read of the audit log without the role for
it are each one ``denied`` event, with no form field (a value, a password) in it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stacksafe.core.audit_events import list_events
from stacksafe.model import AuditEvent
from tests.web.helpers import BASE, PASSWORD, SAME_ORIGIN, WebWorld, csrf_in, page_csrf, signed_in

# SQLite only (tests/conftest.py, DATABASES): that each refusal is one audit event is the face's
# doing; writing and listing the events is core's, on both databases in tests/core/test_audit*.py.
pytestmark = pytest.mark.databases("sqlite")

SECRET_TYPED = "typed-into-the-refused-form"


def _events(web: WebWorld) -> list[AuditEvent]:
    return list(list_events(web.installation, limit=1000))


def _added(web: WebWorld, before: list[AuditEvent]) -> list[AuditEvent]:
    after = _events(web)  # newest first
    return after[: len(after) - len(before)]


@pytest.mark.parametrize(
    ("token", "headers"),
    [
        ("wrong", SAME_ORIGIN),
        ("good", {"Origin": "https://evil.example"}),
        ("good", {}),
    ],
)
def test_a_refused_form_is_one_denied_event(
    web: WebWorld, token: str, headers: dict[str, str]
) -> None:
    client = signed_in(web.app, web.admin)
    csrf = page_csrf(client) if token == "good" else "0" * 64
    before = _events(web)
    answer = client.post(
        f"{web.stack_url}/secrets",
        data={"key": "NEW_KEY", "value": SECRET_TYPED, "csrf": csrf},
        headers=headers,
        follow_redirects=False,
    )
    assert answer.status_code == 403
    added = _added(web, before)
    assert [(e.actor, e.action, e.outcome) for e in added] == [(web.admin, "web.form", "denied")]
    assert added[0].token_uid is not None
    assert added[0].token_uid.startswith("web_")
    assert SECRET_TYPED not in str(added[0].to_json())


def test_a_sign_in_from_another_site_is_one_anonymous_denied_event(web: WebWorld) -> None:
    client = TestClient(web.app, base_url=BASE)
    form = {"email": web.admin, "password": PASSWORD, "csrf": csrf_in(client.get("/sign-in").text)}
    before = _events(web)
    answer = client.post(
        "/sign-in", data=form, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert answer.status_code == 403
    added = _added(web, before)
    assert [(e.actor, e.action, e.outcome) for e in added] == [
        ("web:anonymous", "web.form", "denied")
    ]
    assert PASSWORD not in str(added[0].to_json())
    assert web.admin not in str(added[0].to_json())  # the email as typed is not recorded


def test_a_sign_in_with_a_stale_form_is_one_denied_event(web: WebWorld) -> None:
    client = TestClient(web.app, base_url=BASE)
    client.get("/sign-in")
    before = _events(web)
    answer = client.post(
        "/sign-in",
        data={"email": web.admin, "password": PASSWORD, "csrf": "stale"},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert answer.status_code == 303  # back to the form, with a notice
    added = _added(web, before)
    assert [(e.actor, e.action, e.outcome) for e in added] == [
        ("web:anonymous", "web.form", "denied")
    ]
    assert PASSWORD not in str(added[0].to_json())


@pytest.mark.parametrize("query", ["", "?account=acme"])
def test_a_viewer_reading_the_audit_log_is_one_denied_event(web: WebWorld, query: str) -> None:
    client = signed_in(web.app, web.viewer)
    before = _events(web)
    answer = client.get(f"/audit{query}")
    assert answer.status_code == 403
    added = _added(web, before)
    assert [(e.actor, e.action, e.outcome) for e in added] == [(web.viewer, "read_audit", "denied")]


def test_a_flood_of_forged_anonymous_forms_is_a_few_counted_events(web: WebWorld) -> None:
    """Another site can make visiting browsers post as many forms as it likes: anonymous
    refusals from one address are recorded at the 1st, 2nd, 4th, 8th ... with the count, so
    20 forged sign-ins are 5 events, not 20; every one of them is still refused."""
    client = TestClient(web.app, base_url=BASE)
    form = {"email": web.admin, "password": PASSWORD, "csrf": csrf_in(client.get("/sign-in").text)}
    before = _events(web)
    for _ in range(20):
        answer = client.post(
            "/sign-in",
            data=form,
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert answer.status_code == 403
    added = _added(web, before)
    assert [(e.actor, e.action, e.outcome) for e in added] == [
        ("web:anonymous", "web.form", "denied")
    ] * 5
    assert sorted(e.detail["failures"] for e in added) == [1, 2, 4, 8, 16]
    assert all(PASSWORD not in str(e.to_json()) for e in added)
