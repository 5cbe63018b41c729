"""What reads opened is used again only while the database's revision says it is current.

Each test reads first (so the level is kept), then changes the database in some way, and checks
the next read sees the change: writes through stacksafe, writes by another server on the same
database, and plain SQL behind everyone's back (tampering), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import delete, select, text, update

from stacksafe.core.bulk import NewStack, load_stacks
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.read_cache import MAX_DERIVED, CachedLevel, ReadCache
from stacksafe.core.secrets import (
    get_secret,
    import_secrets,
    list_secrets,
    restrict_secret,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_stack, visible_target
from stacksafe.errors import ConfigurationError, IntegrityError
from stacksafe.model import Secret, SecretValue
from stacksafe.settings import Settings
from stacksafe.store import secrets as queries
from stacksafe.store.schema import accounts, secret_versions, secrets, stacks
from tests.actors import LOCAL


def put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


def values(installation: Installation, target: Target) -> dict[str, str]:
    return {
        s.key: s.raw_value.reveal()
        for s in list_secrets(installation, LOCAL, target, reveal=True)
        if s.raw_value is not None
    }


def as_read(installation: Installation, target: Target) -> Target:
    """The target as the API reads it: with its revision."""
    assert target.stack is not None
    return visible_target(installation, LOCAL, stack_uid=target.stack.uid, for_reading=True)


def revision(installation: Installation, target: Target) -> str | None:
    with installation.store.read() as conn:
        return queries.secrets_revision(conn, target.account.id, target.stack_id)


def test_a_cold_read_of_one_key_keeps_its_whole_level(
    installation: Installation, stack_target: Target
) -> None:
    """So the next reads of its keys (and of the level) open nothing (api.fast_path: at hand)."""
    put(installation, stack_target, "K", "v1")
    put(installation, stack_target, "J", "v2")
    cache = installation.read_cache
    assert cache is not None
    cache.clear()
    read = as_read(installation, stack_target)
    assert get_secret(installation, LOCAL, read, "K", reveal=True).raw_value == SecretValue("v1")
    misses, hits = cache.misses, cache.hits
    assert get_secret(installation, LOCAL, read, "J", reveal=True).raw_value == SecretValue("v2")
    assert values(installation, read) == {"K": "v1", "J": "v2"}
    assert (cache.misses, cache.hits) == (misses, hits + 2)


def test_a_key_of_a_level_too_big_to_open_whole_is_read_alone(
    installation: Installation, stack_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stacksafe.core.level_reads as level_reads

    put(installation, stack_target, "K", "v1")
    put(installation, stack_target, "J", "v2")
    monkeypatch.setattr(level_reads, "WHOLE_FOR_ONE_KEY", 1)
    cache = installation.read_cache
    assert cache is not None
    cache.clear()
    read = as_read(installation, stack_target)
    for _ in range(2):  # nothing kept: each read opens its key alone
        assert get_secret(installation, LOCAL, read, "K", reveal=True).raw_value == SecretValue(
            "v1"
        )
    assert cache.kept_bytes == 0
    assert cache.hits == 0


@pytest.fixture
def other_server(settings: Settings, installation: Installation) -> Iterator[Installation]:
    """A second process's installation on the same database (its own cache)."""
    second = open_installation(settings)
    yield second
    second.close()


def test_a_second_read_at_the_same_revision_decrypts_nothing(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "v1")
    cache = installation.read_cache
    assert cache is not None
    assert values(installation, as_read(installation, stack_target)) == {"K": "v1"}
    misses, hits = cache.misses, cache.hits
    assert values(installation, as_read(installation, stack_target)) == {"K": "v1"}
    assert (cache.misses, cache.hits) == (misses, hits + 1)
    # Described (no values) and single keys come from the same kept level.
    listed = list_secrets(installation, LOCAL, as_read(installation, stack_target))
    assert [s.raw_value for s in listed] == [None]
    assert (
        get_secret(installation, LOCAL, as_read(installation, stack_target), "K").raw_value is None
    )
    assert cache.misses == misses


