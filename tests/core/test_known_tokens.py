"""Principals kept by token hash (core.known_tokens): used only while the database's principals
revision (migration 0008) is the one they were kept under, so every change to users, tokens and
roles (by this server, another one, or plain SQL) is seen on the very next request."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, event, insert, select, text, update
from sqlalchemy import exc as sa_exc

from stacksafe.core.access import Principal, Role
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.known_tokens import KnownTokens
from stacksafe.core.principals import (
    authenticate,
    authenticate_for_stack,
    authenticate_for_stack_on_loop,
    create_token,
    create_user,
    revoke_token,
)
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_account
from stacksafe.errors import NotFound, Unauthenticated
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store import principals as queries
from stacksafe.store.schema import (
    data_keys,
    level_writes,
    memberships,
    principals_revision,
    secret_versions,
    secrets,
    stack_roles,
    stacks,
    tokens,
    users,
)
from tests.actors import LOCAL
from tests.clock import Clock

BOTH = ["public", "admin"]


@pytest.fixture
def other_server(settings: Settings, installation: Installation) -> Iterator[Installation]:
    """A second process's installation on the same database (its own kept tokens)."""
    second = open_installation(settings)
    yield second
    second.close()


@pytest.fixture
def alice(installation: Installation, stack_target: Target) -> str:
    create_user(installation, LOCAL, "alice@example.com", stack_target.account.uid, "administrator")
    return create_token(installation, LOCAL, "alice@example.com", scopes=BOTH).token


def revision(installation: Installation) -> str:
    with installation.store.read() as conn:
        return queries.principals_revision_of(conn)


