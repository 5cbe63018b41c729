"""Rotation policies, status, generated and webhook rotations, labels: SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any

import pytest

from stacksafe.api.rotation_scheduler import RotationScheduler
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.rotation import (
    clear_policy,
    get_policy,
    labelled_secret,
    rotate_secret,
    rotation_status,
    run_due,
    set_policy,
)
from stacksafe.core.secrets import get_secret, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.core.versions import history
from stacksafe.errors import Forbidden, InvalidInput, NotFound
from stacksafe.model import AuditEvent, SecretValue
from tests.actors import LOCAL
from tests.api.helpers import snapshot
from tests.clock import Clock
from tests.core.helpers_access import make_user
from tests.serving import serving

DAY = timedelta(days=1)
LOOPBACK = ip_network("127.0.0.1/32")


def allow_loopback(installation: Installation) -> None:
    """Let rotators reach 127.0.0.1 (the default refuses loopback: core.outbound), as an operator
    would with STACKSAFE_OUTBOUND_ALLOW=127.0.0.1, for the receivers these tests start there."""
    installation.outbound = replace(installation.outbound, allow=(LOOPBACK,))


@pytest.fixture(autouse=True)
def _loopback_receivers(installation: Installation) -> None:
    allow_loopback(installation)


def put(installation: Installation, target: Target, key: str, value: str) -> int:
    return set_secret(installation, LOCAL, target, key, SecretValue(value)).version


def value_of(installation: Installation, target: Target, key: str) -> str:
    found = get_secret(installation, LOCAL, target, key, reveal=True, resolve=False)
    assert found.raw_value is not None
    return found.raw_value.reveal()


def events(installation: Installation, action: str) -> list[AuditEvent]:
    return [e for e in list_events(installation, limit=1000) if e.action == action]


# --- Policies ---


def test_a_policy_is_set_read_and_cleared(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "API_KEY", "v1")
    expires = clock.now + 60 * DAY
    policy = set_policy(
        installation,
        LOCAL,
        stack_target,
        "API_KEY",
        rotate_every=30 * DAY,
        expires_at=expires,
        rotator="generate",
        config={"length": 40, "charset": "hex"},
    )
    assert policy.rotate_every == 30 * DAY
    assert policy.next_rotation_at == clock.now + 30 * DAY
    assert policy.expires_at == expires
    assert dict(policy.config) == {"length": 40, "charset": "hex"}
    assert get_policy(installation, LOCAL, stack_target, "API_KEY") == policy
    audited = events(installation, "secret.rotation_policy")[0]
    assert audited.detail["rotate_every"] == 30 * 86400
    assert audited.detail["rotator"] == "generate"

    clear_policy(installation, LOCAL, stack_target, "API_KEY")
    with pytest.raises(NotFound, match="has no rotation policy"):
        get_policy(installation, LOCAL, stack_target, "API_KEY")
    with pytest.raises(NotFound, match="has no rotation policy"):
        clear_policy(installation, LOCAL, stack_target, "API_KEY")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rotator": "cron"}, "rotator 'cron' is not one of"),
        ({"rotator": "generate", "config": {"length": 0}}, "length must be"),
        ({"rotator": "generate", "config": {"charset": "emoji"}}, "charset 'emoji'"),
        ({"rotator": "generate", "config": {"url": "http://x"}}, "no setting 'url'"),
        ({"rotator": "manual", "config": {"length": 3}}, "no setting 'length'"),
        ({"rotator": "webhook", "config": {}}, "needs url"),
        ({"rotator": "webhook", "config": {"url": "ftp://h/x"}}, "http:// or https://"),
        ({"rotator": "webhook", "config": {"url": "https://u:p@h/x"}}, "must not hold credentials"),
        ({"rotator": "postgres", "config": {"roles": ["a", "b"]}}, "needs admin_key"),
        ({"rotator": "postgres", "config": {"admin_key": "A", "roles": ["a"]}}, "two different"),
        ({"rotator": "postgres", "config": {"admin_key": "A", "roles": ["a", "a"]}}, "two diff"),
        ({"rotator": "postgres", "config": {"admin_key": "A", "roles": ["a;", "b"]}}, "role names"),
        ({"rotate_every": timedelta(seconds=5)}, "at least one minute"),
    ],
)
def test_a_bad_policy_is_refused_and_changes_nothing(
    installation: Installation, stack_target: Target, kwargs: dict[str, Any], message: str
) -> None:
    put(installation, stack_target, "K", "v")
    before = snapshot(installation)
    with pytest.raises(InvalidInput, match=message):
        set_policy(installation, LOCAL, stack_target, "K", **kwargs)
    assert snapshot(installation) == before


def test_a_policy_needs_an_existing_secret_and_write_permission(
    installation: Installation, stack_target: Target
) -> None:
    with pytest.raises(NotFound, match="'MISSING' does not exist"):
        set_policy(installation, LOCAL, stack_target, "MISSING", rotate_every=DAY)
    put(installation, stack_target, "K", "v")
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")
    with pytest.raises(Forbidden):
        set_policy(installation, viewer, stack_target, "K", rotate_every=DAY)
    set_policy(installation, LOCAL, stack_target, "K", rotate_every=DAY)
    with pytest.raises(Forbidden):
        clear_policy(installation, viewer, stack_target, "K")
    assert get_policy(installation, viewer, stack_target, "K").rotate_every == DAY


# --- Status ---


def test_status_lists_what_is_due_most_urgent_first(
    installation: Installation, stack_target: Target, account_target: Target, clock: Clock
) -> None:
    for key in ("FRESH", "SOON", "LATE", "LATER", "EXPIRING", "GONE"):
        put(installation, stack_target, key, "v")
    put(installation, account_target, "SHARED", "v")
    set_policy(installation, LOCAL, stack_target, "FRESH", rotate_every=90 * DAY)
    set_policy(installation, LOCAL, stack_target, "SOON", rotate_every=33 * DAY)
    set_policy(installation, LOCAL, stack_target, "LATE", rotate_every=20 * DAY)
    set_policy(installation, LOCAL, stack_target, "LATER", rotate_every=25 * DAY)
    set_policy(installation, LOCAL, stack_target, "EXPIRING", expires_at=clock.now + 34 * DAY)
    set_policy(installation, LOCAL, stack_target, "GONE", expires_at=clock.now + 10 * DAY)
    set_policy(installation, LOCAL, account_target, "SHARED", rotate_every=29 * DAY)
    clock.now += 30 * DAY

    found = rotation_status(installation, LOCAL, account_target.account)
    assert [(e.key, e.state) for e in found] == [
        ("GONE", "expired"),  # deadline day 10
        ("LATE", "overdue"),  # day 20
        ("LATER", "overdue"),  # day 25
        ("SHARED", "overdue"),  # day 29
        ("SOON", "due"),  # day 33, within the 7-day window
        ("EXPIRING", "expiring"),  # day 34
    ]
    shared = found[3]
    assert (shared.stack, shared.stack_uid) == (None, None)
    assert found[1].stack == "web"
    everything = rotation_status(installation, LOCAL, account_target.account, include_ok=True)
    assert [e.key for e in everything][-1] == "FRESH"
    assert everything[-1].state == "ok"
    narrow = rotation_status(installation, LOCAL, account_target.account, within=timedelta(days=2))
    assert "SOON" not in [e.key for e in narrow]


def test_a_new_value_restarts_the_interval_and_drops_the_old_expiry(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "K", "v1")
    set_policy(
        installation, LOCAL, stack_target, "K", rotate_every=10 * DAY, expires_at=clock.now + DAY
    )
    clock.now += 11 * DAY
    assert [e.state for e in rotation_status(installation, LOCAL)] == ["expired"]
    put(
        installation, stack_target, "K", "v2"
    )  # rotated by hand, by someone who knows the new expiry
    policy = get_policy(installation, LOCAL, stack_target, "K")
    assert policy.expires_at is None
    assert policy.next_rotation_at == clock.now + 10 * DAY
    assert rotation_status(installation, LOCAL) == []


def test_status_shows_only_what_the_caller_may_see(
    installation: Installation, stack_target: Target, account_target: Target, clock: Clock
) -> None:
    from stacksafe.core.tenancy import create_stack

    api = create_stack(installation, LOCAL, "acme", "api", "staging")
    other = Target(account_target.account, api)
    for target in (stack_target, other, account_target):
        put(installation, target, "K", "v")
        set_policy(installation, LOCAL, target, "K", rotate_every=DAY)
    clock.now += 2 * DAY
    assert len(rotation_status(installation, LOCAL)) == 3
    narrowed = make_user(installation, "dev@example.com", "acme", "developer", stacks=[api.uid])
    seen = rotation_status(installation, narrowed)
    assert [(e.stack, e.key) for e in seen] == [("api", "K")]


# --- Generated rotations ---


def test_due_generated_secrets_are_rotated_with_an_audit_event(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "TOKEN", "original")
    put(installation, stack_target, "NOT_YET", "original")
    put(installation, stack_target, "REMINDER", "original")
    config = {"length": 24, "charset": "hex"}
    set_policy(
        installation,
        LOCAL,
        stack_target,
        "TOKEN",
        rotate_every=DAY,
        rotator="generate",
        config=config,
    )
    set_policy(
        installation, LOCAL, stack_target, "NOT_YET", rotate_every=9 * DAY, rotator="generate"
    )
    set_policy(installation, LOCAL, stack_target, "REMINDER", rotate_every=DAY)  # manual
    assert run_due(installation, LOCAL) == []
    clock.now += 2 * DAY

    outcomes = run_due(installation, LOCAL)
    assert [(o.key, o.outcome, o.version) for o in outcomes] == [("TOKEN", "rotated", 2)]
    new = value_of(installation, stack_target, "TOKEN")
    assert len(new) == 24
    assert set(new) <= set("0123456789abcdef")
    assert value_of(installation, stack_target, "NOT_YET") == "original"
    assert value_of(installation, stack_target, "REMINDER") == "original"
    assert history(installation, LOCAL, stack_target, "TOKEN")[0].action == "rotate"
    rotated = events(installation, "secret.rotate")
    assert len(rotated) == 1
    assert rotated[0].detail["keys"] == {"TOKEN": 2}
    assert new not in json.dumps(rotated[0].detail)
    policy = get_policy(installation, LOCAL, stack_target, "TOKEN")
    assert policy.last_rotated_at == clock.now
    assert policy.next_rotation_at == clock.now + DAY
    assert run_due(installation, LOCAL) == []  # not due again until tomorrow


def test_rotate_now_and_the_scheduler(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "K", "original")
    put(installation, stack_target, "MANUAL", "original")
    set_policy(installation, LOCAL, stack_target, "K", rotate_every=DAY, rotator="generate")
    set_policy(installation, LOCAL, stack_target, "MANUAL", rotate_every=DAY)
    done = rotate_secret(installation, LOCAL, stack_target, "K")
    assert (done.outcome, done.version) == ("rotated", 2)
    with pytest.raises(InvalidInput, match="manual rotator"):
        rotate_secret(installation, LOCAL, stack_target, "MANUAL")
    viewer = make_user(installation, "v@example.com", "acme", "viewer")
    with pytest.raises(Forbidden):
        rotate_secret(installation, viewer, stack_target, "K")

    seen: list[list[str]] = []
    scheduler = RotationScheduler(
        installation, timedelta(hours=1), on_outcomes=lambda o: seen.append([x.key for x in o])
    )
    assert scheduler.run_once() == []
    clock.now += 2 * DAY
    assert [o.outcome for o in scheduler.run_once()] == ["rotated"]
    assert seen == [[], ["K"]]
    assert events(installation, "secret.rotate")[0].actor == "rotation-scheduler"


# --- Webhook rotations ---


class Receiver:
    """A real HTTP server on loopback standing in for the system that uses the secret; each
    call runs ``on_call`` (with the parsed event) and answers ``status``."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], dict[str, str], bytes]] = []
        self.status = 200
        self.on_call: Callable[[dict[str, Any]], None] = lambda event: None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                event = json.loads(body)
                receiver.calls.append((event, dict(self.headers), body))
                receiver.on_call(event)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rotate"


