"""Bulk import: one transaction, a report of added / changed / unchanged, all or nothing."""

from __future__ import annotations

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import import_secrets, list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput
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
