"""Bulk import: a report of added / changed / unchanged, all or nothing, in batches that let
other writers in (core.imports)."""

from __future__ import annotations

import threading

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import import_secrets, list_secrets, set_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import ExpansionTooLarge, InvalidInput
from stacksafe.model import SecretValue
from tests.actors import LOCAL


def wrap(data: dict[str, str]) -> dict[str, SecretValue]:
    return {k: SecretValue(v) for k, v in data.items()}


def snapshot(installation: Installation, target: Target) -> dict[str, tuple[int, str]]:
    return {
        s.key: (s.version, s.raw_value.reveal() if s.raw_value else "")
        for s in list_secrets(installation, LOCAL, target, reveal=True)
    }


def test_import_reports_added_changed_and_unchanged(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "SAME", SecretValue("1"))
    set_secret(installation, LOCAL, stack_target, "DIFF", SecretValue("old"))
    report = import_secrets(
        installation, LOCAL, stack_target, wrap({"SAME": "1", "DIFF": "new", "NEW": "n"})
    )
    assert (report.added, report.changed, report.unchanged) == (["NEW"], ["DIFF"], ["SAME"])
    assert snapshot(installation, stack_target) == {
        "DIFF": (2, "new"),
        "NEW": (1, "n"),
        "SAME": (1, "1"),  # unchanged values get no new version
    }


def test_import_compares_against_the_own_level_only(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, account_target, "SHARED", SecretValue("same"))
    report = import_secrets(installation, LOCAL, stack_target, wrap({"SHARED": "same"}))
    assert report.added == ["SHARED"]  # a stack override, even with the same text
    assert [s.inherited for s in list_secrets(installation, LOCAL, stack_target)] == [False]


@pytest.mark.parametrize(
    "bad",
    [{"OK": "1", "bad key": "2"}, {"OK": "1", "BIG": "x" * (64 * 1024 + 1)}],
)
def test_a_bad_entry_rejects_the_whole_import(
    installation: Installation, stack_target: Target, bad: dict[str, str]
) -> None:
    set_secret(installation, LOCAL, stack_target, "EXISTING", SecretValue("v"))
    before = snapshot(installation, stack_target)
    with pytest.raises(InvalidInput):
        import_secrets(installation, LOCAL, stack_target, wrap(bad))
    assert snapshot(installation, stack_target) == before


def test_failure_midway_rolls_back_every_write(
    installation: Installation, stack_target: Target
) -> None:
    class Boom(Exception):
        pass

    entries = wrap({f"K{i}": str(i) for i in range(5)})
    calls = 0
    original = installation.clock

    def failing_clock():  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls > 1:
            raise Boom
        return original()

    installation.clock = failing_clock
    with pytest.raises(Boom):
        import_secrets(installation, LOCAL, stack_target, entries)
    installation.clock = original
    assert snapshot(installation, stack_target) == {}


def _events(installation: Installation) -> list[tuple[str, dict[str, object]]]:
    """(action, detail) of every audit event, oldest first (page after page: a reader revealing
    in a loop beside an import appends more than one page of events on a fast disk)."""
    newest_first: list[tuple[str, dict[str, object]]] = []
    while page := list_events(installation, limit=1000, offset=len(newest_first)):
        newest_first += [(e.action, e.detail) for e in page]
    return newest_first[::-1]