@contextmanager
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    with serving(made.server):
        yield made


def test_a_webhook_rotation_makes_the_pending_value_current_after_a_2xx(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "API_KEY", "original")
    put(installation, stack_target, "HOOK_KEY", "signing-key")
    with receiver() as hook:
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotator="webhook",
            config={"url": hook.url, "signing_key": "HOOK_KEY"},
        )
        read_during_call: list[tuple[str, int, str]] = []

        def fetch_pending(event: dict[str, Any]) -> None:
            pending = labelled_secret(
                installation, LOCAL, stack_target, "API_KEY", "pending", reveal=True
            )
            assert pending.raw_value is not None
            current = value_of(installation, stack_target, "API_KEY")
            read_during_call.append((pending.raw_value.reveal(), pending.version, current))

        hook.on_call = fetch_pending
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")

    assert (done.outcome, done.version) == ("rotated", 2)
    ((event, headers, body),) = hook.calls
    assert event["key"] == "API_KEY"
    assert event["pending_version"] == 2
    assert event["label"] == "pending"
    assert stack_target.stack is not None
    assert event["stack_uid"] == stack_target.stack.uid
    expected = hmac.new(b"signing-key", body, hashlib.sha256).hexdigest()
    assert headers["X-Stacksafe-Signature"] == f"sha256={expected}"
    ((pending_value, pending_version, current_then),) = read_during_call
    assert current_then == "original"  # still current while the receiver works
    assert pending_version == 2
    assert value_of(installation, stack_target, "API_KEY") == pending_value != "original"
    assert pending_value not in body.decode()
    with pytest.raises(NotFound, match="no rotation of 'API_KEY' is in progress"):
        labelled_secret(installation, LOCAL, stack_target, "API_KEY", "pending")
    previous = labelled_secret(
        installation, LOCAL, stack_target, "API_KEY", "previous", reveal=True
    )
    assert previous.raw_value == SecretValue("original")
    assert previous.version == 1