@pytest.mark.parametrize("how", ["set", "unset", "restrict", "account-set"])
def test_every_kind_of_write_is_seen_by_the_next_read(
    installation: Installation, account_target: Target, stack_target: Target, how: str
) -> None:
    put(installation, stack_target, "K", "v1")
    put(installation, account_target, "A", "from-account")
    before = values(installation, as_read(installation, stack_target))
    assert before == {"K": "v1", "A": "from-account"}
    if how == "set":
        put(installation, stack_target, "K", "v2")
        expected = {"K": "v2", "A": "from-account"}
    elif how == "unset":
        unset_secret(installation, LOCAL, stack_target, "K")
        expected = {"A": "from-account"}
    elif how == "restrict":
        restrict_secret(installation, LOCAL, account_target, "A", ["staging"])
        expected = {"K": "v1"}  # the stack is in production
    else:
        put(installation, account_target, "A", "changed-at-account")
        expected = {"K": "v1", "A": "changed-at-account"}
    assert values(installation, as_read(installation, stack_target)) == expected
    assert values(installation, stack_target) == expected  # without a revision read with the target


def test_another_server_sees_this_servers_write_at_once(
    installation: Installation, other_server: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "v1")
    assert values(other_server, as_read(other_server, stack_target)) == {"K": "v1"}
    put(installation, stack_target, "K", "v2")
    assert values(other_server, as_read(other_server, stack_target)) == {"K": "v2"}
    set_secret(other_server, LOCAL, stack_target, "K", SecretValue("v3"))
    assert values(installation, as_read(installation, stack_target)) == {"K": "v3"}


def test_a_write_to_one_stack_leaves_the_others_kept(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    other = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "other", "staging")
    )
    put(installation, stack_target, "K", "v1")
    put(installation, other, "O", "o1")
    kept = revision(installation, stack_target)
    put(installation, other, "O", "o2")
    assert revision(installation, stack_target) == kept
    put(installation, account_target, "A", "shared")
    assert revision(installation, stack_target) != kept


def test_sql_tampering_after_a_read_is_detected_on_the_next_read(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "A", "value-of-a")
    put(installation, stack_target, "B", "value-of-b")
    assert values(installation, as_read(installation, stack_target)) == {
        "A": "value-of-a",
        "B": "value-of-b",
    }
    with installation.store.write() as conn:
        envelope_a = conn.execute(
            select(secret_versions.c.envelope)
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(secrets.c.key == "A")
        ).scalar_one()
        b_id = conn.execute(select(secrets.c.id).where(secrets.c.key == "B")).scalar_one()
        conn.execute(
            update(secret_versions)
            .where(secret_versions.c.secret_id == b_id)
            .values(envelope=envelope_a)
        )
    with pytest.raises(IntegrityError, match="'B'"):
        list_secrets(installation, LOCAL, as_read(installation, stack_target), reveal=True)
    with pytest.raises(IntegrityError, match="'B'"):
        get_secret(installation, LOCAL, as_read(installation, stack_target), "B", reveal=True)
    # The healthy key is still readable on its own.
    found = get_secret(installation, LOCAL, as_read(installation, stack_target), "A", reveal=True)
    assert found.raw_value == SecretValue("value-of-a")


def test_deleting_a_version_row_behind_the_servers_back_changes_the_revision(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "v1")
    put(installation, stack_target, "K", "v2")
    kept = revision(installation, stack_target)
    with installation.store.write() as conn:
        conn.execute(delete(secret_versions).where(secret_versions.c.version == 1))
    assert revision(installation, stack_target) != kept


def test_revisions_are_random_not_counted(installation: Installation, stack_target: Target) -> None:
    """Random: a restored or different database never shows an old revision for new data."""
    seen = set()
    for i in range(5):
        put(installation, stack_target, "K", f"v{i}")
        seen.add(revision(installation, stack_target))
    assert len(seen) == 5
    with installation.store.read() as conn:
        account_revisions = conn.execute(select(accounts.c.secrets_revision)).scalars().all()
        stack_revisions = conn.execute(select(stacks.c.secrets_revision)).scalars().all()
    assert all(len(r) == 16 for r in stack_revisions)
    assert all(r == "" or len(r) == 16 for r in account_revisions)


