"""Data-key rotation on SQLite and PostgreSQL: every stored value re-encrypted under a fresh data
key of its scope, history and rollback unchanged, old keys deleted, tampering still caught,
interruptions resumed, readers and writers served throughout."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, update

from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.audit_events import list_events
from stacksafe.core.data_key_rotation import rotate_data_keys
from stacksafe.core.data_keys import scope_keys
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.installation import Installation, initialise, open_installation
from stacksafe.core.master_key_rotation import key_status, rotate_master_key
from stacksafe.core.secrets import (
    get_secret,
    import_secrets,
    list_secrets,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_account, create_stack, resolve_target
from stacksafe.core.versions import destroy_version, history, rollback_key
from stacksafe.crypto import DataKey, Envelope, Scope
from stacksafe.crypto.format import HEADER_SIZE
from stacksafe.errors import Forbidden, IntegrityError
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store import secrets as secret_queries
from stacksafe.store.schema import accounts, data_keys, secret_versions, secrets, stacks
from tests.actors import LOCAL
from tests.core.helpers_access import make_user
from tests.postgres import Cluster

STACKS = ("s0", "s1", "s2")


def seed(installation: Installation, account: Target) -> dict[str, Target]:
    """Three stacks and the account level, several versions each, a deletion and a destroyed
    version; returns the targets by name ("acme" for the account level)."""
    targets = {"acme": account}
    for name in STACKS:
        targets[name] = Target(
            account.account, create_stack(installation, LOCAL, "acme", name, "qa")
        )
    for name, target in targets.items():
        for n in range(3):
            set_secret(installation, LOCAL, target, "A", SecretValue(f"A{n} of {name}"))
        set_secret(installation, LOCAL, target, "B", SecretValue(f"B of {name}"))
        set_secret(installation, LOCAL, target, "GONE", SecretValue(f"gone of {name}"))
        unset_secret(installation, LOCAL, target, "GONE")
    destroy_version(installation, LOCAL, targets["s0"], "A", 1)
    return targets


def histories(
    installation: Installation, targets: dict[str, Target]
) -> dict[tuple[str, str], list[object]]:
    """Every version of every key, as (version, action, value or None, destroyed)."""
    found: dict[tuple[str, str], list[object]] = {}
    for name, target in targets.items():
        for key in ("A", "B", "GONE"):
            found[(name, key)] = [
                (
                    e.version,
                    e.action,
                    None if e.raw_value is None else e.raw_value.reveal(),
                    e.destroyed_at is not None,
                )
                for e in history(installation, LOCAL, target, key, reveal=True)
            ]
    return found


def stored(installation: Installation) -> dict[int, bytes | None]:
    """Every version row's envelope by row id."""
    with installation.store.read() as conn:
        rows = conn.execute(select(secret_versions.c.id, secret_versions.c.envelope))
        return {i: None if e is None else bytes(e) for i, e in rows}


def keys_by_scope(
    installation: Installation,
) -> dict[tuple[str, str | None], list[tuple[int, bytes, int]]]:
    """(version, wrapped key, master-key version) of every data key, by (account, stack) uid."""
    with installation.store.read() as conn:
        rows = conn.execute(
            select(
                accounts.c.uid,
                stacks.c.uid,
                data_keys.c.version,
                data_keys.c.wrapped_key,
                data_keys.c.master_key_version,
            )
            .join(accounts, accounts.c.id == data_keys.c.account_id)
            .outerjoin(stacks, stacks.c.id == data_keys.c.stack_id)
            .order_by(data_keys.c.version)
        )
        found: dict[tuple[str, str | None], list[tuple[int, bytes, int]]] = {}
        for a, s, v, w, mk in rows:
            found.setdefault((a, s), []).append((int(v), bytes(w), int(mk)))
        return found


