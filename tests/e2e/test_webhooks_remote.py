"""Webhooks through a real `stacksafe serve` (issue 20): added, listed, paused and removed by
the CLI in remote mode (the SDK); the serving process's own delivery (api.webhook_streams,
started with the app) POSTs a change to a receiver written in the test, which checks the
signature with the documented algorithm; a stack deleted stops its webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stacksafe.errors import InvalidInput
from tests.core.streams.helpers import until
from tests.core.webhooks.receiver import WebhookReceiver, receiving, signed_by
from tests.e2e.conftest import Served, TlsFiles, serve_seeded

# SQLite only (tests/conftest.py, DATABASES): what is tested here is the server process's part
# and the CLI over HTTP; the delivery itself runs on both databases in tests/core/webhooks.
pytestmark = pytest.mark.databases("sqlite")

SIGNING = "whsec-served-signing-value-6a6b"
NEW_VALUE = "served-new-value-must-not-leave-77"


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with receiving() as made:
        yield made


@pytest.fixture(scope="module")
def hooked(
    module_database_url: str, tls: TlsFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A served installation whose outbound rule lets it reach the receiver on loopback."""
    env = {"STACKSAFE_OUTBOUND_ALLOW": "127.0.0.1/32"}
    yield from serve_seeded(tmp_path_factory.mktemp("hooked"), module_database_url, tls, env=env)


def test_a_change_reaches_the_receiver_signed_from_the_server(
    hooked: Served, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    remote = hooked.remote(None, tmp_path / "remote").in_process()
    web = ("--stack", "web", "--account", "acme")
    refused = remote.fails(
        InvalidInput.exit_code,
        "webhooks", "add", "deploys", *web, "--url", receiver.url,
        "--signing-key-secret", "HOOK_KEY",
    )  # fmt: skip
    assert "'HOOK_KEY' does not exist in stack 'web'" in refused.stderr
    remote.ok("secrets", "set", f"HOOK_KEY={SIGNING}", *web)
    remote.ok(
        "webhooks", "add", "deploys", *web, "--url", receiver.url,
        "--signing-key-secret", "HOOK_KEY",
    )  # fmt: skip
    [listed] = remote.json("webhooks", "list", "--format", "json")
    assert (listed["name"], listed["stack_name"], listed["origin"]) == (
        "deploys",
        "web",
        receiver.url.split("/hooks")[0],
    )
    remote.ok("secrets", "set", f"NEW_KEY={NEW_VALUE}", *web)
    remote.ok("secrets", "set", "ELSEWHERE=x", "--stack", "dev", "--account", "acme")
    # The server reads its webhooks every few seconds, then delivers at once.
    until(lambda: len(receiver.requests) >= 1, "the change delivered", seconds=20)
    [request] = receiver.requests
    assert signed_by(request, SIGNING.encode())
    [event] = request.json["events"]
    assert (event["action"], event["keys"], event["stack"]["name"]) == (
        "secret.set",
        [{"key": "NEW_KEY", "version": 1}],
        "web",
    )
    assert NEW_VALUE.encode() not in request.body
    assert SIGNING.encode() not in request.body
    until(
        lambda: (
            remote.json("webhooks", "status", "--format", "json")[0]["last_delivered_at_iso"]
            is not None
        ),
        "the delivery recorded",
    )

    remote.ok("webhooks", "pause", "deploys", "--account", "acme")
    assert remote.json("webhooks", "list", "--format", "json")[0]["state"] == "paused"
    remote.ok("webhooks", "resume", "deploys")
    remote.ok("stacks", "delete", "web", "--account", "acme", "--force")
    [stopped] = remote.json("webhooks", "list", "--format", "json")
    assert stopped["state"] == "stopped (stack deleted)"
    assert remote.ok("webhooks", "remove", "deploys").stdout.startswith("Removed webhook")
    assert remote.json("webhooks", "list", "--format", "json") == []
