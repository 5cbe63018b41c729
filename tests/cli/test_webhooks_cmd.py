"""`stacksafe webhooks` in local mode (cli/webhooks_cmd.py over core.webhooks): added for a stack
or an account, listed and shown with their state, paused, resumed and removed, each change
audited; a missing signing secret or a plain-http URL refused with one line, nothing stored;
the URL's path and query (a receiver's token) printed nowhere. Remote mode, and the delivery by
a real server: tests/e2e/test_webhooks_remote.py."""

from __future__ import annotations

from stacksafe.errors import Conflict, InvalidInput, NotFound
from tests.cli.helpers import Cli

WEB = ("--stack", "web", "--account", "acme")
URL = "https://hooks.example.test/in?token=receiver-token-5150"


def test_a_webhook_round_trip_in_local_mode(seeded: Cli) -> None:
    cli = seeded.in_process()
    cli.ok("secrets", "set", "HOOK_KEY=whsec-local-value-0d0e", *WEB)
    cli.ok("secrets", "set", "ACME_HOOK=whsec-acme-value-1e1f", "--account", "acme")
    missing = cli.fails(
        InvalidInput.exit_code,
        "webhooks", "add", "deploys", *WEB, "--url", URL, "--signing-key-secret", "NOPE",
    )  # fmt: skip
    assert "'NOPE' does not exist in stack 'web'" in missing.stderr
    plain = cli.fails(
        InvalidInput.exit_code,
        "webhooks", "add", "deploys", *WEB, "--url", "http://hooks.example.test/",
        "--signing-key-secret", "HOOK_KEY",
    )  # fmt: skip
    assert "must be https://" in plain.stderr
    assert cli.json("webhooks", "list", "--format", "json") == []

    added = cli.ok(
        "webhooks", "add", "deploys", *WEB, "--url", URL, "--signing-key-secret", "HOOK_KEY"
    ).stdout
    assert added.strip() == (
        "Added webhook 'deploys' for acme/web: changes go to https://hooks.example.test, "
        "signed with the secret HOOK_KEY"
    )
    cli.ok(
        "webhooks", "add", "everything", "--account", "acme", "--url", URL,
        "--signing-key-secret", "ACME_HOOK",
    )  # fmt: skip
    cli.fails(
        Conflict.exit_code,
        "webhooks", "add", "deploys", *WEB, "--url", URL, "--signing-key-secret", "HOOK_KEY",
    )  # fmt: skip
    listed = cli.json("webhooks", "list", "--format", "json")
    assert [(w["name"], w["stack_name"], w["signing_key"], w["state"]) for w in listed] == [
        ("deploys", "web", "HOOK_KEY", "delivering"),
        ("everything", None, "ACME_HOOK", "delivering"),
    ]
    table = cli.ok("webhooks", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "LEVEL", "ORIGIN", "SIGNING", "KEY", "STATE"]
    assert table[2].split()[:2] == ["everything", "account"]

    cli.ok("webhooks", "pause", "deploys")
    status = cli.json("webhooks", "status", "--format", "json")
    assert [(w["name"], w["state"], w["paused"]) for w in status] == [
        ("deploys", "paused", True),
        ("everything", "delivering", False),
    ]
    assert cli.ok("webhooks", "status").stdout.split()[:7] == [
        "NAME", "LEVEL", "STATE", "CURSOR", "BEHIND", "LAST", "DELIVERED",
    ]  # fmt: skip
    resumed = cli.ok("webhooks", "resume", "deploys", "--account", "acme").stdout
    assert resumed.startswith("Resumed webhook 'deploys' of acme/web: ")
    assert cli.ok("webhooks", "remove", "deploys").stdout.strip() == (
        "Removed webhook 'deploys' of acme/web"
    )
    cli.fails(NotFound.exit_code, "webhooks", "remove", "deploys")
    assert [w["name"] for w in cli.json("webhooks", "list", "--format", "json")] == ["everything"]

    log = cli.json("audit", "list", "--format", "json")
    webhook_events = [e for e in log if e["action"].startswith("webhook.")]
    assert sorted(e["action"] for e in webhook_events) == sorted(
        ["webhook.add", "webhook.add", "webhook.pause", "webhook.resume", "webhook.remove"]
    )
    assert "receiver-token-5150" not in str(log)
