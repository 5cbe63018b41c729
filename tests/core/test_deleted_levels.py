"""What stays of deleted stacks and accounts (core.deleted_levels): who may read it, that an
unknown uid and an invisible one answer alike, that a deleted level's name is free while its
tombstone keeps the old one, and that a level single sign-on still maps is not deleted."""

from __future__ import annotations

import pytest

from stacksafe.core.deleted_levels import deleted_history, list_deleted
from stacksafe.core.deletion import delete_account, delete_stack
from stacksafe.core.installation import Installation
from stacksafe.core.principals import bootstrap_owner
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_stack, list_stacks, visible_target
from stacksafe.errors import Conflict, Forbidden, NotFound
from stacksafe.model import SecretValue
from stacksafe.store import Connection
from stacksafe.store import principals as principal_queries
from stacksafe.store import secrets as secret_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.oidc import put_provider
from tests.actors import LOCAL
from tests.core.helpers_access import World, build_world, make_user, snapshot, token_principal
from tests.store.test_migration_0016 import _provider


@pytest.fixture
def world(installation: Installation) -> World:
    return build_world(installation)


def _deleted_web(installation: Installation, world: World) -> str:
    set_secret(installation, LOCAL, world.web, "WEB_KEY", SecretValue("web key again"))
    uid = world.web.scope.stack_uid
    assert uid is not None
    delete_stack(installation, LOCAL, "web", "acme", force=True)
    return uid


def test_the_name_is_free_and_the_tombstone_keeps_it(
    installation: Installation, world: World
) -> None:
    old = _deleted_web(installation, world)
    again = create_stack(installation, LOCAL, "acme", "web", "staging")
    assert [s.uid for s in list_stacks(installation, LOCAL, "acme") if s.name == "web"] == [
        again.uid
    ]
    [tombstone] = list_deleted(installation, LOCAL, "acme")
    assert (tombstone.uid, tombstone.name, tombstone.environment) == (old, "web", "production")
    assert (tombstone.keys, tombstone.versions, tombstone.account_deleted) == (2, 3, False)
    level, kept = deleted_history(installation, LOCAL, old)
    assert level == tombstone
    assert [(v.key, v.version) for v in kept] == [("WEB_KEY", 1), ("WEB_KEY", 2), ("WEB_SECOND", 1)]
    # The new stack's history is its own: nothing of the old one shows through.
    new = set_secret(
        installation, LOCAL, Target(world.acme.account, again), "WEB_KEY", SecretValue("new")
    )
    assert new.version == 1


@pytest.mark.parametrize(
    ("who", "refused"),
    [
        ("operation of acme", None),
        ("administrator of acme", None),
        ("developer of acme", Forbidden),
        ("viewer of acme", Forbidden),
        ("administrator of globex", NotFound),
    ],
)
def test_who_reads_a_deleted_stack_of_a_live_account(
    installation: Installation, world: World, who: str, refused: type[Exception] | None
) -> None:
    uid = _deleted_web(installation, world)
    role, _, account = who.partition(" of ")
    actor = make_user(installation, f"{role}@{account}.test", account, role)
    if refused is None:
        assert [t.uid for t in list_deleted(installation, actor, "acme")] == [uid]
        assert deleted_history(installation, actor, uid)[0].uid == uid
        return
    with pytest.raises(refused):
        list_deleted(installation, actor, "acme")
    with pytest.raises(refused) as raised:
        deleted_history(installation, actor, uid)
    if refused is NotFound:  # as for a uid no level ever had
        with pytest.raises(NotFound) as missing:
            deleted_history(installation, actor, "f" * 32)
        assert str(raised.value).replace(uid, "f" * 32) == str(missing.value)


def test_deleted_accounts_are_the_server_owners(installation: Installation, world: World) -> None:
    web = _deleted_web(installation, world)
    admin = make_user(installation, "admin@globex.test", "globex", "administrator")
    acme = world.acme.account
    delete_account(installation, LOCAL, "acme", force=True)
    everything = list_deleted(installation, LOCAL)
    assert {(t.kind, t.name) for t in everything} >= {("account", "acme"), ("stack", "web")}
    assert all(t.account_deleted for t in everything)
    assert deleted_history(installation, LOCAL, acme.uid)[1][0].key in {"ACME_SHARED"}
    for uid in (acme.uid, web):  # a stack deleted with its account is the owner's too
        with pytest.raises(NotFound, match="no deleted stack or account"):
            deleted_history(installation, admin, uid)
    with pytest.raises(Forbidden, match="only the server owner"):
        list_deleted(installation, admin)


