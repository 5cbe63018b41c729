"""Signing in and out, and what ends a session: sign-out, the idle timeout, its lifetime, a new
password. A session that ended is ended on the server: its cookie, replayed, does nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import create_user, set_password
from stacksafe.core.sessions import SessionPolicy
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.clock import Clock
from tests.web.helpers import (
    BASE,
    IDLE,
    PASSWORD,
    SAME_ORIGIN,
    WebWorld,
    notice,
    page_csrf,
    sign_in,
    signed_in,
)


def test_sign_in_sets_an_http_only_strict_cookie_and_is_audited(web: WebWorld) -> None:
    client = TestClient(web.app, base_url=BASE)
    answer = sign_in(client, web.admin)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("stacksafe_session=sss_")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would not come back
    assert client.get("/").status_code == 200
    event = list_events(web.installation, actor=web.admin, limit=1)[0]
    assert event.action == "session.start"
    assert event.token_uid is not None
    assert event.token_uid.startswith("web_")


def test_under_tls_the_cookie_is_secure_and_host_prefixed(web: WebWorld) -> None:
    client = TestClient(web.app, base_url="https://testserver")
    answer = sign_in(client, web.admin)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-stacksafe_session=sss_")
    assert "Secure" in cookie
    assert client.get("/").status_code == 200
    out = client.post(
        "/sign-out",
        data={"csrf": page_csrf(client)},
        headers={"Origin": "https://testserver"},
        follow_redirects=False,
    )
    cleared = [c for c in out.headers.get_list("set-cookie") if "stacksafe_session" in c]
    # A browser drops a __Host- cookie only when the deletion is Secure too.
    assert len(cleared) == 1
    assert cleared[0].startswith('__Host-stacksafe_session=""')
    assert "Max-Age=0" in cleared[0]
    assert "Secure" in cleared[0]


def test_a_wrong_password_or_unknown_user_gets_one_message_and_no_session(web: WebWorld) -> None:
    client = TestClient(web.app, base_url=BASE)
    for email, password in ((web.admin, "wrong password!"), ("nobody@acme.test", "whatever1234")):
        answer = sign_in(client, email, password)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/sign-in"
        assert "stacksafe_session" not in answer.headers.get("set-cookie", "")
        page = client.get("/sign-in")
        assert notice(page) == "the email or the password is wrong"
    denied = [e for e in list_events(web.installation, limit=10) if e.action == "session.start"]
    assert [e.outcome for e in denied[:2]] == ["denied", "denied"]
    assert all("nobody" not in str(e.detail) for e in denied)  # what was typed is not logged
    assert client.get("/", follow_redirects=False).headers["location"] == "/sign-in"


def test_repeated_failures_from_one_address_are_throttled(web: WebWorld, clock: Clock) -> None:
    from stacksafe.core.sign_in import PER_ADDRESS_EMAIL

    client = TestClient(web.app, base_url=BASE, client=("203.0.113.9", 40000))
    for _ in range(PER_ADDRESS_EMAIL.failures):
        sign_in(client, web.admin, "not the password")
    answer = sign_in(client, web.admin)  # the right password, too late
    assert answer.headers["location"] == "/sign-in"
    refused = notice(client.get("/sign-in"))
    assert refused is not None
    assert refused.startswith("too many failed sign-ins for this email; retry in ")
    elsewhere = TestClient(web.app, base_url=BASE, client=("203.0.113.10", 40000))
    assert sign_in(elsewhere, web.admin).headers["location"] == "/"


def test_failures_for_one_email_do_not_lock_out_others_behind_the_same_address(
    web: WebWorld, clock: Clock
) -> None:
    """Behind one proxy or NAT every user has the same address: failures are counted per
    email (and per address and email), so an attacker guessing one email does not lock the
    administrator out."""
    from stacksafe.core.sign_in import PER_ADDRESS_EMAIL

    proxy = ("203.0.113.20", 40000)
    attacker = TestClient(web.app, base_url=BASE, client=proxy)
    for _ in range(PER_ADDRESS_EMAIL.failures):
        assert sign_in(attacker, web.viewer, "not the password").headers["location"] == "/sign-in"
        assert notice(attacker.get("/sign-in")) == "the email or the password is wrong"
    admin = TestClient(web.app, base_url=BASE, client=proxy)
    assert sign_in(admin, web.admin).headers["location"] == "/"
    assert admin.get("/").status_code == 200
    # The attacker's next guess at that email is refused, whatever its case or spacing.
    for typed in (web.viewer, f" {web.viewer.upper()} "):
        assert sign_in(attacker, typed).headers["location"] == "/sign-in"
        assert str(notice(attacker.get("/sign-in"))).startswith("too many failed sign-ins")


def test_the_sign_in_throttle_counts_before_the_password_is_checked(
    web: WebWorld, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attempt is counted before the (slow) Argon2 check, so concurrent guesses (on any
    server) cannot each get past the limit; a right password takes its attempt back."""
    import stacksafe.core.sign_in as sign_ins
    from stacksafe.core.sessions import start_session as real
    from stacksafe.core.sign_in import PER_ADDRESS_EMAIL
    from stacksafe.web.state import WebState

    state: WebState = web.app.state.web
    target = f"203.0.113.30\x00{web.admin}"
    seen: list[int] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        # While the password is checked: this attempt is already counted in the database.
        seen.append(state.sign_ins.per_address_email.check(target).failures)
        return real(*args, **kwargs)

    monkeypatch.setattr(sign_ins, "start_session", spy)
    client = TestClient(web.app, base_url=BASE, client=("203.0.113.30", 40000))
    assert sign_in(client, web.admin).headers["location"] == "/"  # forgiven
    for _ in range(PER_ADDRESS_EMAIL.failures):
        sign_in(client, web.admin, "not the password")
    sign_in(client, web.admin, "not the password")  # refused before any check
    assert seen == [1, *range(1, PER_ADDRESS_EMAIL.failures + 1)]


