"""Damaged stored rows give the integrity error on every read, never a value, a crash, or the
inherited value in place of a damaged override; and each failure is one audit event.

Every damage kind of tests/damage.py on every read path of the core (list described and
revealed, get, history, the values ``export`` and ``run`` deliver), on SQLite and PostgreSQL.
The level is read once before the damage, so what was kept of it (core.read_cache) must give way.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.guard import INTEGRITY_OUTCOME
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import effective_values, get_secret, list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.core.versions import history
from stacksafe.errors import IntegrityError
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.damage import INHERITED, KINDS, OTHER, OVERRIDE, damage

Read = Callable[[Installation, Target], object]

READS: dict[str, Read] = {
    "list": lambda installation, target: list_secrets(installation, LOCAL, target),
    "list_revealed": lambda installation, target: list_secrets(
        installation, LOCAL, target, reveal=True
    ),
    "get": lambda installation, target: get_secret(installation, LOCAL, target, "K"),
    "get_revealed": lambda installation, target: get_secret(
        installation, LOCAL, target, "K", reveal=True
    ),
    "history": lambda installation, target: history(installation, LOCAL, target, "K"),
    "history_revealed": lambda installation, target: history(
        installation, LOCAL, target, "K", reveal=True
    ),
    "export": lambda installation, target: effective_values(installation, LOCAL, target, "export"),
}


def seeded(installation: Installation, account_target: Target, stack_target: Target) -> None:
    set_secret(installation, LOCAL, account_target, "K", SecretValue(INHERITED))
    set_secret(installation, LOCAL, stack_target, "K", SecretValue(OVERRIDE))
    set_secret(installation, LOCAL, stack_target, "OTHER", SecretValue(OTHER))
    # Kept (core.read_cache): the damage must not be hidden behind what was authenticated before.
    assert effective_values(installation, LOCAL, stack_target)["K"] == SecretValue(OVERRIDE)


def integrity_events(installation: Installation) -> list[dict[str, object]]:
    return [
        e.to_json() for e in list_events(installation, limit=1000) if e.outcome == INTEGRITY_OUTCOME
    ]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("read", sorted(READS))
def test_every_damage_on_every_read_is_an_integrity_error(
    installation: Installation, account_target: Target, stack_target: Target, kind: str, read: str
) -> None:
    seeded(installation, account_target, stack_target)
    assert stack_target.stack is not None
    damage(installation.store.engine, stack_target.stack.id, kind)

    with pytest.raises(IntegrityError) as caught:
        READS[read](installation, stack_target)
    message = str(caught.value)
    assert "'K'" in message or (kind == "other_secrets_version" and "'OTHER'" in message)
    for value in (INHERITED, OVERRIDE, OTHER):
        assert value not in message
    assert "\n" not in message

    # One event, naming what was attempted and why, with no value in it.
    events = integrity_events(installation)
    assert len(events) == 1, events
    event = events[0]
    revealing = read.endswith("revealed") or read == "export"
    assert event["action"] == ("reveal" if revealing else "describe")
    assert event["stack_uid"] == stack_target.stack.uid
    assert event["detail"]["reason"] == message  # type: ignore[index]
    for value in (INHERITED, OVERRIDE, OTHER):
        assert value not in str(event)


def test_a_damaged_override_never_gives_way_to_the_inherited_value(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    """The pointer row of a stack's override marked deleted by SQL: reading the stack must not
    serve the account's value for the key, as if the override had been unset."""
    seeded(installation, account_target, stack_target)
    assert stack_target.stack is not None
    damage(installation.store.engine, stack_target.stack.id, "deleted_flag")
    with pytest.raises(IntegrityError, match="'K'"):
        get_secret(installation, LOCAL, stack_target, "K", reveal=True)
    # The account's own level is not damaged, and still reads.
    assert get_secret(
        installation, LOCAL, account_target, "K", reveal=True
    ).raw_value == SecretValue(INHERITED)


def test_a_real_unset_still_gives_way_to_the_inherited_value(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    from stacksafe.core.secrets import unset_secret

    seeded(installation, account_target, stack_target)
    unset_secret(installation, LOCAL, stack_target, "K")
    found = get_secret(installation, LOCAL, stack_target, "K", reveal=True)
    assert found.inherited
    assert found.raw_value == SecretValue(INHERITED)
    assert integrity_events(installation) == []


def _flip_version(installation: Installation, target: Target, key: str, version: int) -> None:
    from sqlalchemy import select, update

    from stacksafe.store.schema import secret_versions, secrets

    assert target.stack is not None
    with installation.store.write() as conn:
        row = conn.execute(
            select(secret_versions.c.id, secret_versions.c.envelope)
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(
                secrets.c.stack_id == target.stack.id,
                secrets.c.key == key,
                secret_versions.c.version == version,
            )
        ).one()
        flipped = bytes(row.envelope)[:-1] + bytes([bytes(row.envelope)[-1] ^ 0x01])
        conn.execute(
            update(secret_versions).where(secret_versions.c.id == row.id).values(envelope=flipped)
        )


@pytest.mark.parametrize("operation", ["rollback", "undelete"])
def test_a_write_that_opens_a_damaged_earlier_value_is_refused_and_recorded(
    installation: Installation, account_target: Target, stack_target: Target, operation: str
) -> None:
    from stacksafe.core.secrets import unset_secret
    from stacksafe.core.versions import rollback_key, undelete

    seeded(installation, account_target, stack_target)
    set_secret(installation, LOCAL, stack_target, "K", SecretValue("second-value-of-K"))
    if operation == "undelete":
        unset_secret(installation, LOCAL, stack_target, "K")
    _flip_version(installation, stack_target, "K", 2 if operation == "undelete" else 1)

    def attempt() -> object:
        if operation == "rollback":
            return rollback_key(installation, LOCAL, stack_target, "K", 1)
        return undelete(installation, LOCAL, stack_target, "K")

    with pytest.raises(IntegrityError, match="'K'"):
        attempt()
    events = integrity_events(installation)
    assert [(e["action"], e["detail"]["key"]) for e in events] == [  # type: ignore[index]
        (f"secret.{operation}", "K")
    ]
    # Nothing was written: the stack's K is still at version 2, or still deleted (inherited).
    now = get_secret(installation, LOCAL, stack_target, "K")
    assert (now.inherited, now.version) == ((True, 1) if operation == "undelete" else (False, 2))


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "other_secrets_version"])
def test_the_other_keys_of_a_damaged_level_still_read_one_at_a_time(
    installation: Installation, account_target: Target, stack_target: Target, kind: str
) -> None:
    """A cold one-key read opens and keeps its whole level (core.level_reads); a damaged row
    elsewhere in it makes that key be read alone, and records nothing (it was not asked)."""
    seeded(installation, account_target, stack_target)
    assert stack_target.stack is not None
    damage(installation.store.engine, stack_target.stack.id, kind)
    for _ in range(2):  # nothing was kept by the first: the second reads alone again
        other = get_secret(installation, LOCAL, stack_target, "OTHER", reveal=True)
        assert other.raw_value == SecretValue(OTHER)
    assert integrity_events(installation) == []