def count_token_lookups(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    seen: list[bytes] = []
    lookup = queries.token_and_user_by_hash

    def counted(conn: object, digest: bytes) -> object:
        seen.append(digest)
        return lookup(conn, digest)  # type: ignore[arg-type]

    monkeypatch.setattr(queries, "token_and_user_by_hash", counted)
    return seen


def test_a_token_checked_again_at_the_same_revision_is_not_looked_up(
    installation: Installation, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = count_token_lookups(monkeypatch)
    first = authenticate(installation, alice, source_ip="192.0.2.1", request_id="one")
    second = authenticate(installation, alice, source_ip="192.0.2.2", request_id="two")
    assert len(lookups) == 1
    assert len(installation.known_tokens) == 1
    # The per-request parts are the request's own, the rest is the same principal.
    assert (first.source_ip, first.request_id) == ("192.0.2.1", "one")
    assert (second.source_ip, second.request_id) == ("192.0.2.2", "two")
    assert (second.name, second.token_uid, second.scopes, second.account_roles) == (
        first.name,
        first.token_uid,
        first.scopes,
        first.account_roles,
    )


def test_a_revocation_on_another_server_is_refused_on_the_next_request(
    installation: Installation, other_server: Installation, alice: str
) -> None:
    principal = authenticate(installation, alice)
    assert principal.token_uid is not None
    assert authenticate(installation, alice).token_uid == principal.token_uid  # kept now
    revoke_token(other_server, LOCAL, principal.token_uid)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(installation, alice)


def test_a_role_changed_on_another_server_applies_on_the_next_request(
    installation: Installation, other_server: Installation, stack_target: Target, alice: str
) -> None:
    account_id = stack_target.account.id
    assert authenticate(installation, alice).account_roles == {account_id: Role.ADMINISTRATOR}
    create_user(other_server, LOCAL, "alice@example.com", stack_target.account.uid, "viewer")
    assert authenticate(installation, alice).account_roles == {account_id: Role.VIEWER}


def test_a_revocation_in_plain_sql_is_refused_on_the_next_request(
    installation: Installation, alice: str
) -> None:
    principal = authenticate(installation, alice)
    with installation.store.write() as conn:
        conn.execute(
            update(tokens)
            .where(tokens.c.uid == principal.token_uid)
            .values(revoked_at=installation.clock())
        )
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(installation, alice)


def test_a_kept_token_still_expires_on_time(
    installation: Installation, clock: Clock, stack_target: Target
) -> None:
    create_user(installation, LOCAL, "dave@example.com", stack_target.account.uid, "viewer")
    created = create_token(
        installation, LOCAL, "dave@example.com", scopes=BOTH, expires_in=timedelta(minutes=5)
    )
    assert authenticate(installation, created.token).token_uid == created.uid
    clock.tick(minutes=4)
    assert authenticate(installation, created.token).token_uid == created.uid
    clock.tick(minutes=2)
    with pytest.raises(Unauthenticated, match="expired"):
        authenticate(installation, created.token)


@pytest.mark.parametrize("table", [users, tokens, memberships, stack_roles], ids=lambda t: t.name)
def test_every_change_to_who_may_do_what_changes_the_revision(
    installation: Installation, stack_target: Target, table: object
) -> None:
    """Insert, update and delete on each of the four tables, in plain SQL (the triggers' job)."""
    create_user(
        installation,
        LOCAL,
        "bob@example.com",
        stack_target.account.uid,
        "viewer",
        {stack_target.stack.uid: "developer"} if stack_target.stack else None,
    )
    bob = create_token(installation, LOCAL, "bob@example.com", scopes=BOTH)
    with installation.store.read() as conn:
        bob_id = conn.execute(
            select(users.c.id).where(users.c.email == "bob@example.com")
        ).scalar_one()
    seen = {revision(installation)}

    def changed(statement: object) -> None:
        with installation.store.write() as conn:
            result = conn.execute(statement)  # type: ignore[call-overload]
            assert result.rowcount != 0, statement
        now = revision(installation)
        assert now not in seen, f"{statement} left the revision as it was"
        seen.add(now)

    if table is users:
        changed(
            insert(users).values(
                email="carol@example.com",
                is_owner=False,
                created_at=installation.clock(),
                updated_at=installation.clock(),
            )
        )
        changed(update(users).where(users.c.email == "carol@example.com").values(is_owner=False))
        changed(delete(users).where(users.c.email == "carol@example.com"))
    elif table is tokens:
        changed(
            update(tokens).where(tokens.c.uid == bob.uid).values(revoked_at=installation.clock())
        )
        changed(delete(tokens).where(tokens.c.uid == bob.uid))
        create_token(
            installation, LOCAL, "bob@example.com", scopes=BOTH
        )  # an insert, through the core
        assert revision(installation) not in seen
    elif table is memberships:
        changed(
            update(memberships).where(memberships.c.user_id == bob_id).values(role="administrator")
        )
        changed(delete(memberships).where(memberships.c.user_id == bob_id))
        changed(
            insert(memberships).values(
                user_id=bob_id, account_id=stack_target.account.id, role="viewer"
            )
        )
    else:
        changed(update(stack_roles).where(stack_roles.c.user_id == bob_id).values(role="viewer"))
        changed(delete(stack_roles).where(stack_roles.c.user_id == bob_id))
        assert stack_target.stack is not None
        changed(
            insert(stack_roles).values(
                user_id=bob_id, stack_id=stack_target.stack.id, role="developer"
            )
        )


def test_postgresql_truncate_changes_the_revision(installation: Installation) -> None:
    if installation.store.dialect != "postgresql":
        # SQLite has no TRUNCATE; its DELETE without WHERE runs the row triggers (tested above).
        assert installation.store.dialect == "sqlite"
        return
    before = revision(installation)
    with installation.store.write() as conn:
        conn.execute(text("TRUNCATE web_sessions, tokens"))
    assert revision(installation) != before


def test_the_revision_table_holds_one_row(installation: Installation) -> None:
    with installation.store.read() as conn:
        assert conn.execute(select(principals_revision.c.id)).scalars().all() == [1]
    with pytest.raises(sa_exc.IntegrityError), installation.store.write() as conn:
        conn.execute(insert(principals_revision).values(id=2, revision="x"))


def test_known_tokens_forget_the_least_recent_beyond_the_limit() -> None:
    from stacksafe.core.access import Principal

    kept = KnownTokens(limit=2)
    a, b, c = (Principal(name=n) for n in "abc")
    kept.keep(b"a", "r1", a)
    kept.keep(b"b", "r1", b)
    assert kept.get(b"a", "r1") is a  # a is now the most recent
    kept.keep(b"c", "r1", c)
    assert kept.get(b"b", "r1") is None
    assert kept.get(b"a", "r1") is a
    assert kept.get(b"a", "r2") is None  # another revision: gone for good
    assert kept.get(b"a", "r1") is None
    assert repr(kept) == "KnownTokens(1 of 2)"


def test_the_hot_read_checks_a_kept_token_and_finds_the_stack_in_one_query(
    installation: Installation, stack_target: Target, alice: str
) -> None:
    assert stack_target.stack is not None
    uid = stack_target.stack.uid
    authenticate_for_stack(installation, alice, uid)  # the token is kept from now on
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(installation.store.engine, "before_cursor_execute", seen)
    try:
        actor, target_of = authenticate_for_stack(installation, alice, uid, request_id="r1")
        target = target_of()
    finally:
        event.remove(installation.store.engine, "before_cursor_execute", seen)
    assert len(statements) == 1, statements
    assert (actor.name, actor.request_id) == ("alice@example.com", "r1")
    assert target.stack == stack_target.stack
    assert target.account == stack_target.account
    assert target.revision is not None  # for reading: kept values may be used


def test_the_hot_read_refuses_before_it_says_whether_a_stack_exists(
    installation: Installation, stack_target: Target, alice: str
) -> None:
    assert stack_target.stack is not None
    with pytest.raises(Unauthenticated):
        authenticate_for_stack(installation, "ssk_" + "x" * 43, "0" * 32)
    actor, target_of = authenticate_for_stack(installation, alice, "0" * 32)
    assert actor.name == "alice@example.com"
    with pytest.raises(NotFound, match="does not exist"):
        target_of()
    _, with_nul = authenticate_for_stack(installation, alice, "a\x00b")
    with pytest.raises(NotFound, match="does not exist"):
        with_nul()
    principal = authenticate(installation, alice)
    assert principal.token_uid is not None
    revoke_token(installation, LOCAL, principal.token_uid)
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate_for_stack(installation, alice, stack_target.stack.uid)


def test_a_stack_moved_or_deleted_changes_the_revision_and_a_secret_write_does_not(
    installation: Installation, stack_target: Target
) -> None:
    """roles_of joins stacks (each stack role's account): migration 0009's triggers."""
    assert stack_target.stack is not None
    stack_id = stack_target.stack.id
    before = revision(installation)
    set_secret(installation, LOCAL, stack_target, "KEY", SecretValue("value"))
    assert revision(installation) == before  # secrets_revision moves, the principals' does not
    other = create_account(installation, LOCAL, "other")
    moved_from = revision(installation)
    with installation.store.write() as conn:
        conn.execute(update(stacks).where(stacks.c.id == stack_id).values(account_id=other.id))
    assert revision(installation) != moved_from
    gone_from = revision(installation)
    with installation.store.write() as conn:
        conn.execute(delete(secret_versions))
        conn.execute(delete(secrets))
        conn.execute(delete(data_keys).where(data_keys.c.stack_id == stack_id))
        conn.execute(delete(level_writes).where(level_writes.c.stack_id == stack_id))
        conn.execute(delete(stacks).where(stacks.c.id == stack_id))
    assert revision(installation) != gone_from


def test_postgresql_triggers_work_whatever_the_session_search_path(
    installation: Installation, alice: str
) -> None:
    """A DBA's session with another search_path revoking a token in plain SQL: the trigger still
    changes this installation's revision (0009 pins the functions to their schema)."""
    if installation.store.dialect != "postgresql":
        assert installation.store.dialect == "sqlite"  # no schemas, no search_path
        return
    principal = authenticate(installation, alice)
    with installation.store.write() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text("SET LOCAL search_path = pg_catalog"))
        conn.execute(
            text(f'UPDATE "{schema}".tokens SET revoked_at = now() WHERE uid = :uid'),  # noqa: S608 - the schema's own name
            {"uid": principal.token_uid},
        )
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(installation, alice)


def test_at_hand_the_token_and_stack_are_given_only_once_kept(
    installation: Installation, alice: str, stack_target: Target
) -> None:
    """``wait=False`` answers without reading through a transaction: only what is kept
    (SQLite's store.nowait and the token's principal), else None and nothing changed."""
    assert stack_target.stack is not None
    uid = stack_target.stack.uid
    assert authenticate_for_stack(installation, alice, uid, wait=False) is None  # not kept
    waited, target_of = authenticate_for_stack(installation, alice, uid)
    at_hand = authenticate_for_stack(installation, alice, uid, request_id="r2", wait=False)
    if installation.store.nowait is None:  # PostgreSQL: always a network round trip
        assert at_hand is None
        return
    assert at_hand is not None
    actor, kept_target = at_hand
    assert (actor.name, actor.request_id) == (waited.name, "r2")
    assert kept_target() == target_of()
    assert authenticate_for_stack(installation, "ssk_" + "x" * 43, uid, wait=False) is None
    assert authenticate_for_stack(installation, alice, "0" * 32, wait=False) is None


def test_on_the_loop_the_token_and_stack_are_given_on_both_databases_once_kept(
    installation: Installation, alice: str, stack_target: Target
) -> None:
    """``authenticate_for_stack_on_loop``: ``wait=False``'s answers, with PostgreSQL's read
    awaited on the loop (store.loop_reader) rather than refused."""
    assert stack_target.stack is not None
    uid = stack_target.stack.uid

    def on_loop(token: str, stack_uid: str) -> tuple[Principal, Callable[[], Target]] | None:
        return asyncio.run(
            authenticate_for_stack_on_loop(installation, token, stack_uid, request_id="r2")
        )

    assert on_loop(alice, uid) is None  # not kept
    waited, target_of = authenticate_for_stack(installation, alice, uid)
    at_hand = on_loop(alice, uid)
    assert at_hand is not None
    actor, kept_target = at_hand
    assert (actor.name, actor.request_id) == (waited.name, "r2")
    assert kept_target() == target_of()
    assert on_loop("ssk_" + "x" * 43, uid) is None
    assert on_loop(alice, "0" * 32) is None