class _CountingHasher:
    """The real PasswordHasher, with its ``verify`` calls counted (the crypto is not mocked)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified: list[str] = []  # the hashes checked against

    def verify(self, hashed: str, password: str) -> bool:
        self.verified.append(hashed)
        return bool(self.real.verify(hashed, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> _CountingHasher:
    from stacksafe.core.principals import passwords

    counting = _CountingHasher(passwords._hasher())
    monkeypatch.setattr(passwords, "_hasher", lambda: counting)
    return counting


def test_a_user_without_a_password_cannot_sign_in(web: WebWorld, hasher: _CountingHasher) -> None:
    create_user(web.installation, LOCAL, "nopass@acme.test", "acme", "viewer")
    # A real password (an empty one is refused as a missing field before any check).
    answer = sign_in(TestClient(web.app, base_url=BASE), "nopass@acme.test", PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"
    assert "stacksafe_session" not in answer.headers.get("set-cookie", "")
    assert len(hasher.verified) == 1  # checked against the decoy, as a wrong password would be
    event = list_events(web.installation, limit=1)[0]
    assert (event.action, event.outcome) == ("session.start", "denied")


def test_an_unknown_email_still_goes_through_argon2(web: WebWorld, hasher: _CountingHasher) -> None:
    """So that its answer takes as long as a wrong password's and does not tell which emails
    are users: the hasher's verify runs once, against a real (decoy) Argon2id hash."""
    client = TestClient(web.app, base_url=BASE)
    answer = sign_in(client, "nobody@acme.test", PASSWORD)
    assert answer.headers["location"] == "/sign-in"
    assert len(hasher.verified) == 1
    assert hasher.verified[0].startswith("$argon2id$")
    assert sign_in(client, web.admin, "not the password").headers["location"] == "/sign-in"
    assert len(hasher.verified) == 2
    assert notice(client.get("/sign-in")) == "the email or the password is wrong"


