"""Who may read which audit log (core.audit_access), the one rule the API's audit routes and
the web UI's audit page ask: an account's log its administrators, the whole log the owner."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stacksafe.core.access import Principal, Role
from stacksafe.core.audit_access import (
    NO_ACCOUNT_LOG,
    WHOLE_LOG_ONLY_OWNER,
    audit_log_to_read,
    may_read_audit,
    may_read_some_log,
    readable_logs,
)
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.errors import Forbidden
from tests.actors import LOCAL

TOKEN = frozenset({"public", "admin"})


def _member(account_id: int, role: Role, scopes: frozenset[str] = TOKEN) -> Principal:
    return Principal(
        name=f"{role.value}@acme.test",
        user_id=7,
        account_roles={account_id: role},
        token_uid="tok_0123456789abcdef",
        scopes=scopes,
    )


def _refused_once(installation: Installation, attempt: Principal, reason: str) -> None:
    before = len(list_events(installation, limit=1000))
    with pytest.raises(Forbidden) as refused:
        audit_log_to_read(installation, attempt, None, first_readable=True)
    assert refused.value.message == reason
    events = list_events(installation, limit=1000)
    assert len(events) == before + 1
    assert (events[0].actor, events[0].action, events[0].outcome) == (
        attempt.name,
        "read_audit",
        "denied",
    )


def test_an_accounts_log_is_its_administrators(
    installation: Installation, account_target: Target
) -> None:
    acme = account_target.account
    admin = _member(acme.id, Role.ADMINISTRATOR)
    assert may_read_audit(admin, acme)
    assert audit_log_to_read(installation, admin, acme) == acme
    # Without an account: the API refuses the whole log; the web UI shows the admin's own.
    with pytest.raises(Forbidden, match="only the server owner"):
        audit_log_to_read(installation, admin, None)
    assert audit_log_to_read(installation, admin, None, first_readable=True) == acme
    assert readable_logs(installation, admin) == [acme]


def test_others_are_refused_and_the_refusal_recorded(
    installation: Installation, account_target: Target
) -> None:
    acme = account_target.account
    viewer = _member(acme.id, Role.VIEWER)
    assert not may_read_audit(viewer, acme)
    assert readable_logs(installation, viewer) == []
    before = len(list_events(installation, limit=1000))
    with pytest.raises(Forbidden):
        audit_log_to_read(installation, viewer, acme)
    assert len(list_events(installation, limit=1000)) == before + 1
    _refused_once(installation, viewer, NO_ACCOUNT_LOG)
    # An administrator's token without the admin scope reads no log.
    public_only = _member(acme.id, Role.ADMINISTRATOR, frozenset({"public"}))
    assert not may_read_audit(public_only, acme)
    _refused_once(installation, public_only, NO_ACCOUNT_LOG)


def test_the_whole_log_is_the_owners_with_an_admin_token(
    installation: Installation, account_target: Target
) -> None:
    other = create_account(installation, LOCAL, "other")
    owner = Principal(name="owner@localhost", user_id=1, is_owner=True, scopes=TOKEN)
    assert audit_log_to_read(installation, owner, None) is None
    assert audit_log_to_read(installation, owner, None, first_readable=True) is None
    assert audit_log_to_read(installation, owner, other) == other
    assert audit_log_to_read(installation, LOCAL, None) is None
    public_owner = Principal(
        name="owner@localhost", user_id=1, is_owner=True, scopes=frozenset({"public"})
    )
    before = len(list_events(installation, limit=1000))
    with pytest.raises(Forbidden) as refused:
        audit_log_to_read(installation, public_owner, None)
    assert refused.value.message == WHOLE_LOG_ONLY_OWNER
    assert len(list_events(installation, limit=1000)) == before + 1


def test_the_rule_for_the_audit_link_agrees_with_the_logs_one_may_read(
    installation: Installation, account_target: Target
) -> None:
    """``may_read_some_log`` (the web UI's link, from the principal alone) says yes exactly
    when there is a log to read: role by role, by scope and narrowing, for the owner."""
    acme = account_target.account
    stack = create_stack(installation, LOCAL, "acme", "web", "production")
    members = [_member(acme.id, role) for role in Role]
    members += [_member(acme.id, role, frozenset({"public"})) for role in Role]
    admin = _member(acme.id, Role.ADMINISTRATOR)
    members += [
        replace(admin, token_stacks=frozenset({stack.uid})),
        replace(admin, token_environments=frozenset({"production"})),
        replace(_member(acme.id, Role.VIEWER), stack_roles={stack.id: Role.ADMINISTRATOR}),
        Principal(name="owner@localhost", user_id=1, is_owner=True, scopes=TOKEN),
    ]
    for member in members:
        expected = member.is_owner or bool(readable_logs(installation, member))
        assert may_read_some_log(member) == expected, member
    assert may_read_some_log(admin)
    assert not may_read_some_log(_member(acme.id, Role.POWER_USER))
    assert not may_read_some_log(
        Principal(name="owner@localhost", user_id=1, is_owner=True, scopes=frozenset({"public"}))
    )