def sealed_rows(installation: Installation) -> list[tuple[str, str | None, str, int, bytes]]:
    """(account uid, stack uid, key, version, envelope) of every stored value."""
    with installation.store.read() as conn:
        rows = conn.execute(
            select(
                accounts.c.uid,
                stacks.c.uid,
                secrets.c.key,
                secret_versions.c.version,
                secret_versions.c.envelope,
            )
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .join(accounts, accounts.c.id == secrets.c.account_id)
            .outerjoin(stacks, stacks.c.id == secrets.c.stack_id)
            .where(secret_versions.c.envelope.is_not(None))
        )
        return [(a, s, k, int(v), bytes(e)) for a, s, k, v, e in rows]


def headers_by_scope(installation: Installation) -> dict[tuple[str, str | None], set[int]]:
    """The data-key versions stored envelopes name, by scope."""
    found: dict[tuple[str, str | None], set[int]] = {}
    for a, s, _key, _version, envelope in sealed_rows(installation):
        found.setdefault((a, s), set()).add(Envelope.from_bytes(envelope).data_key_version)
    return found


def current(installation: Installation, targets: dict[str, Target]) -> dict[tuple[str, str], str]:
    return {
        (name, s.key): s.raw_value.reveal()
        for name, target in targets.items()
        for s in list_secrets(installation, LOCAL, target, reveal=True)
        if s.raw_value is not None and not (s.inherited and target.stack is not None)
    }


