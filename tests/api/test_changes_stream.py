"""`GET /api/3/stacks/{uid}/changes`: a stack's changes pushed as server-sent events.

The app is served by uvicorn on a thread (tests/api/live_app.py): an event stream is a
response that never ends, which the ASGI test client would wait for. Writes are made through
the core as the local operator, or through a second app on the same database: the stream must
learn of a write whoever made it. Both databases: what is watched is the revisions the
database's triggers keep, and a second server's writes reach this one only through them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from stacksafe.api import create_app
from stacksafe.api.change_hub import ChangeHub, StreamLimits
from stacksafe.core.deletion import delete_stack
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.principals import revoke_token
from stacksafe.core.secrets import restrict_secret, set_secret, unset_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.core.versions import rollback_key
from stacksafe.model import SecretValue, Stack
from stacksafe.settings import Settings
from tests.actors import LOCAL
from tests.api.helpers import assert_error, client_for, user_with_token
from tests.api.live_app import EventReader, served, stream
from tests.clock import Clock

PER_TOKEN, TOTAL = 2, 3
LIMITS = StreamLimits(per_token=PER_TOKEN, total=TOTAL, poll_seconds=0.05, heartbeat_seconds=0.3)
RELEASED_WITHIN = 5.0


@dataclass
class Live:
    installation: Installation
    base: str
    hub: ChangeHub
    web: Stack
    api: Stack
    admin: str  # an administrator of acme's token
    account: Target

    @property
    def web_target(self) -> Target:
        return Target(self.account.account, self.web)

    def put(self, target: Target, key: str, value: str) -> None:
        set_secret(self.installation, LOCAL, target, key, SecretValue(value))


@pytest.fixture
def live(installation: Installation) -> Iterator[Live]:
    account = Target(create_account(installation, LOCAL, "acme"))
    web = create_stack(installation, LOCAL, "acme", "web", "production")
    api = create_stack(installation, LOCAL, "acme", "api", "production")
    admin = user_with_token(installation, "admin@acme.test", "acme", "administrator").token
    app = create_app(installation, stream_limits=LIMITS)
    with served(app) as base:
        yield Live(installation, base, app.state.change_hub, web, api, admin, account)


def _opened(response: httpx.Response) -> None:
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-ratelimit-remaining"].isdigit()  # opening one is a request


def _changed(reader: EventReader, before: str, uid: str) -> str:
    """The next event is a change of ``uid`` away from ``before``: its new signature."""
    got = reader.next()
    assert (got.kind, got.data["stack"]) == ("change", uid), got
    assert set(got.data) == {"stack", "signature"}  # no value, no key name
    assert got.id is not None
    assert got.id == got.data["signature"] != before
    return got.id


def test_each_kind_of_change_to_the_effective_set_is_one_event(live: Live) -> None:
    with stream(live.base, live.web.uid, live.admin) as (response, reader):
        _opened(response)
        ready = reader.next()
        assert reader.retry is not None
        assert ready.kind == "ready"
        assert ready.data == {"stack": live.web.uid, "signature": ready.id}
        seen = ready.id or ""
        live.put(live.web_target, "OWN", "v1")  # the stack's own key
        seen = _changed(reader, seen, live.web.uid)
        live.put(live.account, "SHARED", "a1")  # an account key the stack inherits
        seen = _changed(reader, seen, live.web.uid)
        live.put(live.web_target, "OWN", "v2")
        seen = _changed(reader, seen, live.web.uid)
        rollback_key(live.installation, LOCAL, live.web_target, "OWN", 1)
        seen = _changed(reader, seen, live.web.uid)
        restrict_secret(live.installation, LOCAL, live.account, "SHARED", ["staging"])
        seen = _changed(reader, seen, live.web.uid)  # no longer inherited by production
        unset_secret(live.installation, LOCAL, live.web_target, "OWN")
        _changed(reader, seen, live.web.uid)


def test_a_write_the_stack_does_not_see_wakes_nobody(live: Live) -> None:
    live.put(live.web_target, "OWN", "v1")
    with stream(live.base, live.web.uid, live.admin) as (response, reader):
        _opened(response)
        seen = reader.next().id or ""
        # Another stack's key, and an account key of an environment web is not in: the
        # revisions move, the signature does not.
        live.put(Target(live.account.account, live.api), "OTHER", "x")
        set_secret(
            live.installation,
            LOCAL,
            live.account,
            "STAGING_ONLY",
            SecretValue("s"),
            environments=["staging"],
        )
        reader.until_comment()  # a heartbeat, and no event before it
        reader.until_comment()
        live.put(live.web_target, "OWN", "v2")
        _changed(reader, seen, live.web.uid)


def test_a_reconnection_is_told_whether_it_missed_a_change(live: Live) -> None:
    with stream(live.base, live.web.uid, live.admin) as (_, reader):
        seen = reader.next().id
    with stream(live.base, live.web.uid, live.admin, last_event_id=seen) as (_, reader):
        again = reader.next()
        assert (again.kind, again.id) == ("ready", seen)
    live.put(live.web_target, "WHILE_AWAY", "x")
    with stream(live.base, live.web.uid, live.admin, last_event_id=seen) as (_, reader):
        missed = reader.next()
        assert missed.kind == "change"
        assert missed.id != seen


def test_a_write_by_a_second_server_on_the_database_is_pushed(
    live: Live, settings: Settings
) -> None:
    second = open_installation(settings)
    try:
        writer = client_for(create_app(second), live.admin)
        with writer, stream(live.base, live.web.uid, live.admin) as (_, reader):
            seen = reader.next().id or ""
            put = writer.put(
                f"/api/3/stacks/{live.web.uid}/secrets/FROM_THE_OTHER", json={"raw_value": "x"}
            )
            assert put.status_code == 200, put.text
            _changed(reader, seen, live.web.uid)
    finally:
        second.close()


def test_who_may_watch_is_who_may_describe(live: Live) -> None:
    inst = live.installation
    create_account(inst, LOCAL, "other")
    viewer = user_with_token(inst, "viewer@acme.test", "acme", "viewer", scopes=["public"]).token
    outsider = user_with_token(inst, "out@other.test", "other", "administrator").token
    narrowed = user_with_token(
        inst, "n@acme.test", "acme", "administrator", stacks=[live.api.uid]
    ).token
    for allowed in (viewer, live.admin):  # the least role and scope that describe, and more
        with stream(live.base, live.web.uid, allowed) as (response, reader):
            _opened(response)
            assert reader.next().kind == "ready"
    refusals = (
        (None, 401),
        ("sk_notatoken", 401),
        (outsider, 404),
        (narrowed, 403),  # narrowed to another stack of the account
    )
    for token, status in refusals:
        with stream(live.base, live.web.uid, token) as (response, _):
            response.read()
            assert_error(response, status)
    with stream(live.base, "no-such-stack", live.admin) as (response, _):
        response.read()
        assert response.status_code == 404
    # The narrowed token may watch the stack it is narrowed to.
    with stream(live.base, live.api.uid, narrowed) as (response, reader):
        _opened(response)
        assert reader.next().kind == "ready"


def test_a_revoked_token_ends_its_stream(live: Live) -> None:
    made = user_with_token(live.installation, "dev@acme.test", "acme", "developer")
    with stream(live.base, live.web.uid, made.token) as (_, reader):
        assert reader.next().kind == "ready"
        revoke_token(live.installation, LOCAL, made.uid)
        ended = reader.next()
        assert ended.kind == "end"
        assert "revoked" in ended.data["reason"]
        assert made.token not in str(ended.data)


def test_an_expired_token_ends_its_stream(live: Live, clock: Clock) -> None:
    made = user_with_token(
        live.installation, "dev@acme.test", "acme", "developer", expires_in=timedelta(minutes=5)
    )
    with stream(live.base, live.web.uid, made.token) as (_, reader):
        assert reader.next().kind == "ready"
        clock.tick(10)  # checked again at the next heartbeat
        ended = reader.next()
        assert ended.kind == "end"
        assert "expired" in ended.data["reason"]


def test_a_deleted_stack_ends_its_streams(live: Live) -> None:
    with stream(live.base, live.api.uid, live.admin) as (_, reader):
        assert reader.next().kind == "ready"
        delete_stack(live.installation, LOCAL, live.api.uid)
        ended = reader.next()
        assert ended.kind == "end"
        assert "does not exist" in ended.data["reason"]


def _open_streams(live: Live, at_most: int) -> None:
    deadline = time.monotonic() + RELEASED_WITHIN
    while live.hub.open_streams > at_most:  # a bounded wait for the server to see a close
        assert time.monotonic() < deadline, live.hub
        time.sleep(0.02)


def test_streams_are_bounded_per_token_and_in_all(live: Live) -> None:
    inst = live.installation
    second = user_with_token(inst, "b@acme.test", "acme", "viewer").token
    third = user_with_token(inst, "c@acme.test", "acme", "viewer").token
    with (
        stream(live.base, live.web.uid, live.admin) as (first_a, _),
        stream(live.base, live.api.uid, live.admin) as (first_b, _),
    ):
        _opened(first_a)
        _opened(first_b)
        with stream(live.base, live.web.uid, live.admin) as (refused, _):
            refused.read()
            assert refused.status_code == 429
            assert "this token has 2 change streams open" in refused.json()["error_description"]
            assert refused.headers["retry-after"].isdigit()
        with stream(live.base, live.web.uid, second) as (other, _):
            _opened(other)
            with stream(live.base, live.web.uid, third) as (full, _):
                full.read()
                assert full.status_code == 429
                assert "the server has 3 change streams open" in full.json()["error_description"]
    _open_streams(live, 0)
    with stream(live.base, live.web.uid, live.admin) as (again, reader):
        _opened(again)
        assert reader.next().kind == "ready"


def test_a_server_may_serve_no_streams(live: Live) -> None:
    app = create_app(live.installation, stream_limits=StreamLimits(total=0))
    with served(app) as base, stream(base, live.web.uid, live.admin) as (refused, _):
        refused.read()
        assert refused.status_code == 429
        assert "serves no change streams" in refused.json()["error_description"]