def test_the_triggers_exist_after_migration(installation: Installation) -> None:
    with installation.store.read() as conn:
        if installation.store.dialect == "sqlite":
            names = conn.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            ).scalars()
        else:
            names = conn.execute(
                text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            ).scalars()
        found = set(names)
    expected = (
        {
            "secrets_revise_insert",
            "secrets_revise_update",
            "secrets_revise_delete",
            "secret_versions_revise_insert",
            "secret_versions_revise_update",
            "secret_versions_revise_delete",
        }
        if installation.store.dialect == "sqlite"
        else {
            "secrets_revise",
            "secret_versions_revise",
            "secrets_revise_truncate",
            "secret_versions_revise_truncate",
        }
    )
    assert expected <= found


def test_a_stale_target_revision_reads_the_database(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "v1")
    read_before = as_read(installation, stack_target)
    assert values(installation, read_before) == {"K": "v1"}
    put(installation, stack_target, "K", "v2")
    # A target read before the write: at worst the value as it was then, never a mix.
    assert values(installation, read_before) in ({"K": "v1"}, {"K": "v2"})
    assert values(installation, as_read(installation, stack_target)) == {"K": "v2"}
    bogus = replace(read_before, revision="not-a-revision")
    assert values(installation, bogus) == {"K": "v2"}


def test_the_cache_can_be_turned_off(settings: Settings, installation: Installation) -> None:
    off = open_installation(replace(settings, read_cache_bytes=0))
    try:
        assert off.read_cache is None
    finally:
        off.close()
    for bad in ("-1", "64MB", "1e6", "²"):
        with pytest.raises(ConfigurationError, match="STACKSAFE_READ_CACHE_BYTES"):
            Settings.load({"STACKSAFE_READ_CACHE_BYTES": bad}, data_dir=settings.data_dir)
    assert (
        Settings.load({"STACKSAFE_READ_CACHE_BYTES": "0"}, data_dir=settings.data_dir)
    ).read_cache_bytes == 0


def _level_of(size: int) -> CachedLevel:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    secret = Secret("K", "encrypted:AES256:x", False, 1, now, now, SecretValue("x" * size))
    return CachedLevel.of("rev", [secret])


def test_the_cache_is_bounded_in_bytes_least_recently_used_out_first() -> None:
    one = _level_of(1000)
    cache = ReadCache(max_bytes=3 * one.size)
    for stack_id in (1, 2, 3):
        cache.put((1, stack_id, "production"), one)
    assert cache.get((1, 1, "production"), "rev") is not None  # 1 is now the most recent
    cache.put((1, 4, "production"), one)
    assert cache.get((1, 2, "production"), "rev") is None  # the least recently used went
    assert cache.get((1, 1, "production"), "rev") is not None
    assert cache.kept_bytes == 3 * one.size
    cache.put((1, 5, "production"), _level_of(10 * one.size))  # too big: not kept
    assert cache.get((1, 5, "production"), "rev") is None
    assert cache.kept_bytes <= cache.max_bytes
    assert cache.get((1, 1, "production"), "other-revision") is None


