"""History, rollback, undelete, destroy and kept versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.retention import max_versions, set_max_versions
from stacksafe.core.secrets import get_secret, list_secrets, set_secret, unset_secret
from stacksafe.core.tenancy import Target
from stacksafe.core.versions import (
    destroy_version,
    history,
    rollback_key,
    rollback_level,
    undelete,
)
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from stacksafe.model import AuditEvent, SecretValue
from stacksafe.store.schema import secret_versions
from tests.actors import LOCAL
from tests.api.helpers import snapshot
from tests.clock import Clock
from tests.core.helpers_access import make_user


def put(installation: Installation, target: Target, key: str, value: str) -> int:
    return set_secret(installation, LOCAL, target, key, SecretValue(value)).version


def value_of(installation: Installation, target: Target, key: str) -> str | None:
    try:
        secret = get_secret(installation, LOCAL, target, key, reveal=True)
    except NotFound:
        return None
    return None if secret.raw_value is None else secret.raw_value.reveal()


def newest(installation: Installation, action: str) -> AuditEvent:
    """The newest audit event of ``action`` (reads in between add reveal events)."""
    return next(e for e in list_events(installation, limit=50) if e.action == action)


def stored_envelope(installation: Installation, version: int) -> bytes | None:
    with installation.store.read() as conn:
        rows = conn.execute(
            select(secret_versions.c.envelope).where(secret_versions.c.version == version)
        ).scalars()
        envelope: bytes | None = next(iter(rows))
        return envelope


def test_history_lists_versions_newest_first_values_only_when_revealed(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "K", "one")
    clock.tick()
    put(installation, stack_target, "K", "two")
    clock.tick()
    unset_secret(installation, LOCAL, stack_target, "K")

    hidden = history(installation, LOCAL, stack_target, "K")
    assert [(e.version, e.action, e.deleted, e.current) for e in hidden] == [
        (3, "delete", True, True),
        (2, "set", False, False),
        (1, "set", False, False),
    ]
    assert all(e.raw_value is None for e in hidden)
    assert str(hidden[1].value).startswith("encrypted:AES256:")
    assert hidden[0].value is None
    assert hidden[2].created_at == datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    assert hidden[2].author == LOCAL.name

    shown = history(installation, LOCAL, stack_target, "K", reveal=True)
    assert [None if e.raw_value is None else e.raw_value.reveal() for e in shown] == [
        None,
        "two",
        "one",
    ]
    event = list_events(installation, limit=1)[0]
    assert (event.action, event.detail["purpose"]) == ("reveal", "history")
    assert sorted(event.detail["versions"]) == ["1", "2"]
    assert not {"one", "two"} & set(str(event.detail).split("'"))


def test_history_of_a_key_the_stack_only_inherits_is_not_found(
    installation: Installation, stack_target: Target, account_target: Target
) -> None:
    put(installation, account_target, "SHARED", "v")
    with pytest.raises(NotFound, match="SHARED"):
        history(installation, LOCAL, stack_target, "SHARED")
    assert [e.version for e in history(installation, LOCAL, account_target, "SHARED")] == [1]


def test_rollback_of_a_key_writes_a_new_version_with_the_old_value(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "first")
    put(installation, stack_target, "K", "second")

    new_version = rollback_key(installation, LOCAL, stack_target, "K", 1)

    event = list_events(installation, limit=1)[0]
    assert event.action == "secret.rollback"
    assert (event.detail["keys"], event.detail["from_versions"]) == ({"K": 3}, {"K": 1})
    assert "first" not in str(event.detail)
    assert new_version == 3
    assert value_of(installation, stack_target, "K") == "first"
    assert [e.action for e in history(installation, LOCAL, stack_target, "K")] == [
        "rollback",
        "set",
        "set",
    ]


def test_rollback_refusals_change_nothing(installation: Installation, stack_target: Target) -> None:
    put(installation, stack_target, "K", "a")
    put(installation, stack_target, "K", "b")
    unset_secret(installation, LOCAL, stack_target, "K")
    put(installation, stack_target, "K", "c")
    before = snapshot(installation)

    with pytest.raises(NotFound, match="version 9"):
        rollback_key(installation, LOCAL, stack_target, "K", 9)
    with pytest.raises(InvalidInput, match="is a deletion"):
        rollback_key(installation, LOCAL, stack_target, "K", 3)
    with pytest.raises(Conflict, match="already at version 4"):
        rollback_key(installation, LOCAL, stack_target, "K", 4)
    with pytest.raises(InvalidInput, match="start at 1"):
        rollback_key(installation, LOCAL, stack_target, "K", 0)
    with pytest.raises(PreconditionFailed, match="at version 4, not 2"):
        rollback_key(installation, LOCAL, stack_target, "K", 1, expected_version=2)
    with pytest.raises(NotFound, match="NOPE"):
        rollback_key(installation, LOCAL, stack_target, "NOPE", 1)
    assert snapshot(installation) == before
    assert rollback_key(installation, LOCAL, stack_target, "K", 1, expected_version=4) == 5


def test_undelete_restores_the_last_value(installation: Installation, stack_target: Target) -> None:
    put(installation, stack_target, "K", "kept")
    unset_secret(installation, LOCAL, stack_target, "K")
    assert value_of(installation, stack_target, "K") is None

    assert undelete(installation, LOCAL, stack_target, "K") == 3

    assert list_events(installation, limit=1)[0].action == "secret.undelete"
    assert value_of(installation, stack_target, "K") == "kept"
    with pytest.raises(Conflict, match="not deleted"):
        undelete(installation, LOCAL, stack_target, "K")


def test_destroy_removes_the_ciphertext_and_keeps_the_row(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "old secret")
    put(installation, stack_target, "K", "new secret")
    assert stored_envelope(installation, 1) is not None

    destroy_version(installation, LOCAL, stack_target, "K", 1)

    assert stored_envelope(installation, 1) is None
    oldest = history(installation, LOCAL, stack_target, "K", reveal=True)[-1]
    assert (oldest.version, oldest.raw_value, oldest.value) == (1, None, None)
    assert oldest.destroyed_at is not None
    assert not oldest.deleted
    with pytest.raises(Conflict, match="destroyed"):
        rollback_key(installation, LOCAL, stack_target, "K", 1)
    with pytest.raises(Conflict, match="already destroyed"):
        destroy_version(installation, LOCAL, stack_target, "K", 1)
    with pytest.raises(Conflict, match="current value"):
        destroy_version(installation, LOCAL, stack_target, "K", 2)
    assert value_of(installation, stack_target, "K") == "new secret"
    assert newest(installation, "secret.destroy").detail["destroyed_versions"] == {"K": [1]}


def test_a_whole_level_rolls_back_to_a_moment_in_one_version_each(
    installation: Installation, stack_target: Target, account_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "CHANGED", "v1")
    put(installation, stack_target, "DELETED", "kept")
    put(installation, stack_target, "SAME", "same")
    put(installation, account_target, "ACCOUNT_ONLY", "untouched")
    then = clock.tick()
    clock.tick()
    put(installation, stack_target, "CHANGED", "v2")
    unset_secret(installation, LOCAL, stack_target, "DELETED")
    put(installation, stack_target, "ADDED_LATER", "new")
    put(installation, account_target, "ACCOUNT_ONLY", "changed at account level")
    clock.tick()

    report = rollback_level(installation, LOCAL, stack_target, then)

    assert report.restored == {"CHANGED": 1, "DELETED": 1}
    assert report.deleted == ["ADDED_LATER"]
    assert report.unchanged == ["SAME"]
    own = {
        s.key: s.raw_value.reveal() if s.raw_value else None
        for s in list_secrets(installation, LOCAL, stack_target, reveal=True)
        if not s.inherited
    }
    assert own == {"CHANGED": "v1", "DELETED": "kept", "SAME": "same"}
    assert value_of(installation, account_target, "ACCOUNT_ONLY") == "changed at account level"
    event = newest(installation, "secret.rollback")
    assert event.detail["keys"] == {"ADDED_LATER": 2, "CHANGED": 3, "DELETED": 3}
    assert event.detail["to"] == "2030-05-01T12:01:00Z"
    # Nothing is erased: the rolled-back versions are all still in history.
    assert [e.action for e in history(installation, LOCAL, stack_target, "CHANGED")] == [
        "rollback",
        "set",
        "set",
    ]


def test_a_level_rollback_needing_a_destroyed_value_changes_nothing(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "A", "a1")
    put(installation, stack_target, "B", "b1")
    then = clock.tick()
    clock.tick()
    put(installation, stack_target, "A", "a2")
    put(installation, stack_target, "B", "b2")
    destroy_version(installation, LOCAL, stack_target, "B", 1)
    before = snapshot(installation)

    with pytest.raises(Conflict, match=r"'B'.*destroyed"):
        rollback_level(installation, LOCAL, stack_target, then)

    assert snapshot(installation) == before


def test_a_level_rollback_needs_a_time_with_an_offset(
    installation: Installation, stack_target: Target
) -> None:
    with pytest.raises(InvalidInput, match="offset"):
        rollback_level(installation, LOCAL, stack_target, datetime(2030, 1, 1))


def test_max_versions_destroys_old_ciphertexts_but_keeps_current_and_previous(
    installation: Installation, stack_target: Target
) -> None:
    assert max_versions(installation, LOCAL, stack_target) is None
    set_max_versions(installation, LOCAL, stack_target, 3)
    for n in range(1, 7):
        put(installation, stack_target, "K", f"value {n}")

    entries = history(installation, LOCAL, stack_target, "K", reveal=True)
    kept = [e.version for e in entries if e.raw_value is not None]
    assert kept == [6, 5, 4]
    assert all(e.destroyed_at is not None for e in entries if e.version <= 3)
    prune = next(e for e in list_events(installation, limit=20) if e.action == "secret.prune")
    assert prune.detail["max_versions"] == 3

    set_max_versions(installation, LOCAL, stack_target, 1)  # still keeps the previous version
    put(installation, stack_target, "K", "value 7")
    kept = [
        e.version for e in history(installation, LOCAL, stack_target, "K") if e.value is not None
    ]
    assert kept == [7, 6]
    assert rollback_key(installation, LOCAL, stack_target, "K", 6) == 8

    set_max_versions(installation, LOCAL, stack_target, None)
    assert max_versions(installation, LOCAL, stack_target) is None
    with pytest.raises(InvalidInput, match="between 1 and"):
        set_max_versions(installation, LOCAL, stack_target, 0)


def test_a_viewer_cannot_roll_back_destroy_or_see_history_values(
    installation: Installation, stack_target: Target, clock: Clock
) -> None:
    put(installation, stack_target, "K", "a")
    put(installation, stack_target, "K", "b")
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")
    before = snapshot(installation)

    assert [e.version for e in history(installation, viewer, stack_target, "K")] == [2, 1]
    for attempt in (
        lambda: history(installation, viewer, stack_target, "K", reveal=True),
        lambda: rollback_key(installation, viewer, stack_target, "K", 1),
        lambda: undelete(installation, viewer, stack_target, "K"),
        lambda: destroy_version(installation, viewer, stack_target, "K", 1),
        lambda: rollback_level(installation, viewer, stack_target, clock.now),
        lambda: set_max_versions(installation, viewer, stack_target, 5),
    ):
        with pytest.raises(Forbidden):
            attempt()
        assert list_events(installation, limit=1)[0].outcome == "denied"
    assert snapshot(installation) == before


def test_a_level_rollback_to_a_time_outside_utc_range_is_refused(
    installation: Installation, stack_target: Target
) -> None:
    from datetime import timezone

    before = snapshot(installation)
    early = datetime(1, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    with pytest.raises(InvalidInput, match="out of range"):
        rollback_level(installation, LOCAL, stack_target, early)
    assert snapshot(installation) == before


def test_a_history_reveal_fails_closed_when_the_audit_log_cannot_be_written(
    installation: Installation, stack_target: Target
) -> None:
    from stacksafe.errors import AuditUnavailable
    from tests.core.test_fail_closed import break_audit_log

    put(installation, stack_target, "K", "never shown")
    break_audit_log(installation)
    with pytest.raises(AuditUnavailable):
        history(installation, LOCAL, stack_target, "K", reveal=True)
