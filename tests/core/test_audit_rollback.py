"""The audit log's tail cannot be cut undetected: a checkpoint of the head outside the database
(SQLite and PostgreSQL), a genesis event, and ``verify_chain`` comparing against both."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from stacksafe.core.audit import GENESIS_ACTION, write_genesis
from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.audit_checkpoint import parse_expected_head, read_checkpoint
from stacksafe.core.audit_events import list_events
from stacksafe.core.health import readiness
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.secrets import set_secret
from stacksafe.core.server_keys import AUDIT_CHAIN, keyed_hash
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import audit_events, audit_head
from tests.actors import LOCAL


def put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


def head_row(installation: Installation) -> dict[str, Any]:
    with installation.store.read() as conn:
        return dict(conn.execute(select(audit_head)).one()._mapping)


def write(installation: Installation, *statements: Any) -> None:
    with installation.store.write() as conn:
        for statement in statements:
            conn.execute(statement)


def checkpoint_of(installation: Installation) -> Path:
    assert installation.audit_checkpoint is not None
    return installation.audit_checkpoint.path


def flush(installation: Installation) -> None:
    assert installation.audit_checkpoint is not None
    installation.audit_checkpoint.flush()


def cut_to(installation: Installation, head: dict[str, Any]) -> None:
    """What an attacker with database write access does: delete the events after ``head``'s
    and put the head row back to that earlier copy (a valid MAC: it was the server's)."""
    write(
        installation,
        delete(audit_events).where(audit_events.c.seq > head["seq"]),
        update(audit_head).values(seq=head["seq"], hash=head["hash"], mac=head["mac"]),
    )


@pytest.fixture
def logged(installation: Installation, stack_target: Target) -> tuple[Installation, Target]:
    """A log with its genesis event and a few changes, anchored in the checkpoint file."""
    write_genesis(installation, LOCAL)
    for n in range(3):
        put(installation, stack_target, f"K{n}", f"value {n}")
    flush(installation)
    return installation, stack_target


def test_a_cut_tail_with_the_head_restored_is_a_rollback(
    logged: tuple[Installation, Target],
) -> None:
    installation, target = logged
    earlier = head_row(installation)
    for n in range(3):
        put(installation, target, f"LATER{n}", "x")
    flush(installation)
    last = head_row(installation)["seq"]
    cut_to(installation, earlier)

    report = verify_chain(installation)
    assert (report.intact, report.first_bad_seq, report.events) == (
        False,
        earlier["seq"] + 1,
        earlier["seq"],
    )
    assert report.problem is not None
    assert report.problem.startswith(
        f"the log was rolled back: it ends at event {earlier['seq']}, but the checkpoint "
        f"{checkpoint_of(installation)} records event {last}"
    )


def test_every_event_wiped_with_the_head_is_a_rollback(logged: tuple[Installation, Target]) -> None:
    installation, _ = logged
    last = head_row(installation)["seq"]
    write(installation, delete(audit_events), delete(audit_head))
    report = verify_chain(installation)
    assert (report.intact, report.events, report.first_bad_seq) == (False, 0, 1)
    assert report.problem is not None
    assert "the log was rolled back: it ends at event 0" in report.problem
    assert f"records event {last}" in report.problem
    # Without the checkpoint too: an empty log has lost its genesis event.
    checkpoint_of(installation).unlink()
    report = verify_chain(installation)
    assert (report.intact, report.events, report.first_bad_seq) == (False, 0, 1)
    assert report.problem is not None
    assert report.problem.startswith("the log has no genesis event")


def test_a_log_without_a_genesis_event_is_broken_not_intact(installation: Installation) -> None:
    report = verify_chain(installation)
    assert not report.intact
    assert report.problem is not None
    assert report.problem.startswith("the log has no genesis event: it is empty")


def test_init_writes_the_genesis_event_once(installation: Installation) -> None:
    assert write_genesis(installation, LOCAL) == 1
    assert write_genesis(installation, LOCAL) is None  # a log with events gets none
    events = list_events(installation)
    assert [(e.seq, e.action, e.actor) for e in events] == [(1, GENESIS_ACTION, LOCAL.name)]
    report = verify_chain(installation)
    assert (report.intact, report.events) == (True, 1)


def test_a_cut_tail_continued_by_new_appends_is_a_rewrite(
    logged: tuple[Installation, Target],
) -> None:
    """The server went on appending after the cut: the log reaches the checkpoint's sequence
    again, with other events; the writer keeps the checkpoint, verify names the event."""
    installation, target = logged
    earlier = head_row(installation)
    for n in range(2):
        put(installation, target, f"LATER{n}", "x")
    flush(installation)
    anchored = head_row(installation)["seq"]
    kept = checkpoint_of(installation).read_bytes()
    cut_to(installation, earlier)
    for n in range(4):
        put(installation, target, f"AFTER{n}", "y")
    flush(installation)

    assert checkpoint_of(installation).read_bytes() == kept  # never moved over the evidence
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem == (
        f"the audit log was rolled back and rewritten: event {anchored} is not the one the "
        f"checkpoint {checkpoint_of(installation)} records"
    )
    report = verify_chain(installation)
    assert (report.intact, report.first_bad_seq) == (False, anchored)
    assert report.problem is not None
    assert report.problem.startswith("the log was rolled back and rewritten")


def test_the_writer_never_rewinds_the_checkpoint_and_readiness_says_so(
    logged: tuple[Installation, Target],
) -> None:
    installation, target = logged
    earlier = head_row(installation)
    put(installation, target, "LATER", "x")
    flush(installation)
    kept = checkpoint_of(installation).read_bytes()
    cut_to(installation, earlier)
    flush(installation)
    assert checkpoint_of(installation).read_bytes() == kept
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem is not None
    assert installation.audit_checkpoint.problem.startswith(
        "the audit log was rolled back: the database's head is event"
    )
    # Readiness is public: the kind of problem, not the file nor the event numbers.
    assert readiness(installation)["audit_checkpoint"] == "rolled back: see the server log"


def test_a_deleted_checkpoint_does_not_let_a_running_server_anchor_a_cut_log(
    logged: tuple[Installation, Target],
) -> None:
    """Deleting the file as well as cutting the tail, while the server runs: it remembers
    what it anchored, so it does not write a fresh checkpoint at the cut head."""
    installation, target = logged
    earlier = head_row(installation)
    put(installation, target, "LATER", "x")
    flush(installation)
    checkpoint_of(installation).unlink()
    cut_to(installation, earlier)
    flush(installation)
    assert not checkpoint_of(installation).exists()
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem is not None
    assert "below event" in installation.audit_checkpoint.problem
    assert readiness(installation)["audit_checkpoint"] == "rolled back: see the server log"


def test_a_deleted_checkpoint_of_an_intact_log_is_written_again(
    logged: tuple[Installation, Target],
) -> None:
    installation, target = logged
    checkpoint_of(installation).unlink()
    put(installation, target, "LATER", "x")
    flush(installation)
    assert checkpoint_of(installation).exists()
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem is None


def test_readiness_sees_a_rollback_before_the_next_append(
    logged: tuple[Installation, Target], caplog: pytest.LogCaptureFixture
) -> None:
    installation, target = logged
    earlier = head_row(installation)
    put(installation, target, "LATER", "x")
    flush(installation)
    assert readiness(installation)["audit_checkpoint"] == "ok"
    cut_to(
        installation, earlier
    )  # nothing appended since: the writer's thread has no reason to look
    with caplog.at_level("ERROR", logger="stacksafe.audit"):
        assert readiness(installation)["audit_checkpoint"] == "rolled back: see the server log"
    assert f"the checkpoint {checkpoint_of(installation)} records event" in caplog.text


def test_every_event_wiped_with_the_head_is_reported_by_readiness(
    logged: tuple[Installation, Target], caplog: pytest.LogCaptureFixture
) -> None:
    """A wipe of the events and the head row (or the head set back to event 0) with a
    checkpoint in place is a rollback: before the next append, and at a flush."""
    installation, _ = logged
    last = head_row(installation)["seq"]
    kept = checkpoint_of(installation).read_bytes()
    write(installation, delete(audit_events), delete(audit_head))
    with caplog.at_level("ERROR", logger="stacksafe.audit"):
        checks = readiness(installation)
    assert checks["audit_checkpoint"] == "rolled back: see the server log"
    assert str(checkpoint_of(installation)) not in json.dumps(checks)
    assert (
        "the audit log was rolled back: the database's head is missing (every event deleted), "
        f"but the checkpoint {checkpoint_of(installation)} records event {last}"
    ) in caplog.text
    flush(installation)
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem is not None
    assert "rolled back" in installation.audit_checkpoint.problem
    assert checkpoint_of(installation).read_bytes() == kept


@pytest.mark.parametrize(
    "damage",
    [
        lambda found: {**found, "seq": found["seq"] + 5},  # moved ahead, MAC unchanged
        lambda found: {**found, "mac": "00" * 32},  # a MAC made without the key
        lambda found: {"format": "something else"},  # not a checkpoint
    ],
    ids=["moved", "forged-mac", "not-a-checkpoint"],
)
def test_a_forged_or_damaged_checkpoint_is_reported_and_kept(
    logged: tuple[Installation, Target], damage: Any
) -> None:
    installation, target = logged
    path = checkpoint_of(installation)
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    forged = path.read_bytes()
    report = verify_chain(installation)
    assert not report.intact
    assert report.problem is not None
    assert report.problem.startswith(f"the audit checkpoint {path} is")
    assert "forged or damaged" in report.problem or "damaged" in report.problem
    put(installation, target, "MORE", "z")
    flush(installation)
    assert path.read_bytes() == forged  # evidence kept for an operator
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem is not None
    assert "kept as it is" in installation.audit_checkpoint.problem


def test_normal_operation_and_restarts_stay_intact(
    settings: Settings, installation: Installation, stack_target: Target
) -> None:
    write_genesis(installation, LOCAL)
    put(installation, stack_target, "A", "1")
    installation.close()  # a clean stop anchors what it appended
    chain = None
    for round_ in range(3):
        reopened = open_installation(settings)
        try:
            chain = keyed_hash(reopened, AUDIT_CHAIN)
            anchor = read_checkpoint(checkpoint_of(reopened), chain)
            assert anchor is not None
            assert anchor.seq == head_row(reopened)["seq"]
            report = verify_chain(reopened, require_anchor=True)
            assert report.intact, report
            assert report.anchors == (anchor.source,)
            assert report.head == anchor.text
            put(reopened, stack_target, f"R{round_}", str(round_))
        finally:
            reopened.close()


def test_several_servers_each_keep_their_own_checkpoint(
    settings: Settings, installation: Installation, stack_target: Target, tmp_path: Path
) -> None:
    """Two servers on one database: each anchors what it saw; either file checks the log."""
    other_file = tmp_path / "other" / "audit.checkpoint"
    other = open_installation(dataclasses.replace(settings, audit_checkpoint_file=other_file))
    try:
        write_genesis(installation, LOCAL)
        put(installation, stack_target, "A", "1")
        flush(installation)
        earlier = head_row(installation)
        put(other, stack_target, "B", "2")
        flush(other)
        put(installation, stack_target, "C", "3")
        flush(installation)
        # Each checkpoint is at or below the head, with the event at its sequence.
        report = verify_chain(installation, checkpoints=[other_file])
        assert report.intact, report
        assert len(report.anchors) == 2
        # Cut back before the other server's checkpoint, its own file now gone: the
        # other server's copy, handed to verify, still tells.
        cut_to(installation, earlier)
        checkpoint_of(installation).unlink()
        report = verify_chain(installation, checkpoints=[other_file])
        assert not report.intact
        assert report.problem is not None
        assert f"the checkpoint {other_file} records" in report.problem
    finally:
        other.close()


def test_an_expected_head_kept_elsewhere_is_an_anchor(logged: tuple[Installation, Target]) -> None:
    installation, target = logged
    earlier = head_row(installation)
    put(installation, target, "LATER", "x")
    kept = verify_chain(installation).head
    assert kept is not None
    expected = parse_expected_head(kept)
    cut_to(installation, earlier)
    checkpoint_of(installation).unlink()  # whoever cut the log removed the file too
    assert verify_chain(installation).intact  # nothing left to tell, on this machine: so
    unanchored = verify_chain(installation, require_anchor=True)  # `audit verify` refuses that
    assert (unanchored.intact, unanchored.unanchored, unanchored.first_bad_seq) == (
        False,
        True,
        None,
    )
    assert unanchored.problem is not None
    assert unanchored.problem.startswith(f"no checkpoint found at {checkpoint_of(installation)}: ")
    report = verify_chain(installation, expected=[expected])
    assert not report.intact
    assert report.problem is not None
    assert f"--expect-head {expected.seq} records event {expected.seq}" in report.problem


@pytest.mark.parametrize("text", ["", "12", "x:00", "0:" + "00" * 32, "3:" + "00" * 31, "3:zz"])
def test_a_malformed_expected_head_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="--expect-head must be SEQ:HASH"):
        parse_expected_head(text)