def test_replacing_a_version_row_behind_the_servers_back_changes_the_revision(
    installation: Installation, stack_target: Target
) -> None:
    """An upsert of a version row (SQLite: INSERT OR REPLACE, which deletes without delete
    triggers) changes the revision too."""
    put(installation, stack_target, "A", "value-a")
    put(installation, stack_target, "B", "value-b")
    assert values(installation, as_read(installation, stack_target)) == {
        "A": "value-a",
        "B": "value-b",
    }
    # An upsert of B's version row with A's envelope: SQLite's INSERT OR REPLACE, and
    # PostgreSQL's INSERT ... ON CONFLICT DO UPDATE.
    columns = "secret_versions (secret_id, version, action, envelope, author, created_at)"
    rows = (
        " SELECT b.secret_id, b.version, b.action, a.envelope, b.author, b.created_at"
        " FROM secret_versions a JOIN secrets sa ON sa.id = a.secret_id AND sa.key = 'A',"
        " secret_versions b JOIN secrets sb ON sb.id = b.secret_id AND sb.key = 'B'"
    )
    if installation.store.dialect == "sqlite":
        upsert = text("INSERT OR REPLACE INTO " + columns + rows)
    else:
        conflict = " ON CONFLICT (secret_id, version) DO UPDATE SET envelope = EXCLUDED.envelope"
        upsert = text("INSERT INTO " + columns + rows + conflict)
    with installation.store.write() as conn:
        conn.execute(upsert)
    with pytest.raises(IntegrityError, match="'B'"):
        list_secrets(installation, LOCAL, as_read(installation, stack_target), reveal=True)


def test_truncating_behind_the_servers_back_changes_every_revision(
    installation: Installation, stack_target: Target
) -> None:
    if installation.store.dialect != "postgresql":
        return  # SQLite has no TRUNCATE; its DELETE fires the row triggers
    put(installation, stack_target, "K", "v1")
    assert values(installation, as_read(installation, stack_target)) == {"K": "v1"}
    kept = revision(installation, stack_target)
    with installation.store.write() as conn:
        conn.execute(text("TRUNCATE secret_versions, rotation_policies, secrets"))
    assert revision(installation, stack_target) != kept
    assert values(installation, as_read(installation, stack_target)) == {}


def test_no_plaintext_in_the_reprs_of_kept_or_audited_values(
    installation: Installation, stack_target: Target
) -> None:
    from stacksafe.core.reveal import RevealQuery, reveal

    put(installation, stack_target, "K", "plaintext-never-in-a-repr")
    target = as_read(installation, stack_target)
    values(installation, target)
    audited = reveal(installation, LOCAL, target, RevealQuery(reveal=True))
    found = audited.result()
    assert [s.raw_value.reveal() for s in found if s.raw_value] == ["plaintext-never-in-a-repr"]
    assert audited.snapshot is not None  # a whole kept level
    cache = installation.read_cache
    assert cache is not None
    kept = cache.get((target.account.id, target.stack_id, "production"), str(target.revision))
    assert kept is not None
    for shown in (repr(audited), repr(kept), str(kept)):
        assert "plaintext-never-in-a-repr" not in shown


def test_derived_pages_count_against_the_bound() -> None:
    one = _level_of(1000)
    cache = ReadCache(max_bytes=4 * one.size)
    cache.put((1, 1, "production"), one)
    page = one.memo(("render", 1), lambda: b"x" * (2 * one.size))
    assert page == one.memo(("render", 1), lambda: b"made twice")  # made once
    assert cache.kept_bytes == 3 * one.size
    other = _level_of(1000)
    cache.put((1, 2, "production"), other)  # 4 x size: still fits
    assert cache.kept_bytes == 4 * one.size
    other.memo(("render", 1), lambda: b"y" * 10)  # over the bound: the oldest level goes
    assert cache.get((1, 1, "production"), "rev") is None
    assert cache.kept_bytes == one.size + 10
    for n in range(2, 2 + MAX_DERIVED):  # the least recently used go, their bytes given back
        other.memo(("render", n), lambda: b"z" * 100)
    assert cache.kept_bytes == one.size + MAX_DERIVED * 100  # the 10 bytes of ("render", 1) went


def test_a_derived_value_in_use_outlives_rarely_used_ones() -> None:
    level = _level_of(3)
    made: list[str] = []

    def make(name: str) -> bytes:
        made.append(name)
        return name.encode()

    for n in range(5 * MAX_DERIVED):  # the page on every request, a new purpose each time
        assert level.memo("page", lambda: make("page")) == b"page"
        level.memo(("purpose", n), lambda n=n: make(f"purpose {n}"))  # type: ignore[misc]
    assert made.count("page") == 1