def test_a_failing_webhook_leaves_the_current_value_and_backs_off(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "API_KEY", "original")
    with receiver() as hook:
        hook.status = 500
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotate_every=DAY,
            rotator="webhook",
            config={"url": hook.url},
        )
        clock.now += 2 * DAY
        (done,) = run_due(installation, LOCAL)
        assert done.outcome == "failed"
        assert done.error is not None
        assert done.error == (
            f"the webhook {hook.url.rsplit('/', 1)[0]} did not accept the rotation; "
            "the current value stays"
        )
        assert "500" not in done.error.replace(hook.url.rsplit("/", 1)[0], "")
        assert value_of(installation, stack_target, "API_KEY") == "original"
        assert len(history(installation, LOCAL, stack_target, "API_KEY")) == 1
        policy = get_policy(installation, LOCAL, stack_target, "API_KEY")
        assert policy.failures == 1
        assert policy.pending_version is None
        assert policy.last_error == done.error
        failed = events(installation, "secret.rotate")[0]
        assert failed.outcome == "failed"
        assert failed.detail["error"] == done.error
        assert failed.detail["webhook_status"] == 500  # for the audit's readers only
        (status,) = rotation_status(installation, LOCAL)
        assert status.state == "overdue"
        assert status.last_error == done.error

        assert run_due(installation, LOCAL) == []  # backing off: 1 minute after one failure
        assert len(hook.calls) == 1
        clock.tick(2)
        hook.status = 204
        (again,) = run_due(installation, LOCAL)
        assert again.outcome == "rotated"
    assert value_of(installation, stack_target, "API_KEY") != "original"
    policy = get_policy(installation, LOCAL, stack_target, "API_KEY")
    assert policy.failures == 0
    assert policy.last_error is None