def test_every_value_is_resealed_under_a_fresh_key_and_reads_the_same(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    before_values = current(installation, targets)
    before_history = histories(installation, targets)
    before_rows = stored(installation)
    before_keys = keys_by_scope(installation)
    assert {s: [v for v, *_ in k] for s, k in before_keys.items()} == {s: [1] for s in before_keys}

    report = rotate_data_keys(installation, LOCAL)

    live = [i for i, e in before_rows.items() if e is not None]
    assert (report.scopes, report.resumed, report.resealed, report.deleted) == (4, 0, len(live), 4)
    after_rows = stored(installation)
    assert after_rows.keys() == before_rows.keys()
    for row_id, envelope in before_rows.items():
        if envelope is None:  # tombstones and destroyed versions stay empty
            assert after_rows[row_id] is None
        else:
            assert after_rows[row_id] is not None
            assert after_rows[row_id] != envelope
    # Each scope now holds only its fresh key, version 2, and every envelope names it.
    after_keys = keys_by_scope(installation)
    assert {s: [v for v, *_ in k] for s, k in after_keys.items()} == {s: [2] for s in before_keys}
    assert headers_by_scope(installation) == {s: {2} for s in before_keys}
    assert key_status(installation).retired_data_keys == 0
    # Values, history (versions, actions, values, destroyed marks) read exactly as before.
    assert current(installation, targets) == before_values
    assert histories(installation, targets) == before_history
    # Rollback still restores an old version's value, as a new version.
    assert rollback_key(installation, LOCAL, targets["s1"], "A", 1) == 4
    found = get_secret(installation, LOCAL, targets["s1"], "A", reveal=True).raw_value
    assert found == SecretValue("A0 of s1")
    # A fresh process reads everything too, and the audit chain holds.
    fresh = open_installation(settings)
    try:
        assert current(fresh, targets) == {**before_values, ("s1", "A"): "A0 of s1"}
        assert verify_chain(fresh).intact
    finally:
        fresh.close()


def test_old_data_keys_open_nothing_and_the_audit_holds_no_value(
    installation: Installation, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    old = keys_by_scope(installation)
    values = current(installation, targets)

    rotate_data_keys(installation, LOCAL)

    keyring = installation.data_keys.keyring
    rows = sealed_rows(installation)
    assert rows
    for account_uid, stack_uid, key, version, envelope in rows:
        # Someone holding an old data key (here: unwrapped from a copy of its old row) cannot
        # open a re-sealed value, even by relabelling its header with the old version.
        scope = Scope(account_uid, stack_uid)
        old_version, wrapped, mk = old[(account_uid, stack_uid)][0]
        material = keyring.unwrap(mk, wrapped, scope.data_key_aad(old_version, mk))
        leaked = DataKey(old_version, material)
        blob = envelope
        relabelled = Envelope.header_for(old_version) + blob[HEADER_SIZE:]
        for attempt in (blob, relabelled):
            with pytest.raises(IntegrityError):
                leaked.open_stored(attempt, scope, key, version)
    events = list_events(installation, limit=500)
    actions = [e.action for e in events]
    assert actions.count("key.data_keys.retire") == 4
    assert actions.count("key.data_keys.delete") == 4
    assert actions.count("key.data_keys.reseal") >= 4
    dumped = json.dumps([e.to_json() for e in events if e.action.startswith("key.")])
    assert not any(value in dumped for value in values.values())
    assert "gone of" not in dumped


def test_a_tampered_value_stops_the_run_and_is_not_laundered(
    installation: Installation, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    with installation.store.read() as conn:
        row_id, envelope = conn.execute(
            select(secret_versions.c.id, secret_versions.c.envelope)
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(secrets.c.key == "B", secrets.c.stack_id == targets["s1"].stack_id)
        ).one()
    flipped = bytearray(envelope)
    flipped[-1] ^= 1
    with installation.store.write() as conn:
        conn.execute(
            update(secret_versions)
            .where(secret_versions.c.id == row_id)
            .values(envelope=bytes(flipped))
        )

    with pytest.raises(IntegrityError, match=r"'B'.*failed authentication"):
        rotate_data_keys(installation, LOCAL, stack="s1")

    assert stored(installation)[row_id] == bytes(flipped)  # left as it was: still detectable
    with pytest.raises(IntegrityError):
        get_secret(installation, LOCAL, targets["s1"], "B", reveal=True)
    # A value re-sealed by a finished run is authenticated like any other.
    rotate_data_keys(installation, LOCAL, stack="s2")
    with installation.store.read() as conn:
        row_id, envelope = conn.execute(
            select(secret_versions.c.id, secret_versions.c.envelope)
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(secrets.c.key == "B", secrets.c.stack_id == targets["s2"].stack_id)
        ).one()
    assert Envelope.from_bytes(bytes(envelope)).data_key_version == 2
    moved = bytearray(envelope)
    moved[HEADER_SIZE + 3] ^= 1  # the nonce
    with installation.store.write() as conn:
        conn.execute(
            update(secret_versions)
            .where(secret_versions.c.id == row_id)
            .values(envelope=bytes(moved))
        )
    with pytest.raises(IntegrityError):
        get_secret(installation, LOCAL, targets["s2"], "B", reveal=True)


def test_an_interrupted_run_resumes_without_retiring_again(
    installation: Installation, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    values = current(installation, targets)
    calls: list[tuple[int, int]] = []

    def crash_after_first_batch(done: int, total: int) -> None:
        calls.append((done, total))
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_data_keys(installation, LOCAL, batch=2, progress=crash_after_first_batch)
    assert calls[-1][0] == 2
    assert key_status(installation).retired_data_keys == 4
    halfway = headers_by_scope(installation)
    account_scope = (account_target.account.uid, None)
    assert halfway[account_scope] == {1, 2}  # the first batch: 2 of the account's 5 values
    assert all(v == {1} for s, v in halfway.items() if s != account_scope)
    assert current(installation, targets) == values  # readable halfway: old keys are kept till done
    # A write meanwhile seals under the fresh key, not a retired one.
    set_secret(installation, LOCAL, targets["s2"], "NEW", SecretValue("written halfway"))

    report = rotate_data_keys(installation, LOCAL)

    assert (report.scopes, report.resumed, report.deleted) == (4, 4, 4)
    # Resumed, not started over: every scope still has version 2 only, nothing retired again.
    assert {s: [v for v, *_ in k] for s, k in keys_by_scope(installation).items()} == {
        s: [2] for s in halfway
    }
    assert headers_by_scope(installation) == {s: {2} for s in halfway}
    assert key_status(installation).retired_data_keys == 0
    assert current(installation, targets) == {**values, ("s2", "NEW"): "written halfway"}
    # A later run is a new rotation: version 3 everywhere.
    assert rotate_data_keys(installation, LOCAL).resumed == 0
    assert headers_by_scope(installation) == {s: {3} for s in halfway}


def test_a_resumed_run_also_retires_the_scopes_the_first_run_never_reached(
    installation: Installation, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    values = current(installation, targets)
    with pytest.raises(KeyboardInterrupt):
        rotate_data_keys(installation, LOCAL, stack="s0", progress=_interrupt_at_once)
    assert key_status(installation).retired_data_keys == 1

    report = rotate_data_keys(installation, LOCAL)

    assert (report.scopes, report.resumed) == (4, 1)
    assert set(map(frozenset, headers_by_scope(installation).values())) == {frozenset({2})}
    assert current(installation, targets) == values


def _interrupt_at_once(done: int, total: int) -> None:
    raise KeyboardInterrupt


def test_only_the_named_scopes_are_rotated(
    installation: Installation, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    stack_uid = targets["s1"].stack.uid if targets["s1"].stack else None
    other = Target(create_account(installation, LOCAL, "other"))
    set_secret(installation, LOCAL, other, "X", SecretValue("x"))

    rotate_data_keys(installation, LOCAL, account="acme", stack="s1")
    headers = headers_by_scope(installation)
    account_uid = account_target.account.uid
    assert headers[(account_uid, stack_uid)] == {2}
    assert all(v == {1} for s, v in headers.items() if s != (account_uid, stack_uid))
    assert len(headers) == 5

    rotate_data_keys(installation, LOCAL, account="acme")  # the account level and all its stacks
    headers = headers_by_scope(installation)
    assert headers[(account_uid, stack_uid)] == {3}
    assert headers[(account_uid, None)] == {2}
    assert headers[(other.account.uid, None)] == {1}


def test_only_the_owner_rotates_data_keys(
    installation: Installation, account_target: Target
) -> None:
    seed(installation, account_target)
    admin = make_user(installation, "admin@example.com", "acme", "administrator")
    before = stored(installation)
    with pytest.raises(Forbidden, match="owner"):
        rotate_data_keys(installation, admin)
    assert stored(installation) == before


def test_resealing_respects_the_data_key_seal_limit(
    installation: Installation, account_target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = seed(installation, account_target)
    values = current(installation, targets)
    monkeypatch.setattr("stacksafe.core.data_keys.DATA_KEY_SEAL_LIMIT", 3)

    rotate_data_keys(installation, LOCAL, stack="s1", batch=2)

    # s1 holds 5 stored values (A1-A3, B1, GONE1) re-sealed in batches of 2, 2 and 1: the
    # second batch would take the fresh key to 4 seals, so it rolls over to version 3.
    with installation.store.read() as conn:
        counts = conn.execute(
            select(data_keys.c.version, data_keys.c.seal_count)
            .where(data_keys.c.stack_id == targets["s1"].stack_id)
            .order_by(data_keys.c.version)
        ).all()
    assert [tuple(c) for c in counts] == [(2, 2), (3, 3)]
    assert current(installation, targets) == values


def test_readers_and_writers_are_served_during_the_rewrite(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    values = current(installation, targets)
    server = open_installation(settings)  # another process's view: its own caches, warmed now
    assert current(server, targets) == values
    stop = threading.Event()

    def keep_serving(n: int) -> int:
        done = 0
        target = targets[STACKS[n % len(STACKS)]]
        while not stop.is_set() or done < 3:
            set_secret(server, LOCAL, target, f"LIVE{n}", SecretValue(f"live {done}"))
            got = get_secret(server, LOCAL, target, f"LIVE{n}", reveal=True).raw_value
            assert got == SecretValue(f"live {done}")
            assert current(server, targets).items() >= values.items()
            done += 1
        return done

    try:
        with ThreadPoolExecutor(3) as pool:
            workers = [pool.submit(keep_serving, n) for n in range(3)]
            report = rotate_data_keys(installation, LOCAL, batch=1)
            stop.set()
            served = [w.result(timeout=120) for w in workers]
    finally:
        server.close()
    assert all(n >= 3 for n in served)
    assert report.resealed >= 19  # the seeded values; live writes may have added some
    newest = {s: max(v for v, *_ in keys) for s, keys in keys_by_scope(installation).items()}
    assert headers_by_scope(installation) == {s: {newest[s]} for s in newest}
    assert key_status(installation).retired_data_keys == 0


def test_caches_never_serve_a_stale_key_or_fingerprint(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    values = current(installation, targets)
    server = open_installation(settings)
    try:
        # Warm the server's data-key cache and its fingerprint memo (keyed by seal tail).
        assert current(server, targets) == values
        tails_before = set(server.sealed_fingerprints)
        assert tails_before

        rotate_data_keys(installation, LOCAL)

        assert current(server, targets) == values
        event = list_events(server, limit=1)[0]
        assert event.action == "reveal"
        target = targets[STACKS[-1]]
        expected = {
            key: fingerprint(server, SecretValue(value))
            for (name, key), value in values.items()
            if name == STACKS[-1]
        }
        assert event.detail["fingerprints"] == expected
        assert event.stack_uid == (target.stack.uid if target.stack else None)
        # Every re-sealed value has a new seal, so a new memo entry: nothing was looked up
        # under the old seals, and the memo could not have answered for a new one.
        tails_after = set(server.sealed_fingerprints) - tails_before
        assert len(tails_after) == len(tails_before)
    finally:
        server.close()


def test_master_key_rotation_after_a_data_key_rotation(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    targets = seed(installation, account_target)
    values = current(installation, targets)
    rotate_data_keys(installation, LOCAL)
    rotate_master_key(installation, LOCAL, settings)
    assert key_status(installation).remaining == 0
    rotate_data_keys(installation, LOCAL)
    assert {mk for keys in keys_by_scope(installation).values() for _v, _w, mk in keys} == {2}
    assert current(installation, targets) == values


def test_a_read_under_way_sees_the_values_and_keys_of_one_moment(
    installation: Installation, account_target: Target
) -> None:
    """A read that fetched envelopes before a whole run committed still finds their data keys:
    each read transaction is one snapshot, on PostgreSQL too (not READ COMMITTED)."""
    targets = seed(installation, account_target)
    target = targets["s1"]
    values = {k: v for (name, k), v in current(installation, targets).items() if name == "s1"}
    with installation.store.read() as conn:
        rows = secret_queries.scope_secrets(conn, target.account.id, target.stack_id)
        rotate_data_keys(installation, LOCAL)  # retire, re-seal, delete: all committed meanwhile
        keys = scope_keys(conn, installation, target)[True]
        opened = {r.key: keys.open(r.envelope, r.key, r.version).decode() for r in rows}
    assert opened == values
    assert {Envelope.from_bytes(r.envelope).data_key_version for r in rows} == {1}
    assert headers_by_scope(installation)[target.scope.account_uid, target.scope.stack_uid] == {2}


def test_a_secret_rotation_in_progress_keeps_its_pending_value(
    installation: Installation, stack_target: Target
) -> None:
    """A webhook rotation's pending value (sealed under the old key, not yet a version) is
    re-sealed too: it becomes current after the data-key rotation and reads back."""
    from stacksafe.core.rotation import labelled_secret, rotate_secret, set_policy
    from tests.core.test_rotation import allow_loopback, receiver

    allow_loopback(installation)
    set_secret(installation, LOCAL, stack_target, "API_KEY", SecretValue("original"))
    set_secret(installation, LOCAL, stack_target, "HOOK_KEY", SecretValue("signing-key"))
    during: list[tuple[str, int]] = []
    with receiver() as hook:
        set_policy(
            installation,
            LOCAL,
            stack_target,
            "API_KEY",
            rotator="webhook",
            config={"url": hook.url, "signing_key": "HOOK_KEY"},
        )

        def rotate_data_keys_meanwhile(event: dict[str, object]) -> None:
            pending = labelled_secret(
                installation, LOCAL, stack_target, "API_KEY", "pending", reveal=True
            )
            assert pending.raw_value is not None
            during.append(
                (pending.raw_value.reveal(), rotate_data_keys(installation, LOCAL).resealed)
            )

        hook.on_call = rotate_data_keys_meanwhile
        done = rotate_secret(installation, LOCAL, stack_target, "API_KEY")

    ((pending_value, resealed),) = during
    assert resealed == 3  # API_KEY 1, HOOK_KEY 1 and the pending API_KEY 2
    assert (done.outcome, done.version) == ("rotated", 2)
    found = get_secret(installation, LOCAL, stack_target, "API_KEY", reveal=True).raw_value
    assert found == SecretValue(pending_value)
    scope = (stack_target.account.uid, stack_target.stack.uid if stack_target.stack else None)
    assert headers_by_scope(installation)[scope] == {2}
    assert [v for v, *_ in keys_by_scope(installation)[scope]] == [2]


def test_a_run_after_an_interrupted_one_rotates_scopes_made_since(
    installation: Installation, account_target: Target
) -> None:
    seed(installation, account_target)
    with pytest.raises(KeyboardInterrupt):
        rotate_data_keys(installation, LOCAL, stack="s0", progress=_interrupt_at_once)
    later = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "later", "staging")
    )
    set_secret(installation, LOCAL, later, "K", SecretValue("made after the interruption"))
    later_scope = (account_target.account.uid, later.stack.uid)  # type: ignore[union-attr]
    assert headers_by_scope(installation)[later_scope] == {1}

    report = rotate_data_keys(installation, LOCAL)

    assert (report.scopes, report.resumed) == (5, 1)
    assert headers_by_scope(installation)[later_scope] == {2}  # not skipped as "newer than the cut"
    assert key_status(installation).retired_data_keys == 0


def test_value_reading_writes_on_postgresql_see_one_snapshot_during_a_rotation(
    pg_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An import reads the stored values, then their data keys; a data-key rotation that
    commits in between must not make it fail as if a value were tampered with."""
    import stacksafe.core.data_keys as data_keys
    import stacksafe.core.level_reads as secrets_module

    url = pg_cluster.create_database("reseal_snapshot_write")
    installation, _ = initialise(Settings.load({"STACKSAFE_DATABASE_URL": url}, data_dir=tmp_path))
    try:
        create_account(installation, LOCAL, "acme")
        create_stack(installation, LOCAL, "acme", "web", "qa")
        web = resolve_target(installation, account="acme", stack="web")
        set_secret(installation, LOCAL, web, "A", SecretValue("a1"))
        original = data_keys.scope_keys
        rotations: list[object] = []

        def rotate_in_between(conn: object, installation_: Installation, target: Target) -> object:
            if not rotations:  # between reading the values and reading their keys
                rotations.append(rotate_data_keys(installation, LOCAL, stack="web"))
            return original(conn, installation_, target)  # type: ignore[arg-type]

        monkeypatch.setattr(secrets_module, "scope_keys", rotate_in_between)
        report = import_secrets(
            installation, LOCAL, web, {"A": SecretValue("a2"), "B": SecretValue("b")}
        )
        assert (report.changed, report.added) == (["A"], ["B"])
        assert len(rotations) == 1
        monkeypatch.undo()
        revealed = {s.key: s.raw_value for s in list_secrets(installation, LOCAL, web, reveal=True)}
        assert revealed == {"A": SecretValue("a2"), "B": SecretValue("b")}
    finally:
        installation.close()
        pg_cluster.drop_database("reseal_snapshot_write")
