"""Bulk loading of new stacks: the same rows and events as create_stack + import_secrets."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from stacksafe.core.access import Principal, Role
from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.audit_events import list_events
from stacksafe.core.bulk import NewStack, load_stacks
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import import_secrets, list_secrets, set_secret
from stacksafe.core.tenancy import Target, create_stack, find_stack
from stacksafe.core.versions import history
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from stacksafe.model import SecretValue
from stacksafe.store.schema import data_keys, secret_versions, secrets
from tests.actors import LOCAL

VALUES = {"API_TOKEN": "tok-1", "DB_URL": "postgres://u:p@h/db", "EMPTY_NOT": "x" * 300}


def wrap(data: dict[str, str]) -> dict[str, SecretValue]:
    return {k: SecretValue(v) for k, v in data.items()}


def revealed(installation: Installation, target: Target) -> dict[str, tuple[int, str, bool]]:
    return {
        s.key: (s.version, s.raw_value.reveal() if s.raw_value else "", s.inherited)
        for s in list_secrets(installation, LOCAL, target, reveal=True)
    }


def rows_of(
    installation: Installation, stack_id: int
) -> tuple[list[tuple[object, ...]], list[int]]:
    """What a stack's rows hold, ids and times aside."""
    with installation.store.read() as conn:
        found = conn.execute(
            select(
                secrets.c.key,
                secrets.c.current_version,
                secrets.c.deleted,
                secret_versions.c.version,
                secret_versions.c.action,
                secret_versions.c.author,
                secret_versions.c.envelope.is_not(None),
            )
            .join(secret_versions, secret_versions.c.secret_id == secrets.c.id)
            .where(secrets.c.stack_id == stack_id)
            .order_by(secrets.c.key)
        ).all()
        seals = conn.execute(
            select(data_keys.c.seal_count).where(data_keys.c.stack_id == stack_id)
        ).scalars()
        return [tuple(r) for r in found], list(seals)


def test_bulk_rows_and_events_match_the_normal_path(
    installation: Installation, account_target: Target
) -> None:
    import_secrets(installation, LOCAL, account_target, wrap({"SHARED": "s", "API_TOKEN": "old"}))
    normal = create_stack(installation, LOCAL, "acme", "normal", "production")
    import_secrets(installation, LOCAL, Target(account_target.account, normal), wrap(VALUES))

    made = load_stacks(
        installation,
        LOCAL,
        "acme",
        [NewStack("bulk-1", "production", wrap(VALUES)), NewStack("bulk-2", "staging", {})],
        batch_secrets=2,
    )
    assert [s.name for s in made] == ["bulk-1", "bulk-2"]
    bulk = find_stack(installation, "bulk-1", account_ref="acme")
    assert bulk == made[0]

    # Read back through the normal read path: own values win over the account's.
    expected = revealed(installation, Target(account_target.account, normal))
    assert revealed(installation, Target(account_target.account, bulk)) == expected
    assert expected["API_TOKEN"] == (1, "tok-1", False)
    assert expected["SHARED"] == (1, "s", True)
    assert rows_of(installation, bulk.id) == rows_of(installation, normal.id)

    # The same events, in the same order per stack, with the same keys and fingerprints
    # (then the reveals above).
    events = list(reversed(list_events(installation, account_uid=account_target.account.uid)))
    by_stack = {
        uid: [(e.action, e.detail) for e in events if e.stack_uid == uid][:2]
        for uid in (normal.uid, bulk.uid)
    }
    assert [a for a, _ in by_stack[bulk.uid]] == ["stack.create", "secret.import"]
    assert by_stack[bulk.uid][1] == by_stack[normal.uid][1]
    assert by_stack[bulk.uid][0][1] == {"name": "bulk-1", "environment": "production"}
    assert verify_chain(installation).intact


def test_bulk_loaded_secrets_take_normal_writes(
    installation: Installation, account_target: Target
) -> None:
    (stack,) = load_stacks(
        installation, LOCAL, "acme", [NewStack("web", "production", wrap(VALUES))]
    )
    target = Target(account_target.account, stack)
    written = set_secret(installation, LOCAL, target, "DB_URL", SecretValue("new"))
    assert written.version == 2
    assert [e.version for e in history(installation, LOCAL, target, "DB_URL", reveal=True)] == [
        2,
        1,
    ]
    assert revealed(installation, target)["DB_URL"] == (2, "new", False)
    assert verify_chain(installation).intact


def test_bulk_refuses_a_taken_name_and_keeps_earlier_batches(
    installation: Installation, account_target: Target
) -> None:
    create_stack(installation, LOCAL, "acme", "taken", "production")
    stacks = [
        NewStack("first", "production", wrap({"A": "1"})),
        NewStack("taken", "production", wrap({"B": "2"})),
    ]
    with pytest.raises(Conflict, match="taken"):
        load_stacks(installation, LOCAL, "acme", stacks, batch_secrets=1)
    assert revealed(
        installation, Target(account_target.account, find_stack(installation, "first"))
    ) == {"A": (1, "1", False)}
    assert verify_chain(installation).intact


@pytest.mark.parametrize(
    "bad",
    [
        NewStack("ok", "bad environment!", {}),
        NewStack("ok", "production", wrap({"not a key": "v"})),
    ],
)
def test_bulk_validates_like_the_normal_path(
    installation: Installation, account_target: Target, bad: NewStack
) -> None:
    with pytest.raises(InvalidInput):
        load_stacks(installation, LOCAL, "acme", [bad])
    assert list_events(installation, account_uid=account_target.account.uid, limit=5)[0].action == (
        "account.create"
    )


def test_bulk_needs_the_right_to_manage_stacks(
    installation: Installation, account_target: Target
) -> None:
    viewer = Principal(
        name="viewer@example.com", account_roles={account_target.account.id: Role.VIEWER}
    )
    with pytest.raises(Forbidden):
        load_stacks(installation, viewer, "acme", [NewStack("web", "production", wrap({"A": "1"}))])
    denied = list_events(installation, account_uid=account_target.account.uid, limit=1)[0]
    assert (denied.action, denied.outcome) == ("manage_stacks", "denied")
    with pytest.raises(NotFound):
        find_stack(installation, "web")


def test_bulk_refused_inside_a_batch_is_one_denied_event_and_no_stack(
    installation: Installation, account_target: Target
) -> None:
    """Each new stack's own permission is checked inside its batch's transaction (as an import
    into it would be). A refusal there rolls the batch back and is still one ``denied`` event,
    written after the rollback. Reaching it takes a role that may manage stacks but not write
    the new stack's secrets: here a stack role of viewer for every stack id to come."""
    account = account_target.account
    to_come = range(1, 10_000)
    actor = Principal(
        name="operator@example.com",
        account_roles={account.id: Role.OPERATION},
        stack_roles=dict.fromkeys(to_come, Role.VIEWER),
        stack_accounts=dict.fromkeys(to_come, account.id),
    )
    before = len(list_events(installation, limit=10_000))
    with pytest.raises(Forbidden):
        load_stacks(installation, actor, "acme", [NewStack("web", "production", wrap({"A": "1"}))])
    added = list_events(installation, limit=10_000)[
        : len(list_events(installation, limit=10_000)) - before
    ]
    assert [(e.actor, e.action, e.outcome) for e in added] == [
        ("operator@example.com", "write_stack_secrets", "denied")
    ]
    assert added[0].account_uid == account.uid
    assert added[0].detail["name"] == "web"
    with pytest.raises(NotFound):
        find_stack(installation, "web")
    assert verify_chain(installation).intact