def test_a_named_checkpoint_file_that_does_not_exist_is_refused(
    logged: tuple[Installation, Target], tmp_path: Path
) -> None:
    installation, _ = logged
    with pytest.raises(InvalidInput, match=r"checkpoint file .* does not exist"):
        verify_chain(installation, checkpoints=[tmp_path / "missing"])


def test_the_checkpoint_never_holds_more_than_the_head(logged: tuple[Installation, Target]) -> None:
    """Sequence, hash and MAC of the head: no event content, no value."""
    installation, _ = logged
    found = json.loads(checkpoint_of(installation).read_text())
    assert sorted(found) == ["format", "hash", "mac", "seq", "written_at"]
    assert found["seq"] == head_row(installation)["seq"]
    assert bytes.fromhex(found["hash"]) == bytes(head_row(installation)["hash"])
    assert "value" not in checkpoint_of(installation).read_text()


def test_a_head_row_forged_in_the_database_is_not_checkpointed(
    logged: tuple[Installation, Target],
) -> None:
    installation, target = logged
    kept = checkpoint_of(installation).read_bytes()
    put(installation, target, "LATER", "x")
    write(
        installation,
        update(audit_head).values(seq=head_row(installation)["seq"] + 100, mac=b"\x00" * 32),
    )
    flush(installation)
    assert checkpoint_of(installation).read_bytes() == kept
    assert installation.audit_checkpoint is not None
    assert installation.audit_checkpoint.problem is not None
    assert "is forged" in installation.audit_checkpoint.problem


