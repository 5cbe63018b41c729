"""Deleting stacks and accounts: refused while they hold values (nothing changed), forced
(every value destroyed and audited per key, then the level marked deleted with its history rows
kept and no ciphertext left), who may, and that nothing serves a deleted stack afterwards (the
read cache, the KV path kept by names)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from stacksafe.core.access import Principal
from stacksafe.core.deleted_levels import deleted_history, list_deleted
from stacksafe.core.deletion import delete_account, delete_stack
from stacksafe.core.installation import Installation
from stacksafe.core.kv.deletes import delete_versions
from stacksafe.core.kv.metadata import MetadataChange, write_metadata
from stacksafe.core.kv.paths import known_stack_uid, kv_path, kv_target
from stacksafe.core.kv.reads import read_latest, revealed_data
from stacksafe.core.kv.writes import write_path
from stacksafe.core.principals import authenticate, bootstrap_owner, create_token, create_user
from stacksafe.core.reveal import Credential, RevealQuery, StackRef, reveal
from stacksafe.core.rotation import set_policy
from stacksafe.core.secrets import list_secrets, set_secret, unset_secret
from stacksafe.core.tenancy import (
    Target,
    create_stack,
    list_accounts,
    list_stacks,
    visible_target,
)
from stacksafe.errors import Conflict, Forbidden, NotFound, StacksafeError
from stacksafe.model import SecretValue
from stacksafe.store.schema import metadata, secret_versions, secrets
from tests.actors import LOCAL
from tests.core.helpers_access import (
    SEEDED,
    World,
    attempted,
    build_world,
    events_after,
    last_seq,
    make_user,
    snapshot,
    token_principal,
)

LIST = RevealQuery(reveal=True)


@pytest.fixture
def world(installation: Installation) -> World:
    return build_world(installation)


def _envelopes(installation: Installation, target: Target) -> list[bytes]:
    """Every ciphertext stored for ``target``'s own level."""
    with installation.store.read() as conn:
        query = (
            secret_versions.select()
            .with_only_columns(secret_versions.c.envelope)
            .where(
                secret_versions.c.secret_id.in_(
                    secrets.select()
                    .with_only_columns(secrets.c.id)
                    .where(
                        secrets.c.stack_id == target.stack_id
                        if target.stack is not None
                        else (secrets.c.account_id == target.account.id)
                        & secrets.c.stack_id.is_(None)
                    )
                ),
                secret_versions.c.envelope.is_not(None),
            )
        )
        return [bytes(r.envelope) for r in conn.execute(query)]


def _stored_text(installation: Installation) -> bytes:
    """Every row of every table, as the database renders it (binary as hex) and as raw bytes."""
    parts: list[bytes] = []
    with installation.store.read() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(table.select()):
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        parts += [bytes(cell), bytes(cell).hex().encode()]
                    else:
                        parts.append(str(cell).encode())
    return b"\n".join(parts)