def test_a_write_during_a_webhook_rotation_wins_and_the_rotation_is_reported(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "API_KEY", "original")
    with receiver() as hook:
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotator="webhook",
            config={"url": hook.url},
        )
        nested: list[str] = []

        def meanwhile(event: dict[str, Any]) -> None:
            again = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
            nested.append(f"{again.outcome}: {again.error}")
            put(installation, stack_target, "API_KEY", "set by a person")

        hook.on_call = meanwhile
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
    assert nested == ["skipped: another rotation of the secret is in progress"]
    assert done.outcome == "failed"
    assert done.error is not None
    assert "was written (version 2) while the rotation ran" in done.error
    assert value_of(installation, stack_target, "API_KEY") == "set by a person"
    assert get_policy(installation, LOCAL, stack_target, "API_KEY").pending_version is None


def test_an_unreachable_webhook_is_a_failure_naming_the_host_only(
    installation: Installation, stack_target: Target
) -> None:
    with receiver() as hook:
        url = hook.url  # closed when the block ends: nothing listens there any more
    put(installation, stack_target, "K", "original")
    set_policy(
        installation, LOCAL, stack_target, "K", rotator="webhook", config={"url": url + "?t=1"}
    )
    done = rotate_secret(installation, LOCAL, stack_target, "K")
    assert done.outcome == "failed"
    assert done.error is not None
    assert "could not be called" in done.error
    assert "?t=1" not in done.error
    assert value_of(installation, stack_target, "K") == "original"