def test_an_account_single_sign_on_maps_is_not_deleted(
    installation: Installation, world: World
) -> None:
    with installation.store.write() as conn:
        put_provider(conn, _provider(installation), [("devs", world.acme.account.id, "viewer")])
    before = snapshot(installation)
    with pytest.raises(Conflict, match=r"group mapping\(s\) devs; nothing was deleted"):
        delete_account(installation, LOCAL, "acme", force=True)
    assert snapshot(installation) == before


def _insert_referring(installation: Installation, world: World, table: str, user: int) -> None:
    """A row of ``table`` naming acme (or its web stack), as a write that found them before
    they were deleted would commit it."""
    now = installation.clock()
    account = world.acme.account
    web = world.web.stack
    assert web is not None

    def work(conn: Connection) -> None:
        if table == "stacks":
            tenancy_queries.insert_stack(conn, "f" * 32, account.id, "late", "qa", now)
        elif table == "memberships":
            principal_queries.set_account_role(conn, user, account.id, "viewer")
        elif table == "stack_roles":
            principal_queries.set_stack_role(conn, user, web.id, "viewer")
        elif table == "secrets (stack)":
            secret_queries.insert_secret(conn, account.id, web.id, "LATE", now)
        elif table == "secrets (account)":
            secret_queries.insert_secret(conn, account.id, None, "LATE", now)
        else:
            put_provider(conn, _provider(installation), [("devs", account.id, "viewer")])

    installation.store.transact(work, "writing late")


@pytest.mark.parametrize(
    "table",
    [
        "stacks",
        "memberships",
        "stack_roles",
        "secrets (stack)",
        "secrets (account)",
        "oidc_group_roles",
    ],
)
def test_a_row_referring_to_a_deleted_level_is_refused_as_deleted_meanwhile(
    installation: Installation, world: World, table: str
) -> None:
    """The foreign keys no longer refuse it (the level's row stays): the triggers of migration
    0017 do, with the same error, so a write racing a delete changes nothing."""
    user = make_user(installation, "late@acme.test", "globex", "viewer").user_id
    assert user is not None
    delete_account(installation, LOCAL, "acme", force=True)
    before = snapshot(installation)
    with pytest.raises(NotFound, match="deleted meanwhile"):
        _insert_referring(installation, world, table, user)
    assert snapshot(installation) == before


def test_a_deleted_accounts_uid_is_not_found_for_anyone_but_the_owner(
    installation: Installation, world: World
) -> None:
    acme = world.acme.account
    viewer = make_user(installation, "v@globex.test", "globex", "viewer")
    bootstrap_owner(installation, "root@acme.test")
    public_owner = token_principal(installation, "root@acme.test", scopes=["public"])
    delete_account(installation, LOCAL, "acme", force=True)
    with pytest.raises(NotFound) as hidden:
        deleted_history(installation, viewer, acme.uid)
    with pytest.raises(NotFound) as unknown:
        deleted_history(installation, viewer, "f" * 32)
    assert str(hidden.value).replace(acme.uid, "f" * 32) == str(unknown.value)
    # The owner's token without the admin scope reads no deleted account, as it lists none.
    with pytest.raises(Forbidden, match="only the server owner"):
        deleted_history(installation, public_owner, acme.uid)
    with pytest.raises(Forbidden, match="only the server owner"):
        list_deleted(installation, public_owner)


@pytest.mark.parametrize("ref", ["\udcff", "web\x00", "a\udcffb"])
def test_a_reference_no_row_can_hold_is_not_found(installation: Installation, ref: str) -> None:
    """A uid or name with a NUL or a lone surrogate (a command-line argument of invalid bytes)
    is looked up as nothing: a 404, not an encoding error from the driver."""
    with pytest.raises(NotFound):
        deleted_history(installation, LOCAL, ref)
    with pytest.raises(NotFound):
        visible_target(installation, LOCAL, stack_uid=ref)
    with pytest.raises(NotFound):
        visible_target(installation, LOCAL, account_ref=ref)