def test_looking_up_a_derived_value_does_not_wait_for_one_being_made() -> None:
    import threading
    import time

    level = _level_of(3)
    started, release = threading.Event(), threading.Event()

    def slow() -> bytes:
        started.set()
        assert release.wait(10)
        return b"slow"

    maker = threading.Thread(target=level.memo, args=("slow", slow))
    maker.start()
    try:
        assert started.wait(10)
        began = time.monotonic()
        assert level.memoized("slow") is None
        assert level.memo("quick", lambda: b"quick") == b"quick"
        assert time.monotonic() - began < 1.0
    finally:
        release.set()
        maker.join(10)
    assert level.memoized("slow") == b"slow"


def test_a_level_changes_revision_once_per_transaction_and_in_every_one(
    installation: Installation, stack_target: Target
) -> None:
    """Migration 0010 (PostgreSQL): one new revision per writing transaction, however many rows
    it writes; a level created and filled in one transaction does not stay at ''."""
    assert stack_target.stack is not None
    seen = {revision(installation, stack_target)}
    for round_ in range(3):
        import_secrets(
            installation,
            LOCAL,
            stack_target,
            {f"K{round_}_{n}": SecretValue(f"v{n}") for n in range(20)},
        )
        now = revision(installation, stack_target)
        assert now not in seen
        assert now is not None
        assert not now.endswith("/")
        seen.add(now)
    # core.bulk creates a stack and writes its secrets in one transaction.
    (fresh,) = load_stacks(
        installation,
        LOCAL,
        stack_target.account.uid,
        [NewStack("fresh", "development", {f"F{n}": SecretValue(str(n)) for n in range(5)})],
    )
    filled = revision(installation, Target(stack_target.account, fresh))
    assert filled is not None
    assert not filled.endswith("/"), filled


def test_a_level_row_touched_first_in_a_transaction_still_gets_a_new_revision(
    installation: Installation, stack_target: Target
) -> None:
    """Plain-SQL maintenance that updates the stack's row, then changes its secrets, in one
    transaction: the revision must still change (0010 marks what it revised, not ``xmin``)."""
    assert stack_target.stack is not None
    put(installation, stack_target, "DB_PASSWORD", "hunter2")
    before = revision(installation, stack_target)
    with installation.store.write() as conn:
        conn.execute(
            update(stacks).where(stacks.c.id == stack_target.stack.id).values(max_versions=5)
        )
        secret_ids = select(secrets.c.id).where(secrets.c.stack_id == stack_target.stack.id)
        conn.execute(delete(secret_versions).where(secret_versions.c.secret_id.in_(secret_ids)))
        conn.execute(delete(secrets).where(secrets.c.stack_id == stack_target.stack.id))
    assert revision(installation, stack_target) != before


def test_a_value_made_twice_in_a_race_is_counted_once() -> None:
    """Two readers may make the same derived value at once (``memo`` makes outside its
    lock); the second to finish replaces the first, and the bound counts only what is kept."""
    level = _level_of(1000)
    cache = ReadCache(max_bytes=10 * level.size)
    cache.put((1, 1, "production"), level)

    def slower_maker() -> bytes:
        # Another reader makes and keeps the same page while this one is still making it.
        level.memo(("render", 1), lambda: b"a" * 300)
        return b"b" * 200

    assert level.memo(("render", 1), slower_maker) == b"b" * 200
    assert level.memoized(("render", 1)) == b"b" * 200
    assert cache.kept_bytes == level.size + 200


def test_a_replaced_level_charges_nothing_for_what_it_derives_later() -> None:
    """A reader still holding a level the cache has replaced may derive from it; those bytes
    are not kept by the cache, so they do not count against its bound."""
    old, new = _level_of(1000), _level_of(1000)
    cache = ReadCache(max_bytes=3 * old.size)
    cache.put((1, 1, "production"), old)
    cache.put((1, 1, "production"), new)  # the level changed: the new opening replaces it
    assert cache.kept_bytes == new.size
    old.memo(("render", 1), lambda: b"x" * (2 * old.size))
    assert cache.kept_bytes == new.size
    assert cache.get((1, 1, "production"), "rev") is new