def test_the_sign_in_form_needs_its_csrf_token_and_this_origin(web: WebWorld) -> None:
    client = TestClient(web.app, base_url=BASE)
    client.get("/sign-in")
    form = {"email": web.admin, "password": "correct horse battery staple"}
    no_token = client.post("/sign-in", data=form, headers=SAME_ORIGIN, follow_redirects=False)
    assert no_token.headers["location"] == "/sign-in"
    assert "stacksafe_session" not in no_token.headers.get("set-cookie", "")
    token = page_csrf(client, "/sign-in")
    elsewhere = client.post(
        "/sign-in",
        data={**form, "csrf": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert elsewhere.status_code == 403
    assert "stacksafe_session" not in elsewhere.headers.get("set-cookie", "")


def test_a_signed_out_cookie_no_longer_works(web: WebWorld) -> None:
    client = signed_in(web.app, web.admin)
    stolen = client.cookies["stacksafe_session"]
    answer = client.post(
        "/sign-out", data={"csrf": page_csrf(client)}, headers=SAME_ORIGIN, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"
    thief = TestClient(web.app, base_url=BASE, cookies={"stacksafe_session": stolen})
    replayed = thief.get(web.stack_url, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/sign-in"
    assert list_events(web.installation, actor=web.admin, limit=1)[0].action == "session.end"


def test_signing_in_again_ends_the_session_the_browser_had(web: WebWorld) -> None:
    """A sign-in over an open session replaces it: a copy of the old cookie stops working."""
    client = signed_in(web.app, web.admin)
    old = client.cookies["stacksafe_session"]
    assert sign_in(client, web.admin).headers["location"] == "/"
    new = client.cookies["stacksafe_session"]
    assert new != old
    assert client.get("/", follow_redirects=False).status_code == 200  # the new one works
    thief = TestClient(web.app, base_url=BASE, cookies={"stacksafe_session": old})
    replayed = thief.get(web.stack_url, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"] == "/sign-in"
    ended = list_events(web.installation, actor=web.admin, limit=2)
    assert [e.action for e in ended] == ["session.start", "session.end"]
    assert ended[1].detail["replaced_by"] == ended[0].token_uid


def test_signing_in_as_someone_else_ends_the_previous_users_session(web: WebWorld) -> None:
    client = signed_in(web.app, web.viewer)
    old = client.cookies["stacksafe_session"]
    assert sign_in(client, web.admin).headers["location"] == "/"
    thief = TestClient(web.app, base_url=BASE, cookies={"stacksafe_session": old})
    assert thief.get("/", follow_redirects=False).headers["location"] == "/sign-in"


def test_a_failed_sign_in_leaves_the_open_session_alone(web: WebWorld) -> None:
    client = signed_in(web.app, web.admin)
    assert sign_in(client, web.admin, "not the password").headers["location"] == "/sign-in"
    assert client.get("/", follow_redirects=False).status_code == 200


def test_an_idle_session_expires_and_stays_ended(web: WebWorld, clock: Clock) -> None:
    client = signed_in(web.app, web.admin)
    clock.tick(IDLE - 1)
    assert client.get("/").status_code == 200  # activity keeps it alive
    clock.tick(IDLE - 1)
    assert client.get("/").status_code == 200
    clock.tick(IDLE + 1)
    expired = client.get("/", follow_redirects=False)
    assert expired.headers["location"] == "/sign-in"
    assert notice(client.get("/sign-in")) == "the session has expired; sign in again"
    clock.now -= timedelta(minutes=IDLE + 1)  # even with the clock set back
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_reveal_with_an_expired_session_is_sent_to_sign_in_not_given_a_value(
    web: WebWorld, clock: Clock
) -> None:
    """The page's script treats this redirect as "signed out" (static/app.js, and the browser
    test); it must never be a 2xx that could pass for a value."""
    from tests.api.helpers import set_local

    set_local(web.installation, web.stack_target, {"API_KEY": "the value"})
    client = signed_in(web.app, web.admin)
    token = page_csrf(client, web.stack_url)
    clock.tick(IDLE + 1)
    answer = client.post(
        f"{web.stack_url}/secrets/API_KEY/reveal",
        data={"csrf": token},
        headers={**SAME_ORIGIN, "Accept": "application/json"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in"
    assert "the value" not in answer.text


def test_a_session_ends_after_its_lifetime_however_active(web: WebWorld, clock: Clock) -> None:
    lifetime = SessionPolicy().lifetime
    client = signed_in(web.app, web.admin)
    steps = int(lifetime.total_seconds() // ((IDLE - 1) * 60))
    for _ in range(steps):
        clock.tick(IDLE - 1)
        client.get("/")
    clock.tick(IDLE - 1)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_signing_in_forgets_the_users_ended_sessions(web: WebWorld) -> None:
    from sqlalchemy import func, select

    from stacksafe.store.schema import web_sessions

    def rows() -> int:
        with web.installation.store.read() as conn:
            return int(conn.execute(select(func.count()).select_from(web_sessions)).scalar_one())

    for _ in range(3):
        client = signed_in(web.app, web.admin)
        client.post("/sign-out", data={"csrf": page_csrf(client)}, headers=SAME_ORIGIN)
    assert rows() == 1  # the last one, ended; the earlier ones went at the next sign-in
    signed_in(web.app, web.viewer)
    signed_in(web.app, web.admin)
    assert rows() == 2  # another user's sessions are not touched


def test_a_new_password_ends_the_users_sessions(web: WebWorld) -> None:
    client = signed_in(web.app, web.admin)
    set_password(web.installation, LOCAL, web.admin, SecretValue("another long passphrase"))
    assert client.get("/", follow_redirects=False).status_code == 303
    assert sign_in(TestClient(web.app, base_url=BASE), web.admin).headers["location"] == "/sign-in"
    fresh = TestClient(web.app, base_url=BASE)
    assert sign_in(fresh, web.admin, "another long passphrase").headers["location"] == "/"