def _database_bytes(installation: Installation) -> bytes:
    """What the database holds: SQLite's files as they are on disk (free pages, the
    write-ahead log), PostgreSQL's rows as SQL reads them (its dead row versions are not
    reachable by SQL, and wait for VACUUM)."""
    database = installation.store.database_file
    if database is None:
        return _stored_text(installation)
    files = [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def _rows_naming(installation: Installation, column: str, value: int) -> dict[str, int]:
    """How many rows of each table have ``column`` = ``value``."""
    found = {}
    with installation.store.read() as conn:
        for table in metadata.sorted_tables:
            if column in table.c:
                count = conn.execute(
                    text(f"SELECT count(*) FROM {table.name} WHERE {column} = :v"),  # noqa: S608
                    {"v": value},
                ).scalar_one()
                if count:
                    found[table.name] = count
    return found


def _assert_history_kept(
    installation: Installation, uid: str, name: str, versions: dict[str, int]
) -> None:
    """The deleted level's tombstone names it; each of ``versions``'s keys keeps that many
    version rows, every one destroyed and holding no value."""
    level, kept = deleted_history(installation, LOCAL, uid)
    assert (level.uid, level.name) == (uid, name)
    assert level.deleted_at is not None
    for key, count in versions.items():
        rows = [v for v in kept if v.key == key]
        assert [v.version for v in rows] == list(range(1, count + 1))
        assert all(v.destroyed_at is not None and v.author for v in rows)
    assert uid in [t.uid for t in list_deleted(installation, LOCAL)]
    levels = (
        "SELECT id FROM secrets WHERE stack_id IN (SELECT id FROM stacks WHERE uid = :u)"
        " OR (stack_id IS NULL AND account_id IN (SELECT id FROM accounts WHERE uid = :u))"
    )
    held = "SELECT count(*) FROM secret_versions WHERE envelope IS NOT NULL AND secret_id IN "
    with installation.store.read() as conn:
        assert conn.execute(text(levels), {"u": uid}).all()  # the query sees the level's rows
        assert conn.execute(text(f"{held}({levels})"), {"u": uid}).scalar_one() == 0


def test_a_stack_holding_values_is_refused_and_nothing_changes(
    installation: Installation, world: World
) -> None:
    before, seq = snapshot(installation), last_seq(installation)
    with pytest.raises(Conflict, match=r"holds values of 2 key\(s\) \(WEB_KEY, WEB_SECOND\)"):
        delete_stack(installation, LOCAL, "web", "acme")
    assert snapshot(installation) == before
    assert events_after(installation, seq) == []


def test_values_only_in_history_still_count(installation: Installation, world: World) -> None:
    for key in SEEDED["web"]:
        unset_secret(installation, LOCAL, world.web, key)
    before = snapshot(installation)
    with pytest.raises(Conflict, match="current or in history"):
        delete_stack(installation, LOCAL, "web", "acme")
    assert snapshot(installation) == before


def test_an_empty_stack_is_deleted_and_its_name_can_be_used_again(
    installation: Installation, world: World
) -> None:
    empty = create_stack(installation, LOCAL, "acme", "empty", "qa")
    seq = last_seq(installation)
    deleted = delete_stack(installation, LOCAL, "empty", "acme")
    assert deleted.destroyed == {}
    assert "empty" not in [s.name for s in list_stacks(installation, LOCAL, "acme")]
    with pytest.raises(NotFound):
        visible_target(installation, LOCAL, stack_uid=empty.uid)
    [event] = events_after(installation, seq)
    assert (event.action, event.stack_uid, event.detail["name"]) == (
        "stack.delete",
        empty.uid,
        "empty",
    )
    again = create_stack(installation, LOCAL, "acme", "empty", "qa")
    assert again.uid != empty.uid


def test_force_destroys_each_value_audited_then_deletes_every_row_of_the_stack(
    installation: Installation, world: World
) -> None:
    web = world.web
    assert web.stack is not None
    set_secret(installation, LOCAL, web, "WEB_KEY", SecretValue("second value of web key"))
    set_policy(installation, LOCAL, web, "WEB_KEY", rotator="manual")
    write_path(installation, LOCAL, web, {"KV_KEY": "kv value"}, patch=True)
    write_metadata(installation, LOCAL, web, MetadataChange(custom_metadata={"team": "a"}))
    write_path(installation, LOCAL, web, {"KV_KEY": "kv value 2"}, patch=True)
    delete_versions(installation, LOCAL, web, [1])
    make_user(installation, "dev@acme.test", "acme", "viewer", {"web": "developer"})
    ciphertexts = _envelopes(installation, web)
    assert len(ciphertexts) == 5
    assert all(c in _stored_text(installation) for c in ciphertexts)
    seq = last_seq(installation)

    deleted = delete_stack(installation, LOCAL, "web", "acme", force=True)

    assert deleted.destroyed == {"KV_KEY": (1, 2), "WEB_KEY": (1, 2), "WEB_SECOND": (1,)}
    events = events_after(installation, seq)
    assert [(e.action, e.stack_uid) for e in events] == [
        ("secret.destroy", web.stack.uid),
        ("secret.destroy", web.stack.uid),
        ("secret.destroy", web.stack.uid),
        ("stack.delete", web.stack.uid),
    ]
    assert [e.detail["destroyed_versions"] for e in events[:3]] == [
        {"KV_KEY": [1, 2]},
        {"WEB_KEY": [1, 2]},
        {"WEB_SECOND": [1]},
    ]
    assert events[3].detail["roles_removed"] == ["dev@acme.test"]
    # What gives access or could open anything is gone; the history rows stay, marked, with
    # none of its ciphertexts stored anywhere.
    assert _rows_naming(installation, "stack_id", web.stack.id) == {"secrets": 3}
    _assert_history_kept(installation, web.stack.uid, "web", {"KV_KEY": 2, "WEB_KEY": 2})
    stored = _stored_text(installation)
    assert [c for c in ciphertexts if c in stored or c.hex().encode() in stored] == []
    # The account and the other stacks are as they were.
    assert {s.key for s in list_secrets(installation, LOCAL, world.acme)} == set(SEEDED["acme"])
    assert {s.key for s in list_secrets(installation, LOCAL, world.api)} == {
        *SEEDED["acme"],
        *SEEDED["api"],
    }


def test_no_byte_of_a_force_deleted_stacks_ciphertexts_stays_in_the_database(
    installation: Installation, world: World
) -> None:
    """Like tests/core/test_no_plaintext_at_rest.py, for what a forced delete destroyed: on
    SQLite the files themselves (the delete overwrites what it frees, then checkpoints)."""
    web = world.web
    for n in range(40):  # enough to fill pages of their own
        set_secret(installation, LOCAL, web, f"K{n:02d}", SecretValue(f"value-{n}-" + "x" * 300))
    ciphertexts = _envelopes(installation, web)
    with installation.store.read() as conn:
        wrapped = [
            bytes(r.wrapped_key)
            for r in conn.execute(
                text("SELECT wrapped_key FROM data_keys WHERE stack_id = :s"), {"s": web.stack_id}
            )
        ]
    assert len(ciphertexts) == 42
    assert wrapped
    before = _database_bytes(installation)
    assert sum(c[-32:] in before for c in ciphertexts) == 42  # the check can see them

    delete_stack(installation, LOCAL, "web", "acme", force=True)

    after = _database_bytes(installation)
    # The last 32 bytes of each (ciphertext and tag): no run of them is left anywhere.
    assert [c for c in ciphertexts if c[-32:] in after or c[-32:].hex().encode() in after] == []
    assert [w for w in wrapped if w[-32:] in after or w[-32:].hex().encode() in after] == []


def test_a_deleted_stack_is_not_served_from_what_was_kept(
    installation: Installation, world: World
) -> None:
    web = world.web
    assert web.stack is not None
    create_user(installation, LOCAL, "dev@acme.test", "acme", "developer")
    token = create_token(installation, LOCAL, "dev@acme.test", scopes=["public", "admin"]).token
    credential = Credential(token)
    # Warm: the level kept by the read cache, the token's principal kept, the KV path's uid kept.
    for _ in range(2):
        assert reveal(installation, credential, StackRef(web.stack.uid), LIST).result()
    path = kv_path("acme/web")
    actor = authenticate(installation, token)
    warm = read_latest(installation, actor, kv_target(installation, actor, path)).revealed
    assert warm is not None
    assert {s.key for s in warm.result()} == {*SEEDED["acme"], *SEEDED["web"]}  # as a face waits
    assert known_stack_uid(installation, path) == web.stack.uid

    delete_stack(installation, LOCAL, "web", "acme", force=True)

    # The at-hand read (the event loop's) does not have it; the waiting read says it is gone.
    assert reveal(installation, credential, StackRef(web.stack.uid), LIST, wait=False) is None
    with pytest.raises(NotFound):
        reveal(installation, credential, StackRef(web.stack.uid), LIST).result()
    with pytest.raises(NotFound):
        kv_target(installation, actor, path)
    # A new stack of the same name is a new stack: its path resolves to it, with its values.
    fresh = create_stack(installation, LOCAL, "acme", "web", "production")
    set_secret(installation, LOCAL, Target(web.account, fresh), "NEW", SecretValue("new value"))
    target = kv_target(installation, actor, path)
    assert target.stack == fresh
    assert known_stack_uid(installation, path) == fresh.uid
    latest = read_latest(installation, actor, target)
    assert latest.revealed is not None
    latest.revealed.result()
    data = revealed_data(latest.facts, latest.revealed).data
    assert data == {**SEEDED["acme"], "NEW": "new value"}
    # Its versions number from its own creation, not the deleted stack's.
    assert latest.facts.version is not None
    assert latest.facts.version.number == 2


def test_a_write_to_a_stack_deleted_after_it_was_found_is_a_not_found(
    installation: Installation, world: World
) -> None:
    """A request that resolved the stack before another deleted it: its write refers to rows
    that are gone (a foreign key), answered as a stack that does not exist, nothing written."""
    web, acme = world.web, world.acme
    delete_stack(installation, LOCAL, "web", "acme", force=True)
    before = snapshot(installation)
    with pytest.raises(NotFound, match="deleted meanwhile"):
        set_secret(installation, LOCAL, web, "LATE", SecretValue("late value"))
    assert snapshot(installation) == before
    delete_account(installation, LOCAL, "acme", force=True)
    before = snapshot(installation)
    with pytest.raises(NotFound, match="deleted meanwhile"):
        set_secret(installation, LOCAL, acme, "LATE", SecretValue("late value"))
    assert snapshot(installation) == before


def _actor(installation: Installation, who: str) -> Principal:
    if who == "owner":
        return LOCAL
    if who == "public-scope administrator":
        return make_user(installation, "p@acme.test", "acme", "administrator", scopes=["public"])
    if who == "operation of acme demoted to viewer in the stack":
        return make_user(installation, "o@acme.test", "acme", "operation", {"web": "viewer"})
    if who == "the server owner with a token narrowed to a stack":
        bootstrap_owner(installation, "root@acme.test")
        return token_principal(installation, "root@acme.test", stacks=["web"])
    if who == "token narrowed to the stack":
        make_user(installation, "n@acme.test", "acme", "administrator")
        return token_principal(installation, "n@acme.test", stacks=["web"])
    role, _, account = who.partition(" of ")
    return make_user(installation, f"{role}@{account}.test", account, role)


# Who may delete what: (operation, who, the refusal or None). Written out by hand, not derived
# from the roles' permissions: loosening a rule must fail a case.
WHO_MAY_DELETE = [
    ("stack", "owner", None),
    ("stack", "administrator of acme", None),
    ("stack", "power_user of acme", None),
    ("stack", "operation of acme", None),
    ("stack", "developer of acme", Forbidden),
    ("stack", "viewer of acme", Forbidden),
    ("stack", "administrator of globex", NotFound),
    ("stack", "public-scope administrator", Forbidden),
    ("stack", "token narrowed to the stack", Forbidden),
    ("stack", "operation of acme demoted to viewer in the stack", Forbidden),
    ("account", "owner", None),
    ("account", "administrator of acme", Forbidden),
    ("account", "owner of acme", Forbidden),  # the account role "owner" is not the server owner
    ("account", "viewer of acme", Forbidden),
    ("account", "administrator of globex", Forbidden),
    ("account", "the server owner with a token narrowed to a stack", Forbidden),
]


@pytest.mark.parametrize(("what", "who", "refused"), WHO_MAY_DELETE)
def test_who_may_delete(
    installation: Installation,
    world: World,
    what: str,
    who: str,
    refused: type[StacksafeError] | None,
) -> None:
    actor = _actor(installation, who)

    def attempt() -> object:
        if what == "stack":
            return delete_stack(installation, actor, "web", "acme", force=True)
        return delete_account(installation, actor, "acme", force=True)

    events = attempted(installation, attempt, refused)
    if refused is None:
        assert events[-1].action == f"{what}.delete"


def test_an_account_holding_values_in_any_stack_is_refused(
    installation: Installation, world: World
) -> None:
    for key in SEEDED["acme"]:
        unset_secret(installation, LOCAL, world.acme, key)
    for name in ("web", "api"):
        delete_stack(installation, LOCAL, name, "acme", force=True)
    before = snapshot(installation)
    with pytest.raises(Conflict, match=r"holds values of 2 key\(s\) \(ACME_SHARED, dev/DEV_KEY\)"):
        delete_account(installation, LOCAL, "acme")
    assert snapshot(installation) == before


def test_force_deletes_an_account_with_its_stacks_and_members(
    installation: Installation, world: World
) -> None:
    acme = world.acme.account
    create_user(installation, LOCAL, "dev@acme.test", "acme", "developer")
    create_user(installation, LOCAL, "dev@acme.test", "globex", "viewer")
    token = create_token(installation, LOCAL, "dev@acme.test", scopes=["public", "admin"]).token
    assert len(list_accounts(installation, authenticate(installation, token))) == 2
    ciphertexts = [
        c
        for name in ("acme", "web", "api", "dev")
        for c in _envelopes(installation, world.target(name))
    ]
    seq = last_seq(installation)

    deleted = delete_account(installation, LOCAL, "acme", force=True)

    assert sorted(deleted.stacks) == ["api", "dev", "web"]
    assert set(deleted.destroyed) == {
        "ACME_SHARED",
        "web/WEB_KEY",
        "web/WEB_SECOND",
        "api/API_KEY",
        "dev/DEV_KEY",
    }
    events = events_after(installation, seq)
    assert [e.action for e in events].count("secret.destroy") == 5
    assert [e.action for e in events].count("stack.delete") == 3
    assert events[-1].action == "account.delete"
    assert events[-1].detail["members_removed"] == ["dev@acme.test"]
    # Its own level's and its stacks' secrets stay, marked (no ciphertext); nothing else.
    assert _rows_naming(installation, "account_id", acme.id) == {"secrets": 5, "stacks": 3}
    _assert_history_kept(installation, acme.uid, "acme", {"ACME_SHARED": 1})
    _assert_history_kept(
        installation, world.target("web").scope.stack_uid or "", "web", {"WEB_KEY": 1}
    )
    stored = _stored_text(installation)
    assert [c for c in ciphertexts if c in stored or c.hex().encode() in stored] == []
    # The member's token now stands for a user of globex only; globex is untouched.
    assert [a.name for a in list_accounts(installation, authenticate(installation, token))] == [
        "globex"
    ]
    assert {s.key for s in list_secrets(installation, LOCAL, world.shop)} == {
        *SEEDED["globex"],
        *SEEDED["shop"],
    }
