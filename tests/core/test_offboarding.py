"""Offboarding: removing a user (sessions ended, tokens revoked, roles deleted, the row marked)
and removing one role, with who may do each and what a refusal leaves (nothing changed)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.principals import (
    authenticate,
    check_password,
    create_token,
    create_user,
    list_tokens,
    list_users,
    remove_account_role,
    remove_stack_role,
    remove_user,
    set_password,
)
from stacksafe.core.secrets import list_secrets
from stacksafe.core.sessions import SessionPolicy, session_principal, start_session
from stacksafe.core.tenancy import list_accounts, list_stacks
from stacksafe.errors import Forbidden, NotFound, StacksafeError, Unauthenticated
from stacksafe.model import SecretValue
from stacksafe.store import principals as principal_queries
from stacksafe.store.schema import users, web_sessions
from tests.actors import LOCAL
from tests.core.helpers_access import (
    World,
    attempted,
    build_world,
    events_after,
    last_seq,
    make_user,
    snapshot,
    token_principal,
)

POLICY = SessionPolicy()
PASSWORD = SecretValue("correct horse battery staple")
DEV = "dev@acme.test"


@pytest.fixture
def world(installation: Installation) -> World:
    return build_world(installation)


def _revision(installation: Installation) -> str:
    with installation.store.read() as conn:
        return principal_queries.principals_revision_of(conn)


def _sessions(installation: Installation) -> list[tuple[object, ...]]:
    with installation.store.read() as conn:
        return [tuple(r) for r in conn.execute(select(web_sessions).order_by(web_sessions.c.id))]


def test_a_removed_users_tokens_and_sessions_fail_on_the_next_request(
    installation: Installation, world: World
) -> None:
    create_user(installation, LOCAL, DEV, "acme", "developer")
    create_user(installation, LOCAL, DEV, "globex", "viewer", {"shop": "developer"})
    set_password(installation, LOCAL, DEV, PASSWORD)
    one = create_token(installation, LOCAL, DEV, scopes=["public", "admin"])
    two = create_token(installation, LOCAL, DEV, scopes=["public"])
    session = start_session(installation, DEV, PASSWORD, POLICY)
    # Used once each: the token's principal is kept (core.known_tokens) before the removal.
    assert authenticate(installation, one.token).account_roles
    assert session_principal(installation, session.secret, POLICY).name == DEV
    before, seq = _revision(installation), last_seq(installation)

    removed = remove_user(installation, LOCAL, DEV)

    assert _revision(installation) != before
    for token in (one.token, two.token):
        with pytest.raises(Unauthenticated):
            authenticate(installation, token)
    with pytest.raises(Unauthenticated):
        session_principal(installation, session.secret, POLICY)
    assert sorted(removed.tokens_revoked) == sorted([one.uid, two.uid])
    assert removed.sessions_ended == 1
    assert sorted(removed.accounts) == sorted([world.acme.account.uid, world.globex.account.uid])
    assert world.shop.stack is not None
    assert removed.stacks == (world.shop.stack.uid,)
    # Nobody can sign in as them, give them a token or a password; no list shows them.
    assert check_password(installation, DEV, PASSWORD) is None
    with pytest.raises(Unauthenticated):
        start_session(installation, DEV, PASSWORD, POLICY)
    with pytest.raises(NotFound):
        create_token(installation, LOCAL, DEV, scopes=["public"])
    with pytest.raises(NotFound):
        set_password(installation, LOCAL, DEV, PASSWORD)
    assert DEV not in [u.email for u in list_users(installation, LOCAL)]
    # The row stays, marked, so the tokens' foreign keys hold and the audit log names them.
    with installation.store.read() as conn:
        row = conn.execute(select(users).where(users.c.email == DEV)).one()
        assert row.removed_at is not None
        assert row.password_hash is None
        assert principal_queries.roles_of(conn, row.id).accounts == {}
        assert principal_queries.roles_of(conn, row.id).stacks == {}
    assert all(
        t.revoked_at is not None for t, email in list_tokens(installation, LOCAL) if email == DEV
    )
    [event] = [e for e in events_after(installation, seq) if e.action == "user.remove"]
    assert (event.outcome, event.actor) == ("ok", LOCAL.name)
    assert event.detail["user"] == DEV
    assert sorted(event.detail["tokens_revoked"]) == sorted([one.uid, two.uid])
    assert event.detail["sessions_ended"] == 1


def test_re_adding_a_removed_email_gives_the_same_row_only_the_new_role(
    installation: Installation, world: World
) -> None:
    create_user(installation, LOCAL, DEV, "acme", "administrator")
    set_password(installation, LOCAL, DEV, PASSWORD)
    old = create_token(installation, LOCAL, DEV, scopes=["public", "admin"])
    with installation.store.read() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.email == DEV)).scalar_one()
    remove_user(installation, LOCAL, DEV)
    seq = last_seq(installation)

    again = create_user(installation, LOCAL, DEV, "globex", "viewer")

    assert again.id == user_id
    with pytest.raises(Unauthenticated):
        authenticate(installation, old.token)  # revoked at removal: stays revoked
    assert check_password(installation, DEV, PASSWORD) is None  # the password went too
    back = token_principal(installation, DEV)
    assert [a.name for a in list_accounts(installation, back)] == ["globex"]
    grants = [e for e in events_after(installation, seq) if e.action == "user.grant"]
    assert [e.detail.get("reinstated") for e in grants] == [True]
    remove_user(installation, LOCAL, DEV)  # and removable again


def _owner_token(installation: Installation, scopes: list[str]) -> Principal:
    create_user(installation, LOCAL, "owner@acme.test", "acme", "viewer")
    with installation.store.write() as conn:
        conn.execute(users.update().where(users.c.email == "owner@acme.test").values(is_owner=True))
    return token_principal(installation, "owner@acme.test", scopes=scopes)


@pytest.mark.parametrize(
    ("who", "refused"),
    [
        ("owner token with the admin scope", None),
        ("owner token without the admin scope", Forbidden),
        ("administrator of the user's account", Forbidden),
        ("developer", Forbidden),
        ("the user themself", Forbidden),
    ],
)
def test_who_may_remove_a_user(
    installation: Installation, world: World, who: str, refused: type[StacksafeError] | None
) -> None:
    create_user(installation, LOCAL, DEV, "acme", "developer")
    actors: dict[str, Callable[[], Principal]] = {
        "owner token with the admin scope": lambda: _owner_token(installation, ["public", "admin"]),
        "owner token without the admin scope": lambda: _owner_token(installation, ["public"]),
        "administrator of the user's account": lambda: make_user(
            installation, "admin@acme.test", "acme", "administrator"
        ),
        "developer": lambda: make_user(installation, "other@acme.test", "acme", "developer"),
        "the user themself": lambda: token_principal(installation, DEV),
    }
    actor = actors[who]()
    events = attempted(installation, lambda: remove_user(installation, actor, DEV), refused)
    assert [e.action for e in events] == ["user.remove"]
    assert events[0].detail["user"] == DEV


def test_the_owner_cannot_be_removed_and_an_unknown_email_does_not_exist(
    installation: Installation, world: World
) -> None:
    owner = _owner_token(installation, ["public", "admin"])
    before, seq = snapshot(installation), last_seq(installation)
    with pytest.raises(Forbidden, match="owner cannot be removed"):
        remove_user(installation, owner, "owner@acme.test")
    with pytest.raises(NotFound):
        remove_user(installation, owner, "nobody@acme.test")
    assert snapshot(installation) == before
    assert [(e.action, e.outcome) for e in events_after(installation, seq)] == [
        ("user.remove", "denied")
    ]
    create_user(installation, LOCAL, DEV, "acme", "viewer")
    remove_user(installation, LOCAL, DEV)
    with pytest.raises(NotFound):  # removed twice: the second time it does not exist
        remove_user(installation, LOCAL, DEV)


def test_removing_an_account_membership_takes_its_stack_roles_too(
    installation: Installation, world: World
) -> None:
    create_user(installation, LOCAL, DEV, "acme", "developer", {"web": "administrator"})
    create_user(installation, LOCAL, DEV, "globex", "viewer")
    token = create_token(installation, LOCAL, DEV, scopes=["public", "admin"]).token
    member = authenticate(installation, token)  # kept under the current revision
    assert list_secrets(installation, member, world.web)
    seq = last_seq(installation)

    removed = remove_account_role(installation, LOCAL, DEV, "acme")

    assert removed.role == "developer"
    assert world.web.stack is not None
    assert removed.stack_roles == {world.web.stack.uid: "administrator"}
    # The same token, on its next request, stands for the user as they are now.
    again = authenticate(installation, token)
    assert [a.name for a in list_accounts(installation, again)] == ["globex"]
    with pytest.raises(NotFound):
        list_secrets(installation, again, world.web)
    [event] = [e for e in events_after(installation, seq) if e.outcome == "ok"]
    assert (event.action, event.account_uid) == ("membership.remove", world.acme.account.uid)
    assert event.detail == {
        "user": DEV,
        "role": "developer",
        "stack_roles": {world.web.stack.uid: "administrator"},
    }
    with pytest.raises(NotFound, match="no role"):
        remove_account_role(installation, LOCAL, DEV, "acme")
    # Whether an email is a user at all is not told by a removal: the same answer.
    with pytest.raises(NotFound) as unknown:
        remove_account_role(installation, LOCAL, "nobody@acme.test", "acme")
    assert unknown.value.message == "user 'nobody@acme.test' has no role in account 'acme'"


def test_removing_a_stack_role_lets_the_account_role_apply_again(
    installation: Installation, world: World
) -> None:
    make_user(installation, DEV, "acme", "viewer", {"web": "developer"})
    seq = last_seq(installation)
    removed = remove_stack_role(installation, LOCAL, DEV, "web", "acme")
    assert (removed.role, removed.stack) == ("developer", world.web.stack)
    now = token_principal(installation, DEV)
    assert now.stack_roles == {}
    assert [s.name for s in list_stacks(installation, now, "acme")] == ["api", "dev", "web"]
    [event] = [e for e in events_after(installation, seq) if e.action == "stack_role.remove"]
    assert world.web.stack is not None
    assert (event.outcome, event.stack_uid) == ("ok", world.web.stack.uid)
    with pytest.raises(NotFound, match="no role of its own"):
        remove_stack_role(installation, LOCAL, DEV, "web")


@pytest.mark.parametrize(
    ("role", "account", "refused"),
    [
        ("administrator", "acme", None),
        ("owner", "acme", None),
        ("power_user", "acme", Forbidden),
        ("developer", "acme", Forbidden),
        ("administrator", "globex", NotFound),  # cannot see acme at all
    ],
)
@pytest.mark.parametrize("what", ["account", "stack"])
def test_who_may_remove_a_role(
    installation: Installation,
    world: World,
    role: str,
    account: str,
    refused: type[StacksafeError] | None,
    what: str,
) -> None:
    create_user(installation, LOCAL, DEV, "acme", "viewer", {"web": "developer"})
    actor = make_user(installation, "boss@test.test", account, role)

    def attempt() -> object:
        if what == "account":
            return remove_account_role(installation, actor, DEV, "acme")
        return remove_stack_role(installation, actor, DEV, "web", "acme")

    assert len(attempted(installation, attempt, refused)) == 1


def test_a_removed_users_session_rows_are_ended_not_deleted(
    installation: Installation, world: World
) -> None:
    create_user(installation, LOCAL, DEV, "acme", "viewer")
    set_password(installation, LOCAL, DEV, PASSWORD)
    start_session(installation, DEV, PASSWORD, POLICY)
    start_session(installation, DEV, PASSWORD, POLICY)
    remove_user(installation, LOCAL, DEV)
    rows = _sessions(installation)
    assert len(rows) == 2
    assert all(r[-1] is not None for r in rows)  # ended_at