# --- Labels ---


def test_labels_name_current_and_previous_and_reveals_are_audited(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "one")
    with pytest.raises(NotFound, match="no previous value"):
        labelled_secret(installation, LOCAL, stack_target, "K", "previous")
    put(installation, stack_target, "K", "two")
    current = labelled_secret(installation, LOCAL, stack_target, "K", "current")
    assert current.version == 2
    assert current.raw_value is None
    previous = labelled_secret(installation, LOCAL, stack_target, "K", "previous", reveal=True)
    assert previous.raw_value == SecretValue("one")
    reveal = events(installation, "reveal")[0]
    assert reveal.detail["label"] == "previous"
    assert reveal.detail["keys"] == {"K": 1}
    with pytest.raises(InvalidInput, match="label 'latest' is not one of"):
        labelled_secret(installation, LOCAL, stack_target, "K", "latest")
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")
    with pytest.raises(Forbidden):
        labelled_secret(installation, viewer, stack_target, "K", "previous", reveal=True)


def test_the_scheduler_thread_rotates_what_is_due(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "K", "original")
    set_policy(installation, LOCAL, stack_target, "K", rotate_every=DAY, rotator="generate")
    clock.now += 2 * DAY
    rotated = threading.Event()

    def seen(outcomes: list[Any]) -> None:
        if any(o.outcome == "rotated" for o in outcomes):
            rotated.set()

    scheduler = RotationScheduler(installation, timedelta(milliseconds=20), on_outcomes=seen)
    scheduler.start()
    try:
        assert rotated.wait(timeout=30)
    finally:
        scheduler.stop()
    assert value_of(installation, stack_target, "K") != "original"
    assert len(events(installation, "secret.rotate")) == 1  # due once: later runs found nothing


def test_a_rotation_taken_over_as_stale_does_not_make_the_other_runs_value_current(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "API_KEY", "original")
    outcomes: list[str] = []
    with receiver() as hook:
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotator="webhook",
            config={"url": hook.url},
        )

        def slow_then_taken_over(event: dict[str, Any]) -> None:
            if len(hook.calls) == 1:
                # The first run's call hangs for 16 minutes: a second run takes over its claim,
                # and the receiver refuses that second run's value.
                clock.now += timedelta(minutes=16)
                hook.status = 500
                second = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
                outcomes.append(second.outcome)
                hook.status = 200  # the first run's (late) answer is a success

        hook.on_call = slow_then_taken_over
        first = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
    assert outcomes == ["failed"]
    assert first.outcome == "skipped"
    assert first.error == "the rotation was taken over or its policy cleared"
    assert value_of(installation, stack_target, "API_KEY") == "original"
    policy = get_policy(installation, LOCAL, stack_target, "API_KEY")
    assert (policy.failures, policy.pending_version) == (1, None)


def test_a_failure_before_claiming_leaves_a_rotation_in_flight_alone(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "API_KEY", "original")
    nested: list[str] = []
    with receiver() as hook:
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotator="webhook",
            config={"url": hook.url},
        )

        def meanwhile(event: dict[str, Any]) -> None:
            # Someone switches the policy to a rotator that cannot even start (no admin secret).
            set_policy(
                installation,
                LOCAL,
                stack_target,
                "API_KEY",
                rotator="postgres",
                config={"admin_key": "MISSING", "roles": ["a", "b"]},
            )
            done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
            nested.append(done.outcome)

        hook.on_call = meanwhile
        first = rotate_secret(installation, LOCAL, stack_target, "API_KEY")
    assert nested == ["failed"]
    assert (first.outcome, first.version) == ("rotated", 2)
    assert value_of(installation, stack_target, "API_KEY") != "original"
