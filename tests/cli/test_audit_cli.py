"""`stacksafe init` writes the audit log's genesis event; `audit verify` prints the head to keep
elsewhere, takes it back with --expect-head, and refuses malformed anchors with exit 2."""

from __future__ import annotations

import json
import re

from tests.cli.helpers import Cli, InProcessCli


def test_init_writes_the_genesis_event(cli: Cli) -> None:
    runner = cli.in_process()
    runner.ok("init")
    events = runner.json("audit", "list", "--format", "json")
    assert events[-1]["seq"] == 1
    assert (events[-1]["action"], events[-1]["outcome"]) == ("audit.genesis", "ok")


def test_verify_prints_the_head_and_checks_it_later(seeded: Cli, cli_runner: InProcessCli) -> None:
    printed = cli_runner.ok("audit", "verify").stdout
    match = re.search(r"^  head (\d+:[0-9a-f]{64}) \(checked against", printed, re.M)
    assert match is not None, printed
    head = match.group(1)
    cli_runner.ok("secrets", "set", "K=v", "--stack", "web")
    again = cli_runner.ok("audit", "verify", "--expect-head", head).stdout
    assert again.startswith("Audit log intact:")
    # The data dir's checkpoint (written when the CLI closed the installation) plus the given head.
    assert "checked against 2 checkpoint(s)" in again
    checkpoint = json.loads((seeded.data_dir / "audit.checkpoint").read_text())
    assert checkpoint["seq"] > int(head.split(":")[0])


def test_a_malformed_anchor_is_bad_input(seeded: Cli, cli_runner: InProcessCli) -> None:
    refused = cli_runner.invoke("audit", "verify", "--expect-head", "7")
    assert refused.exit_code == 2
    assert refused.stderr.strip().startswith("Error: --expect-head must be SEQ:HASH")
    missing = seeded.data_dir / "elsewhere.checkpoint"
    refused = cli_runner.invoke("audit", "verify", "--checkpoint", str(missing))
    assert refused.exit_code == 2
    assert refused.stderr.strip() == f"Error: checkpoint file {missing} does not exist"


def test_a_missing_checkpoint_is_not_intact_unless_no_anchor(
    seeded: Cli, cli_runner: InProcessCli
) -> None:
    """A deleted checkpoint is what whoever cut the tail would leave: verify says so and exits
    6, until a copy, a kept head or --no-anchor is given."""
    printed = cli_runner.ok("audit", "verify").stdout
    match = re.search(r"^  head (\d+:[0-9a-f]{64}) ", printed, re.M)
    assert match is not None, printed
    kept = seeded.data_dir / "kept.checkpoint"
    path = seeded.data_dir / "audit.checkpoint"
    path.rename(kept)

    refused = cli_runner.invoke("audit", "verify")
    assert refused.exit_code == 6, refused
    assert refused.stdout == ""
    assert refused.stderr.startswith(
        f"Error: audit log not checked against an anchor: no checkpoint found at {path}: "
        "the log's end cannot be checked"
    ), refused.stderr
    assert "--checkpoint FILE" in refused.stderr
    assert "--expect-head SEQ:HASH" in refused.stderr
    assert "--no-anchor" in refused.stderr

    alone = cli_runner.ok("audit", "verify", "--no-anchor").stdout
    assert alone.startswith("Audit log intact:")
    assert "checked against 0 checkpoint(s)" in alone
    by_head = cli_runner.ok("audit", "verify", "--expect-head", match.group(1)).stdout
    assert "checked against 1 checkpoint(s)" in by_head
    by_copy = cli_runner.ok("audit", "verify", "--checkpoint", str(kept)).stdout
    assert "checked against 1 checkpoint(s)" in by_copy


def test_the_table_says_from_where(seeded: Cli, cli_runner: InProcessCli) -> None:
    """README: `audit list` shows who read a key, when and from where: a FROM column, with the
    request's source address (none for the local CLI, shown as -)."""
    cli_runner.ok("secrets", "set", "K=value", "--stack", "web")
    table = cli_runner.ok("audit", "list").stdout.splitlines()
    assert table[0].split() == ["SEQ", "AT", "ACTOR", "FROM", "ACTION", "OUTCOME", "KEYS"]
    assert all(row.split()[3] == "-" for row in table[1:]), table