def test_a_large_import_lets_other_writers_in_between_its_batches(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    """Reveals (each appends an audit event, a write) get the write lock while a large import
    runs: their events land between the import's first and last batch, not after it."""
    other = Target(account_target.account, create_stack(installation, LOCAL, "acme", "api", "dev"))
    set_secret(installation, LOCAL, other, "OTHER", SecretValue("o"))
    entries = wrap({f"K{i:04d}": f"v{i}" for i in range(1200)})
    revealed = threading.Event()
    finished = threading.Event()

    def reader() -> None:
        while not finished.is_set():
            list_secrets(installation, LOCAL, other, reveal=True)
            revealed.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        assert revealed.wait(30)
        report = import_secrets(installation, LOCAL, stack_target, entries, batch_keys=100)
    finally:
        finished.set()
        thread.join()
    assert len(report.added) == 1200
    actions = [action for action, _ in _events(installation)]
    imports = [i for i, action in enumerate(actions) if action == "secret.import"]
    assert len(imports) == 12  # a batch per transaction, each with its own event
    between = actions[imports[0] : imports[-1]]
    assert "reveal" in between


def test_a_failure_in_a_later_batch_undoes_the_earlier_ones(
    installation: Installation, stack_target: Target
) -> None:
    """All or nothing across batches: batch 3 of 3 fails, batches 1 and 2 (committed) are
    undone; every key reads as before, and the history and the audit log say what happened."""
    set_secret(installation, LOCAL, stack_target, "A0", SecretValue("old-a0"))
    set_secret(installation, LOCAL, stack_target, "C0", SecretValue("old-c0"))
    set_secret(installation, LOCAL, stack_target, "B0", SecretValue("same"))
    before = {k: v for k, (_, v) in snapshot(installation, stack_target).items()}
    # Sorted, the batches of two are [A0 A1] [B0 B1] [C0 C1]: A0 changes, A1 and B1 are new.
    entries = wrap({"A0": "new", "A1": "n", "B0": "same", "B1": "n", "C0": "x", "C1": "y"})

    class Boom(Exception):
        pass

    armed = False
    original = installation.clock

    def failing_clock():  # type: ignore[no-untyped-def]
        nonlocal armed
        if armed:  # once: the undo reads the clock too
            armed = False
            raise Boom
        return original()

    def after_batch(done: int, total: int) -> None:
        nonlocal armed
        armed = done == 4  # after batch 2 of 3: batch 3 fails

    installation.clock = failing_clock
    try:
        with pytest.raises(Boom):
            import_secrets(
                installation, LOCAL, stack_target, entries, batch_keys=2, progress=after_batch
            )
    finally:
        installation.clock = original
    assert {k: v for k, (_, v) in snapshot(installation, stack_target).items()} == before
    events = _events(installation)
    batches = [detail for action, detail in events if action == "secret.import"]
    assert [b["batch"] for b in batches] == [[1, 3], [2, 3]]
    undone = [detail for action, detail in events if action == "secret.import.undo"]
    undone_keys: dict[str, object] = {}
    for detail in undone:  # undone a batch at a time too
        assert detail["import"] == batches[0]["import"]
        assert isinstance(detail["keys"], dict)
        undone_keys |= detail["keys"]
    assert undone_keys == {"A0": 3, "A1": 2, "B1": 2}  # B0 was unchanged: nothing to undo
    assert "old-a0" not in str(undone)  # fingerprints, never values


def test_an_import_refused_after_its_batches_is_undone(
    installation: Installation, stack_target: Target
) -> None:
    """The expansion bound is checked on what the batches left; refused, nothing remains."""
    big = "x" * (40 * 1024)
    entries = wrap({"A": big, "B": "${A}${A}", "C": "c"})
    with pytest.raises(ExpansionTooLarge):
        # raw: stored text, so ${A} is a reference (a plain import stores it as literal text)
        import_secrets(installation, LOCAL, stack_target, entries, batch_keys=1, raw=True)
    assert snapshot(installation, stack_target) == {}


def test_a_key_written_by_someone_else_during_the_import_is_compared_with_their_value(
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "B", SecretValue("old"))
    progressed: list[tuple[int, int]] = []

    def meanwhile(done: int, total: int) -> None:
        progressed.append((done, total))
        if done == 1:  # between batch 1 and 2: someone sets B to what the file says
            set_secret(installation, LOCAL, stack_target, "B", SecretValue("new"))

    report = import_secrets(
        installation,
        LOCAL,
        stack_target,
        wrap({"A": "a", "B": "new"}),
        batch_keys=1,
        progress=meanwhile,
    )
    assert (report.added, report.changed, report.unchanged) == (["A"], [], ["B"])
    assert progressed == [(1, 2), (2, 2)]
    assert snapshot(installation, stack_target)["B"] == (2, "new")