def test_readiness_says_the_audit_log_cannot_be_written_on_a_full_disk(
    installation: Installation,
) -> None:
    """A probe that is rolled back never reaches SQLite's disk; the free space does (the real
    full filesystem is tests/e2e/test_storage_faults.py's)."""
    assert readiness(installation)["audit"] == "ok"
    installation.audit_min_free_bytes = 1 << 60  # more than any filesystem here has free
    assert readiness(installation)["audit"].startswith("not writable (the filesystem of the ")
    assert readiness(installation)["audit"].endswith("disk full)")


def test_a_checkpoint_that_cannot_be_written_is_reported_and_written_once_it_can(
    logged: tuple[Installation, Target], caplog: pytest.LogCaptureFixture
) -> None:
    """A filesystem error on the checkpoint's path (here its lock file is a directory) is a
    problem readiness names and the log explains; the next flush that can write anchors the
    head."""
    installation, target = logged
    checkpoint = installation.audit_checkpoint
    assert checkpoint is not None
    lock = checkpoint.path.with_name(checkpoint.path.name + ".lock")
    lock.unlink()
    lock.mkdir()
    put(installation, target, "LATER", "x")
    with caplog.at_level("ERROR"):
        flush(installation)
    expected = f"cannot write the audit checkpoint {checkpoint.path}: Is a directory"
    assert checkpoint.problem == expected
    assert expected in caplog.text
    assert readiness(installation)["audit_checkpoint"] == "cannot be written: see the server log"

    lock.rmdir()
    flush(installation)
    assert checkpoint.problem is None
    anchored = read_checkpoint(checkpoint.path, keyed_hash(installation, AUDIT_CHAIN))
    assert anchored is not None
    assert anchored.seq == head_row(installation)["seq"]
