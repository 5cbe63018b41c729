"""Sign-ins, bounded: throttled by the email guessed (from any address, on any server), their
password checks on a small pool that refuses at once when full (the API is still served), and
a flood recorded in a bounded number of audit events. On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from stacksafe.api import create_app
from stacksafe.core.audit_events import list_events
from stacksafe.core.guessing import Limit
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.password_pool import PasswordPool
from stacksafe.core.principals import create_token
from stacksafe.core.sign_in import PER_ADDRESS_EMAIL, SignInLimits
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.clock import Clock
from tests.web.helpers import BASE, PASSWORD, WebWorld, notice, sign_in

EMAIL_LIMIT = SignInLimits(per_email=Limit("sign-in-email", 4, 900))


class _CountingHasher:
    """The real PasswordHasher, with its ``verify`` calls counted (the crypto is not mocked)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verified = 0

    def verify(self, hashed: str, password: str) -> bool:
        self.verified += 1
        return bool(self.real.verify(hashed, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> _CountingHasher:
    from stacksafe.core.principals import passwords

    counting = _CountingHasher(passwords._hasher())
    monkeypatch.setattr(passwords, "_hasher", lambda: counting)
    return counting


def _from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url=BASE, client=(address, 40000))


def test_guesses_at_one_email_from_many_addresses_are_throttled_by_the_email(
    web: WebWorld, clock: Clock, hasher: _CountingHasher
) -> None:
    app = create_app(web.installation, sign_in_limits=EMAIL_LIMIT)
    for n in range(4):  # one guess from each of four addresses: under any per-address limit
        answer = sign_in(_from(app, f"198.51.100.{n}"), web.viewer, "not the password")
        assert answer.headers["location"] == "/sign-in"
    checked = hasher.verified
    fresh = _from(app, "198.51.100.99")
    assert sign_in(fresh, web.viewer).headers["location"] == "/sign-in"  # the right password
    refused = notice(fresh.get("/sign-in"))
    assert refused is not None
    assert refused.startswith("too many failed sign-ins for this email; retry in ")
    assert hasher.verified == checked  # refused before any Argon2 work
    # Other emails, from the same addresses, are not affected.
    assert sign_in(_from(app, "198.51.100.0"), web.admin).headers["location"] == "/"


def test_a_right_password_takes_its_attempt_back(web: WebWorld, clock: Clock) -> None:
    client = _from(web.app, "198.51.100.50")
    for _ in range(3 * PER_ADDRESS_EMAIL.failures):  # never counted: always right
        assert sign_in(client, web.admin).headers["location"] == "/"


def test_a_flood_of_unknown_emails_is_a_bounded_number_of_audit_events(
    web: WebWorld, clock: Clock
) -> None:
    before = {e.seq for e in list_events(web.installation, limit=1000)}
    client = _from(web.app, "203.0.113.66")
    for n in range(20):
        answer = sign_in(client, f"nobody-{n}@acme.test", f"guess-number-{n}")
        assert answer.headers["location"] == "/sign-in"
    events = [e for e in list_events(web.installation, limit=1000) if e.seq not in before]
    assert [(e.action, e.outcome, e.source_ip) for e in events] == [
        ("session.start", "denied", "203.0.113.66")
    ] * 5
    assert sorted(e.detail["failures"] for e in events) == [1, 2, 4, 8, 16]
    assert all("nobody" not in str(e.detail) and "guess" not in str(e.detail) for e in events)
    # A new minute starts a new count: its first failure is recorded again.
    clock.tick(1)
    sign_in(client, "nobody-else@acme.test", "another-guess")
    assert list_events(web.installation, limit=1)[0].detail["failures"] == 1


def test_a_full_password_pool_refuses_sign_ins_at_once_and_the_api_is_still_served(
    web: WebWorld, hasher: _CountingHasher
) -> None:
    """The property, without timing anything: while every worker and queue place of the pool
    is taken, a sign-in is refused at once (503, Retry-After) and nothing of it is checked,
    and the authenticated API and an open UI session are served, on threads of their own."""
    pool = PasswordPool(workers=1, queue=1)
    app = create_app(web.installation, passwords=pool)
    token = create_token(web.installation, LOCAL, web.admin, scopes=["public"]).token
    signed_in = _from(app, "198.51.100.7")
    assert sign_in(signed_in, web.admin).headers["location"] == "/"
    checked = hasher.verified
    release = threading.Event()
    busy = [pool.submit(release.wait) for _ in range(2)]  # the worker and the queue place
    try:
        refused = sign_in(_from(app, "198.51.100.8"), web.viewer)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert "busy checking other sign-ins" in refused.text
        assert "stacksafe_session" not in refused.headers.get("set-cookie", "")
        assert hasher.verified == checked
        api = TestClient(app, headers={"Authorization": f"Bearer {token}"})
        assert api.get(f"/api/3/stacks/{web.stack.uid}/secrets").status_code == 200
        assert api.get("/api/3/accounts").status_code == 200
        assert signed_in.get("/").status_code == 200
    finally:
        release.set()
    for job in busy:
        job.result()
    assert sign_in(_from(app, "198.51.100.8"), web.viewer).headers["location"] == "/"


def test_nonsense_pool_sizes_are_refused() -> None:
    for workers, queue in ((0, 1), (1, -1)):
        with pytest.raises(ValueError, match="worker"):
            PasswordPool(workers, queue)


@pytest.fixture
def second_server(settings: Settings, installation: Installation) -> Iterator[Installation]:
    """Another server's installation on the same database: its own process memory, shared rows."""
    other = open_installation(settings)
    other.clock = installation.clock
    try:
        yield other
    finally:
        other.close()


def test_failed_sign_ins_on_one_server_count_on_the_other(
    web: WebWorld, clock: Clock, second_server: Installation
) -> None:
    first = create_app(web.installation, sign_in_limits=EMAIL_LIMIT)
    second = create_app(second_server, sign_in_limits=EMAIL_LIMIT)
    for n, app in enumerate((first, second, first, second)):
        assert sign_in(_from(app, f"192.0.2.{n}"), web.viewer, "wrong").headers["location"] == (
            "/sign-in"
        )
    for app in (first, second):
        client = _from(app, "192.0.2.200")
        assert sign_in(client, web.viewer, PASSWORD).headers["location"] == "/sign-in"
        assert str(notice(client.get("/sign-in"))).startswith("too many failed sign-ins")
