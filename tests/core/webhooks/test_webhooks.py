"""core.webhooks: a subscription's changes are POSTed signed (checked by a receiver written in
the test), from its cursor, at least once and in order; only its level's changes are sent,
never a value; a receiver failing 5 times then succeeding gets the event once more; no
redirect is followed and the outbound rule holds; the signing secret must exist and is read
(audited) when a batch is signed; a deleted level stops its webhook; who may manage them."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from stacksafe.core.deletion import delete_account, delete_stack
from stacksafe.core.installation import Installation
from stacksafe.core.outbound import OutboundPolicy
from stacksafe.core.secrets import restrict_secret, set_secret, unset_secret
from stacksafe.core.streams.delivery import DeliveryLoop, Step, Tuning
from stacksafe.core.versions import rollback_key
from stacksafe.core.webhooks.runtime import delivery_loop, live_webhooks
from stacksafe.core.webhooks.subscriptions import (
    add_webhook,
    list_webhooks,
    remove_webhook,
    set_paused,
)
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.model import SecretValue, Webhook
from stacksafe.store import webhooks as queries
from tests.actors import LOCAL
from tests.core.helpers_access import (
    SEEDED,
    World,
    build_world,
    events_after,
    last_seq,
    make_user,
)
from tests.core.webhooks.receiver import WebhookReceiver, receiving, signed_by

LOOPBACK = OutboundPolicy(allow=(ip_network("127.0.0.1/32"),))
SIGNING = "whsec-web-signing-value-4b1d"
ACME_SIGNING = "whsec-acme-signing-value-8c2e"
NEW_VALUE = "a-new-value-that-must-not-leave-9e17"
FAST = Tuning(idle_seconds=0.01, backoff_first=0.01, backoff_max=0.05, error_hold_seconds=0)


@pytest.fixture
def world(installation: Installation) -> World:
    installation.outbound = LOOPBACK  # the receiver is on loopback: the operator opened it
    made = build_world(installation)
    set_secret(installation, LOCAL, made.web, "HOOK_KEY", SecretValue(SIGNING))
    set_secret(installation, LOCAL, made.acme, "ACME_HOOK", SecretValue(ACME_SIGNING))
    return made


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with receiving() as made:
        yield made


def _add(
    installation: Installation, receiver: WebhookReceiver, name: str = "deploys", **level: str
) -> Webhook:
    level = level or {"stack": "web", "account": "acme"}
    key = "ACME_HOOK" if "stack" not in level else "HOOK_KEY"
    return add_webhook(installation, LOCAL, name, url=receiver.url, signing_key=key, **level)


_OPENED: list[DeliveryLoop] = []


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    """Every loop a test opened has its connections closed after it (steps, no thread)."""
    yield
    while _OPENED:
        _OPENED.pop().sink.close()


def _loop(
    installation: Installation, name: str = "deploys", holder: str | None = None
) -> DeliveryLoop:
    with installation.store.read() as conn:
        [hook] = [h for h in queries.list_webhooks(conn) if h.name == name]
    made = delivery_loop(installation, hook, FAST, holder)
    _OPENED.append(made)
    return made


def _drain(loop: DeliveryLoop) -> list[Step]:
    """Steps until it neither delivers nor skips: caught up, or failing."""
    steps = []
    while True:
        step, _ = loop.step()
        steps.append(step)
        if step not in (Step.DELIVERED, Step.SKIPPED):
            return steps


def _info(installation: Installation, name: str = "deploys") -> Webhook:
    [found] = [w for w in list_webhooks(installation, LOCAL) if w.name == name]
    return found


def test_changes_are_posted_signed_with_names_versions_actor_level_and_seq_never_a_value(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    info = _add(installation, receiver)
    before = last_seq(installation)
    set_secret(installation, LOCAL, world.web, "NEW_KEY", SecretValue(NEW_VALUE))
    unset_secret(installation, LOCAL, world.web, "WEB_SECOND")
    rollback_key(installation, LOCAL, world.web, "WEB_SECOND", 1)
    changes = [e for e in events_after(installation, before) if e.action.startswith("secret.")]
    assert _drain(_loop(installation))[-1] is Step.IDLE

    [request] = receiver.requests  # one batch
    assert signed_by(request, SIGNING.encode())
    assert not signed_by(request, b"another key")
    assert request.headers["Content-Type"] == "application/json"
    assert request.path == "/hooks/stacksafe?t=q-31337"  # the URL as given, query and all
    body = request.json
    assert body["webhook"] == "deploys"
    level = {"uid": world.web.stack.uid, "name": "web"}  # type: ignore[union-attr]
    account = {"uid": world.acme.account.uid, "name": "acme"}
    assert [(e["seq"], e["action"], e["keys"]) for e in body["events"]] == [
        (changes[0].seq, "secret.set", [{"key": "NEW_KEY", "version": 1}]),
        (changes[1].seq, "secret.unset", [{"key": "WEB_SECOND", "version": 2}]),
        (changes[2].seq, "secret.rollback", [{"key": "WEB_SECOND", "version": 3}]),
    ]
    for event in body["events"]:
        assert (event["actor"], event["stack"], event["account"]) == ("local:test", level, account)
        assert event["at"].endswith("Z") or "+00:00" in event["at"]
    # Never a value: none of any level's, not the new one, not the signing key's.
    values = [v for level_values in SEEDED.values() for v in level_values.values()]
    for value in [*values, NEW_VALUE, SIGNING, ACME_SIGNING]:
        assert value.encode() not in request.body
        assert value not in str(request.headers)
    assert "fingerprint" not in request.body.decode()
    # The URL's path and query (a receiver's token) are shown nowhere: its origin only.
    assert info.origin == receiver.url.split("/hooks")[0]
    assert "q-31337" not in str(_info(installation).to_json())
    assert all("q-31337" not in str(e.detail) for e in events_after(installation, 0))
    assert _info(installation).state == "delivering"
    assert _info(installation).last_delivered_at is not None


def test_the_signing_secret_is_read_when_a_batch_is_signed_audited_as_a_reveal(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    _add(installation, receiver)
    loop = _loop(installation)
    before = last_seq(installation)
    set_secret(installation, LOCAL, world.web, "NEW_KEY", SecretValue(NEW_VALUE))
    _drain(loop)
    reveals = [e for e in events_after(installation, before) if e.action == "reveal"]
    assert [(e.actor, e.detail["purpose"], e.stack_uid) for e in reveals] == [
        ("webhook:deploys", "webhook deploys", world.web.stack.uid)  # type: ignore[union-attr]
    ]
    # Rotated like any secret: the next batch is signed with the new value.
    set_secret(installation, LOCAL, world.web, "HOOK_KEY", SecretValue("whsec-rotated-2f0c"))
    set_secret(installation, LOCAL, world.web, "NEW_KEY", SecretValue("another-value-x"))
    _drain(loop)
    assert len(receiver.requests) == 2
    assert [e["keys"][0]["key"] for e in receiver.requests[-1].json["events"]] == [
        "HOOK_KEY",  # its own change is a change of the level like any
        "NEW_KEY",
    ]
    assert signed_by(receiver.requests[-1], b"whsec-rotated-2f0c")
    assert not signed_by(receiver.requests[-1], SIGNING.encode())


def test_a_stack_webhook_gets_its_stack_only(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    _add(installation, receiver)
    loop = _loop(installation)
    set_secret(installation, LOCAL, world.api, "API_KEY", SecretValue("x1"))  # another stack
    set_secret(installation, LOCAL, world.acme, "ACME_SHARED", SecretValue("x2"))  # its account
    set_secret(installation, LOCAL, world.shop, "SHOP_KEY", SecretValue("x3"))  # another account
    assert _drain(loop) == [Step.SKIPPED, Step.IDLE]
    assert receiver.requests == []
    assert _info(installation).behind == 0  # passed over, not pending
    set_secret(installation, LOCAL, world.web, "WEB_KEY", SecretValue("x4"))
    _drain(loop)
    [request] = receiver.requests
    assert [e["keys"] for e in request.json["events"]] == [[{"key": "WEB_KEY", "version": 2}]]


def test_an_account_webhook_gets_its_own_level_and_its_stacks(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    _add(installation, receiver, "acme-all", account="acme")
    set_secret(installation, LOCAL, world.acme, "ACME_SHARED", SecretValue("y1"))
    restrict_secret(installation, LOCAL, world.acme, "ACME_SHARED", ["production"])
    set_secret(installation, LOCAL, world.api, "API_KEY", SecretValue("y2"))
    set_secret(installation, LOCAL, world.shop, "SHOP_KEY", SecretValue("y3"))  # globex
    _drain(_loop(installation, "acme-all"))
    [request] = receiver.requests
    assert signed_by(request, ACME_SIGNING.encode())
    events = request.json["events"]
    assert [(e["action"], e["stack"] and e["stack"]["name"], e["keys"]) for e in events] == [
        ("secret.set", None, [{"key": "ACME_SHARED", "version": 2}]),
        ("secret.restrict", None, [{"key": "ACME_SHARED", "version": None}]),
        ("secret.set", "api", [{"key": "API_KEY", "version": 2}]),
    ]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_a_receiver_failing_five_times_then_succeeding_gets_the_event_once_more(
    installation: Installation,
    world: World,
    receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _add(installation, receiver)
    loop = _loop(installation)
    set_secret(installation, LOCAL, world.web, "NEW_KEY", SecretValue(NEW_VALUE))
    cursor = _info(installation).cursor
    receiver.replies = [500] * 5
    for _ in range(5):
        assert loop.step()[0] is Step.FAILED
        assert _info(installation).cursor == cursor  # nothing counted, nothing skipped
    failing = _info(installation)
    assert failing.state == "failing"
    error = str(failing.last_error)
    assert "answered 500" in error
    assert SIGNING not in error
    assert "q-31337" not in error
    assert loop.step()[0] is Step.DELIVERED
    _drain(loop)
    assert len(receiver.requests) == 6  # five refused, then the one accepted; none after it
    seqs = [r.seqs for r in receiver.requests]
    assert all(s == seqs[0] and len(s) == 1 for s in seqs)
    assert all(signed_by(r, SIGNING.encode()) for r in receiver.requests)
    assert _info(installation).state == "delivering"
    # The server log names the failures, never the secret, a value or the URL's query.
    assert "webhook deploys" in caplog.text
    assert "answered 500" in caplog.text
    for hidden in (SIGNING, NEW_VALUE, "q-31337"):
        assert hidden not in caplog.text


def test_a_redirect_is_not_followed_and_the_outbound_rule_holds(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    _add(installation, receiver)
    loop = _loop(installation)
    set_secret(installation, LOCAL, world.web, "NEW_KEY", SecretValue(NEW_VALUE))
    receiver.replies = [302]
    receiver.headers = {"Location": "http://127.0.0.1:9/elsewhere"}
    assert loop.step()[0] is Step.FAILED
    assert "redirects are not followed" in str(_info(installation).last_error)
    assert len(receiver.requests) == 1
    installation.outbound = OutboundPolicy()  # loopback no longer opened
    refused = _loop(installation, holder=loop.holder)  # the same server, its outbound rule changed
    assert refused.step()[0] is Step.FAILED
    assert "may connect to" in str(_info(installation).last_error)
    assert len(receiver.requests) == 1  # no connection made


def test_the_signing_secret_must_exist_and_a_missing_one_holds_the_batch(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    with pytest.raises(InvalidInput, match="'NO_SUCH_KEY' does not exist in stack 'web'"):
        add_webhook(
            installation, LOCAL, "x", url=receiver.url, signing_key="NO_SUCH_KEY", stack="web"
        )
    with pytest.raises(InvalidInput, match="https://"):
        add_webhook(
            installation,
            LOCAL,
            "x",
            url="http://hooks.example.test/",
            signing_key="HOOK_KEY",
            stack="web",
        )
    with pytest.raises(InvalidInput, match="name the level"):
        add_webhook(installation, LOCAL, "x", url=receiver.url, signing_key="HOOK_KEY")
    assert list_webhooks(installation, LOCAL) == []
    _add(installation, receiver)
    with pytest.raises(Conflict, match="already exists"):
        _add(installation, receiver)
    loop = _loop(installation)
    unset_secret(installation, LOCAL, world.web, "HOOK_KEY")
    assert _drain(loop)[-1] is Step.FAILED
    assert receiver.requests == []  # nothing sent unsigned
    assert "HOOK_KEY could not be read" in str(_info(installation).last_error)
    set_secret(installation, LOCAL, world.web, "HOOK_KEY", SecretValue("whsec-back-77aa"))
    _drain(loop)
    # Both changes of the level, the unset and the set of the key itself, none lost.
    [request] = receiver.requests
    assert [e["action"] for e in request.json["events"]] == ["secret.unset", "secret.set"]
    assert signed_by(request, b"whsec-back-77aa")


def test_pausing_holds_the_changes_and_resuming_sends_them(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    _add(installation, receiver)
    loop = _loop(installation)
    set_paused(installation, LOCAL, "deploys", True)
    set_secret(installation, LOCAL, world.web, "NEW_KEY", SecretValue(NEW_VALUE))
    assert loop.step()[0] is Step.PAUSED
    assert _info(installation).state == "paused"
    set_paused(installation, LOCAL, "deploys", False, account="acme")
    _drain(loop)
    [request] = receiver.requests
    assert request.json["events"][0]["keys"] == [{"key": "NEW_KEY", "version": 1}]


def test_a_webhook_whose_stack_or_account_is_deleted_stops_and_lists_as_stopped(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    set_secret(installation, LOCAL, world.dev, "DEV_HOOK", SecretValue("whsec-dev"))
    add_webhook(
        installation, LOCAL, "dev-hook", url=receiver.url, signing_key="DEV_HOOK", stack="dev"
    )
    loop = _loop(installation, "dev-hook")
    delete_stack(installation, LOCAL, "dev", "acme", force=True)
    assert loop.step()[0] is Step.REMOVED
    assert receiver.requests == []
    info = _info(installation, "dev-hook")
    assert (info.state, info.stack_name) == ("stopped (stack deleted)", "dev")
    assert [h.name for h in live_webhooks(installation)] == []
    remove_webhook(installation, LOCAL, "dev-hook")
    assert list_webhooks(installation, LOCAL) == []
    # An account's, with the account.
    set_secret(installation, LOCAL, world.globex, "GLOBEX_HOOK", SecretValue("whsec-globex"))
    add_webhook(
        installation, LOCAL, "all", url=receiver.url, signing_key="GLOBEX_HOOK", account="globex"
    )
    loop = _loop(installation, "all")
    delete_account(installation, LOCAL, "globex", force=True)
    assert loop.step()[0] is Step.REMOVED
    assert _info(installation, "all").state == "stopped (account deleted)"
    assert receiver.requests == []


def test_whoever_may_manage_the_accounts_stacks_may_and_no_one_else(
    installation: Installation, world: World, receiver: WebhookReceiver
) -> None:
    developer = make_user(installation, "dev@acme.test", "acme", "developer")
    operator = make_user(installation, "ops@acme.test", "acme", "operation")
    public_only = make_user(installation, "ops@acme.test", "acme", "operation", scopes=["public"])
    outsider = make_user(installation, "shop@globex.test", "globex", "administrator")
    add = {"url": receiver.url, "signing_key": "HOOK_KEY", "stack": "web", "account": "acme"}
    before = last_seq(installation)
    with pytest.raises(Forbidden):
        add_webhook(installation, developer, "w", **add)
    with pytest.raises(Forbidden):
        add_webhook(installation, public_only, "w", **add)
    with pytest.raises(NotFound):
        add_webhook(installation, outsider, "w", **add)
    refused = [e for e in events_after(installation, before) if e.outcome == "denied"]
    assert {e.actor for e in refused} >= {"dev@acme.test", "ops@acme.test", "shop@globex.test"}
    assert list_webhooks(installation, LOCAL) == []
    added = add_webhook(installation, operator, "w", **add)
    assert added.created_by == "ops@acme.test"
    assert [w.name for w in list_webhooks(installation, operator)] == ["w"]
    assert list_webhooks(installation, developer) == []
    assert list_webhooks(installation, outsider) == []
    with pytest.raises(NotFound):
        remove_webhook(installation, outsider, "w")
    with pytest.raises(Forbidden):
        set_paused(installation, developer, "w", True)
    remove_webhook(installation, operator, "w")
    actions = [e.action for e in events_after(installation, before) if e.outcome == "ok"]
    assert [a for a in actions if a.startswith("webhook.")] == ["webhook.add", "webhook.remove"]
