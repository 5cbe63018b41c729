"""`stacksafe rotation ...` and `secrets generate --rotate-every` through the CLI (local)."""

from __future__ import annotations

from tests.cli.helpers import Cli, InProcessCli, error_line
from tests.cli.main_in_process import MainInProcess

WEB = ("--stack", "web")
BAD_INPUT, NOT_FOUND = 2, 3


def test_generate_with_a_policy_then_rotate_and_read_the_previous_value(
    seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    out = run.ok(
        "secrets",
        "generate",
        "TOKEN",
        *WEB,
        "--length",
        "20",
        "--charset",
        "hex",
        "--rotate-every",
        "30d",
    ).stdout
    assert out.endswith("; rotated every 30d\n")
    first = run.ok("secrets", "get", "TOKEN", *WEB, "--plain").stdout.strip()
    policy = run.json("rotation", "show", "TOKEN", *WEB, "--format", "json")
    assert (policy["rotator"], policy["rotate_every"]) == ("generate", 30 * 86400)
    assert policy["config"] == {"charset": "hex", "length": 20}
    shown = seeded_here.ok("rotation", "show", "TOKEN", *WEB).stdout
    assert "rotate every   30d" in shown
    assert first not in shown

    assert run.json("rotation", "run", "--format", "json") == []  # nothing due yet
    done = run.json("rotation", "run", "--key", "TOKEN", *WEB, "--format", "json")
    assert [(d["outcome"], d["version"]) for d in done] == [("rotated", 2)]
    second = run.ok("secrets", "get", "TOKEN", *WEB, "--plain").stdout.strip()
    assert len(second) == 20
    assert second != first
    previous = run.ok("secrets", "get", "TOKEN", *WEB, "--label", "previous", "--plain").stdout
    assert previous == first + "\n"
    bad_label = run.invoke("secrets", "get", "TOKEN", *WEB, "--label", "older")
    assert bad_label.exit_code == BAD_INPUT

    status = run.json("rotation", "status", "--all", "--format", "json")
    assert [(s["key"], s["state"], s["stack"]) for s in status] == [("TOKEN", "ok", "web")]
    assert run.json("rotation", "status", "--format", "json") == []

    run.ok("rotation", "clear", "TOKEN", *WEB)
    missing = run.invoke("rotation", "show", "TOKEN", *WEB)
    assert missing.exit_code == NOT_FOUND
    assert "has no rotation policy" in error_line(missing.stderr)


def test_policies_with_expiry_show_in_status_and_bad_input_changes_nothing(
    seeded_here: MainInProcess, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "STRIPE_KEY=sk_live_x", *WEB)
    run.ok("rotation", "set", "STRIPE_KEY", *WEB, "--expires-at", "2020-01-01T00:00:00Z")
    table = seeded_here.ok("rotation", "status").stdout.splitlines()
    assert table[0].split()[:4] == ["STATE", "ACCOUNT", "STACK", "KEY"]
    assert table[1].split()[:4] == ["expired", "acme", "web", "STRIPE_KEY"]
    assert "sk_live_x" not in "\n".join(table)

    before = run.json("rotation", "show", "STRIPE_KEY", *WEB, "--format", "json")
    for args, message in [
        (("--every", "soon"), "duration 'soon' is not valid"),
        (("--expires-at", "next week"), "not an ISO 8601 time"),
        (("--expires-at", "2030-01-01T00:00:00"), "give --expires-at with an offset"),
        (("--rotator", "webhook"), "needs url"),
        (("--rotator", "postgres", "--roles", "a"), "needs admin_key"),
    ]:
        refused = run.invoke("rotation", "set", "STRIPE_KEY", *WEB, *args)
        assert refused.exit_code == BAD_INPUT, args
        assert message in error_line(refused.stderr)
    assert run.json("rotation", "show", "STRIPE_KEY", *WEB, "--format", "json") == before
    manual = run.invoke("rotation", "run", "--key", "STRIPE_KEY", *WEB)
    assert manual.exit_code == BAD_INPUT
    assert "manual rotator" in error_line(manual.stderr)


def test_a_failed_rotation_exits_1_and_keeps_the_value(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("secrets", "set", "HOOKED=original", *WEB)
    # A name for loopback: accepted in the policy (names are checked when the rotation runs),
    # refused then by the default outbound policy, so the rotation fails at once.
    run.ok(
        "rotation", "set", "HOOKED", *WEB, "--rotator", "webhook", "--url", "http://localhost:9/x"
    )
    failed = seeded.run("rotation", "run", "--key", "HOOKED", *WEB)
    assert failed.returncode == 1
    assert "failed" in failed.stdout
    assert "is not a host stacksafe may connect to" in failed.stdout
    assert run.ok("secrets", "get", "HOOKED", *WEB, "--plain").stdout == "original\n"
    policy = run.json("rotation", "show", "HOOKED", *WEB, "--format", "json")
    assert policy["failures"] == 1


def test_rotation_run_with_a_stack_rotates_only_that_stacks_due_secrets(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    run = cli_runner
    run.ok("stacks", "create", "api", "--account", "acme")
    for stack in ("web", "api"):
        run.ok("secrets", "set", "K=original", "--stack", stack)
    # Policies made through the core with a clock in the past would need another process: give
    # both a policy and rotate them now, one stack at a time, by the scheduler's path.
    for stack in ("web", "api"):
        run.ok("rotation", "set", "K", "--stack", stack, "--rotator", "generate", "--every", "1m")
    done = run.json("rotation", "run", "--stack", "web", "--format", "json", "--force")
    assert [(d["stack_uid"] is not None, d["outcome"]) for d in done] == [(True, "rotated")]
    assert run.ok("secrets", "get", "K", "--stack", "web", "--plain").stdout != "original\n"
    assert run.ok("secrets", "get", "K", "--stack", "api", "--plain").stdout == "original\n"
