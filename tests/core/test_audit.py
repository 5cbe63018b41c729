"""The hash-chained audit log: one event per reveal and change, never a value, tamper-evident,
gap-free under concurrent appenders, and searchable (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets as random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update

from stacksafe.core.access import Principal
from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.audit_events import list_events
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.principals import authenticate, create_token, create_user
from stacksafe.core.secrets import (
    effective_values,
    get_secret,
    import_secrets,
    list_secrets,
    set_secret,
    unset_secret,
)
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.errors import Forbidden, NotFound
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import audit_details, audit_events, audit_head
from tests.actors import LOCAL
from tests.core.helpers_access import (
    Event,
    build_world,
    events_after,
    last_seq,
    make_user,
    module_installation,
)


def put(installation: Installation, actor: Principal, target: Target, key: str, value: str) -> None:
    set_secret(installation, actor, target, key, SecretValue(value))


def one_event(installation: Installation, call: Callable[[], object]) -> tuple[object, Event]:
    """Run ``call``; it must append exactly one event, which is returned with its result."""
    seq = last_seq(installation)
    result = call()
    events = events_after(installation, seq)
    assert len(events) == 1, events
    return result, events[0]


def no_event(installation: Installation, call: Callable[[], object]) -> object:
    seq = last_seq(installation)
    result = call()
    assert events_after(installation, seq) == []
    return result


# --- One event per operation, naming keys and versions -------------------------------------


def test_every_reveal_and_change_is_one_event_naming_keys_and_versions(
    installation: Installation, stack_target: Target, account_target: Target
) -> None:
    create_user(installation, LOCAL, "alice@example.com", "acme", "administrator")
    token = create_token(installation, LOCAL, "alice@example.com", scopes=["public", "admin"])
    alice = authenticate(installation, token.token, source_ip="203.0.113.7", request_id="req-42")

    def fp(value: str) -> str:
        return fingerprint(installation, SecretValue(value))

    acme_uid = account_target.account.uid
    assert stack_target.stack is not None
    web_uid = stack_target.stack.uid

    _, e = one_event(
        installation, lambda: put(installation, alice, account_target, "SHARED", "shared-1")
    )
    assert (e.action, e.outcome, e.actor) == ("secret.set", "ok", "alice@example.com")
    assert (e.account_uid, e.stack_uid) == (acme_uid, None)
    assert e.detail == {"keys": {"SHARED": 1}, "fingerprints": {"SHARED": fp("shared-1")}}
    _, e = one_event(
        installation, lambda: put(installation, alice, account_target, "SHARED", "shared-2")
    )
    assert e.detail["keys"] == {"SHARED": 2}
    with installation.store.read() as conn:
        row = conn.execute(select(audit_events).where(audit_events.c.seq == e.seq)).one()
    assert (row.token_uid, row.source_ip, row.request_id) == (token.uid, "203.0.113.7", "req-42")

    for key in ("S1", "S2"):
        _, e = one_event(
            installation, partial(put, installation, alice, stack_target, key, f"{key}-v1")
        )
        assert (e.action, e.stack_uid, e.detail["keys"]) == ("secret.set", web_uid, {key: 1})

    entries = {"S1": "S1-v1", "S2": "S2-v2", "S3": "S3-v1"}  # S1 unchanged
    report, e = one_event(
        installation,
        lambda: import_secrets(
            installation, alice, stack_target, {k: SecretValue(v) for k, v in entries.items()}
        ),
    )
    assert (report.added, report.changed, report.unchanged) == (["S3"], ["S2"], ["S1"])  # type: ignore[attr-defined]
    assert e.action == "secret.import"
    assert e.detail == {
        "keys": {"S2": 2, "S3": 1},
        "fingerprints": {"S2": fp("S2-v2"), "S3": fp("S3-v1")},
    }

    _, e = one_event(
        installation, lambda: get_secret(installation, alice, stack_target, "S2", reveal=True)
    )
    assert (e.action, e.stack_uid) == ("reveal", web_uid)
    assert e.detail == {"keys": {"S2": 2}, "fingerprints": {"S2": fp("S2-v2")}, "purpose": "get"}

    # A reveal of the whole stack (own and inherited) is ONE event naming all of them.
    found, e = one_event(
        installation, lambda: list_secrets(installation, alice, stack_target, reveal=True)
    )
    assert len(found) == 4  # type: ignore[arg-type]
    assert e.detail["keys"] == {"SHARED": 2, "S1": 1, "S2": 2, "S3": 1}
    assert e.detail["fingerprints"] == {
        "SHARED": fp("shared-2"),
        "S1": fp("S1-v1"),
        "S2": fp("S2-v2"),
        "S3": fp("S3-v1"),
    }
    assert e.detail["purpose"] == "list"
    _, e = one_event(
        installation, lambda: effective_values(installation, alice, stack_target, "run make")
    )
    assert (e.detail["purpose"], len(e.detail["keys"])) == ("run make", 4)

    _, e = one_event(installation, lambda: unset_secret(installation, alice, stack_target, "S3"))
    assert (e.action, e.detail) == ("secret.unset", {"keys": {"S3": 2}})

    # Describing is not revealing: no event.
    no_event(installation, lambda: list_secrets(installation, alice, stack_target))
    no_event(installation, lambda: get_secret(installation, alice, stack_target, "S1"))


def test_a_denied_attempt_is_one_denied_event(
    installation: Installation, stack_target: Target
) -> None:
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")
    seq = last_seq(installation)
    with pytest.raises(Forbidden) as caught:
        put(installation, viewer, stack_target, "K", "value-never-stored")
    [event] = events_after(installation, seq)
    assert (event.action, event.outcome, event.actor) == (
        "write_stack_secrets",
        "denied",
        "viewer@example.com",
    )
    assert event.detail == {"key": "K", "reason": caught.value.message}
    assert verify_chain(installation).intact


# --- Never a value; fingerprints are keyed and consistent ----------------------------------


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        hashlib.sha256(raw).hexdigest()[:32],  # an unkeyed hash would be a dictionary
    ]


def _audit_text(installation: Installation) -> str:
    parts: list[str] = []
    with installation.store.read() as conn:
        for table in (audit_events, audit_details, audit_head):
            for row in conn.execute(select(table)):
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        parts += [bytes(cell).decode("latin-1"), bytes(cell).hex()]
                    else:
                        parts.append(str(cell))
    return "\n".join(parts)


def test_the_audit_log_never_holds_a_value(
    installation: Installation, stack_target: Target, account_target: Target
) -> None:
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")
    values = {f"K{n}": f"pw-{random.token_urlsafe(12)}" for n in range(12)}
    for n, (key, value) in enumerate(values.items()):
        put(installation, LOCAL, account_target if n % 3 == 0 else stack_target, key, value)
    extra = {"IMPORTED": SecretValue(f"imp-{random.token_hex(10)}")}
    import_secrets(installation, LOCAL, stack_target, extra)
    list_secrets(installation, LOCAL, stack_target, reveal=True)
    get_secret(installation, LOCAL, stack_target, "K1", reveal=True)
    effective_values(installation, LOCAL, stack_target)
    unset_secret(installation, LOCAL, stack_target, "K1")
    refused = f"refused-{random.token_hex(10)}"
    with pytest.raises(Forbidden):
        put(installation, viewer, stack_target, "K2", refused)
    assert last_seq(installation) > len(values) + 5

    text = _audit_text(installation)
    for value in [*values.values(), extra["IMPORTED"].reveal(), refused]:
        for form in _forms(value):
            assert form not in text
    # ...but every value's keyed fingerprint is there.
    for value in values.values():
        assert fingerprint(installation, SecretValue(value)) in text


def test_fingerprints_are_equal_for_equal_values_and_differ_otherwise(
    installation: Installation, stack_target: Target, account_target: Target
) -> None:
    prints = {}
    for key, target, value in [
        ("A", stack_target, "same-value"),
        ("B", account_target, "same-value"),
        ("C", stack_target, "other-value"),
        ("D", stack_target, "same-valuf"),
    ]:
        _, event = one_event(installation, partial(put, installation, LOCAL, target, key, value))
        prints[key] = event.detail["fingerprints"][key]
    assert prints["A"] == prints["B"] == fingerprint(installation, SecretValue("same-value"))
    assert len({prints["A"], prints["C"], prints["D"]}) == 3
    assert all(len(p) == 32 and int(p, 16) >= 0 for p in prints.values())
    _, reveal = one_event(
        installation, lambda: get_secret(installation, LOCAL, stack_target, "A", reveal=True)
    )
    assert reveal.detail["fingerprints"] == {"A": prints["A"]}


# --- The chain: intact after many operations, every kind of tampering named ----------------


def _many_operations(installation: Installation) -> None:
    w = build_world(installation)
    dev = make_user(installation, "dev@example.com", "acme", "developer")
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer", {"web": "deployer"})
    for n in range(6):
        put(installation, dev, w.web, f"LOOP{n % 3}", f"loop-{n}")
        list_secrets(installation, viewer, w.web, reveal=True)
        with pytest.raises(Forbidden):
            list_secrets(installation, viewer, w.api, reveal=True)
        with pytest.raises(NotFound):
            put(installation, dev, w.shop, "X", "y")
    import_secrets(installation, dev, w.api, {"I1": SecretValue("1"), "I2": SecretValue("2")})
    unset_secret(installation, dev, w.web, "LOOP0")
    create_stack(installation, LOCAL, "globex", "cart", "qa")


def test_chain_is_intact_after_many_operations(installation: Installation) -> None:
    _many_operations(installation)
    report = verify_chain(installation)
    seq = last_seq(installation)
    assert seq > 40
    assert (report.intact, report.events, report.first_bad_seq, report.problem) == (
        True,
        seq,
        None,
        None,
    )
    with installation.store.read() as conn:
        seqs = list(conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq)).scalars())
        head = conn.execute(select(audit_head)).one()
        last_hash = conn.execute(
            select(audit_events.c.hash).where(audit_events.c.seq == seq)
        ).scalar_one()
    assert seqs == list(range(1, seq + 1))
    assert (head.seq, bytes(head.hash)) == (seq, bytes(last_hash))


def _row(installation: Installation, seq: int) -> dict[str, Any]:
    with installation.store.read() as conn:
        return dict(
            conn.execute(select(audit_events).where(audit_events.c.seq == seq)).one()._mapping
        )


def _write(installation: Installation, *statements: Any) -> None:
    with installation.store.write() as conn:
        for statement in statements:
            conn.execute(statement)


def _by_seq(seq: int) -> Any:
    return audit_events.c.seq == seq


K = 5  # the event tampered with; the log holds more than K + 3 events


@dataclass(frozen=True)
class Chain:
    installation: Installation
    last: int  # the last event's seq


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def chain_installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    with module_installation(request, tmp_path_factory, request.param) as installation:
        account = create_account(installation, LOCAL, "acme")
        target = Target(account, create_stack(installation, LOCAL, "acme", "web", "production"))
        for n in range(8):
            put(installation, LOCAL, target, f"K{n % 3}", f"value-{n}")
        yield installation


@pytest.fixture
def chain(chain_installation: Installation) -> Iterator[Chain]:
    """An intact log to tamper with; restored (and intact again) after each test."""
    installation = chain_installation
    report = verify_chain(installation)
    assert report.intact
    assert report.events == last_seq(installation) > K + 3
    with installation.store.read() as conn:
        events = [dict(r._mapping) for r in conn.execute(select(audit_events))]
        head = [dict(r._mapping) for r in conn.execute(select(audit_head))]
    yield Chain(installation, report.events)
    _write(installation, delete(audit_events), delete(audit_head))
    _write(installation, insert(audit_events).values(events), insert(audit_head).values(head))
    assert verify_chain(installation) == report


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("actor", lambda v: "mallory@example.com"),
        ("outcome", lambda v: "denied"),
        ("action", lambda v: "secret.unset"),
        ("detail", lambda v: v.replace('"K', '"X')),
        ("at", lambda v: v + timedelta(microseconds=1)),
        ("account_uid", lambda v: None),
        ("token_uid", lambda v: "tok_0000000000000000"),
        ("prev_hash", lambda v: bytes(32)),
        ("hash", lambda v: bytes(reversed(v))),
    ],
)
def test_an_edited_field_names_that_event(
    chain: Chain, column: str, change: Callable[[Any], Any]
) -> None:
    installation = chain.installation
    original = _row(installation, K)[column]
    changed = change(original)
    assert changed != original
    _write(installation, update(audit_events).where(_by_seq(K)).values({column: changed}))
    report = verify_chain(installation)
    assert (report.intact, report.first_bad_seq) == (False, K), report
    assert report.events == K - 1


def test_a_deleted_event_is_named(chain: Chain) -> None:
    _write(chain.installation, delete(audit_events).where(_by_seq(K)))
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq, report.events) == (False, K, K - 1)
    assert report.problem == f"event {K} is missing (next is {K + 1})"


def test_a_deleted_first_event_is_named(chain: Chain) -> None:
    _write(chain.installation, delete(audit_events).where(_by_seq(1)))
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, 1)


def test_a_deleted_last_event_is_named_through_the_head(chain: Chain) -> None:
    _write(chain.installation, delete(audit_events).where(_by_seq(chain.last)))
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, chain.last)
    assert report.events == chain.last - 1


def test_a_deleted_head_row_breaks_the_chain(chain: Chain) -> None:
    _write(chain.installation, delete(audit_head))
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, 1)


@pytest.mark.parametrize("move_head", [False, True])
def test_a_forged_event_appended_is_named(chain: Chain, move_head: bool) -> None:
    newest = _row(chain.installation, chain.last)
    forged = {
        **newest,
        "seq": chain.last + 1,
        "actor": "mallory@example.com",
        "prev_hash": newest["hash"],
        "hash": hashlib.sha256(newest["hash"]).digest(),
    }
    statements: list[Any] = [insert(audit_events).values(**forged)]
    if move_head:
        statements.append(update(audit_head).values(seq=chain.last + 1, hash=forged["hash"]))
    _write(chain.installation, *statements)
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, chain.last + 1)


def test_a_replayed_event_appended_is_named(chain: Chain) -> None:
    """A copy of a valid event (same hash) re-appended after the last one."""
    copied = _row(chain.installation, K)
    newest = _row(chain.installation, chain.last)
    replay = {**copied, "seq": chain.last + 1, "prev_hash": newest["hash"]}
    _write(
        chain.installation,
        insert(audit_events).values(**replay),
        update(audit_head).values(seq=chain.last + 1, hash=copied["hash"]),
    )
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, chain.last + 1)


def test_a_forged_event_inserted_in_the_middle_is_named(chain: Chain) -> None:
    rows = [_row(chain.installation, seq) for seq in range(K, chain.last + 1)]
    forged = {**rows[0], "actor": "mallory@example.com", "hash": bytes(32)}
    statements: list[Any] = [delete(audit_events).where(audit_events.c.seq >= K)]
    statements.append(insert(audit_events).values(**forged))
    statements += [insert(audit_events).values(**{**r, "seq": r["seq"] + 1}) for r in rows]
    statements.append(update(audit_head).values(seq=chain.last + 1))
    _write(chain.installation, *statements)
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, K)


def test_reordered_events_are_named(chain: Chain) -> None:
    later = K + 2
    _write(
        chain.installation,
        update(audit_events).where(_by_seq(K)).values(seq=-1),
        update(audit_events).where(_by_seq(later)).values(seq=K),
        update(audit_events).where(_by_seq(-1)).values(seq=later),
    )
    report = verify_chain(chain.installation)
    assert (report.intact, report.first_bad_seq) == (False, K)
    assert report.problem == f"event {K} does not follow event {K - 1}"


def test_a_deleted_tail_with_a_rewound_head_is_named(chain: Chain) -> None:
    previous = _row(chain.installation, chain.last - 1)
    _write(
        chain.installation,
        delete(audit_events).where(_by_seq(chain.last)),
        update(audit_head).values(seq=chain.last - 1, hash=previous["hash"]),
    )
    assert not verify_chain(chain.installation).intact


def test_chain_holds_when_the_clock_is_not_in_utc(
    installation: Installation, stack_target: Target
) -> None:
    installation.clock = lambda: datetime(2030, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    put(installation, LOCAL, stack_target, "K", "v")
    assert verify_chain(installation).intact


# --- Concurrent appenders (one installation per thread, like several server processes) ------------

THREADS = 6
ROUNDS = 3


def _append_concurrently(
    settings: Settings, target: Target, viewer: Principal, n: int, start: threading.Barrier
) -> None:
    installation = open_installation(settings)
    try:
        start.wait(timeout=60)  # every appender is open before any appends
        for r in range(ROUNDS):
            put(installation, LOCAL, target, f"T{n}", f"thread-{n}-round-{r}")
            list_secrets(installation, LOCAL, target, reveal=True)
            with pytest.raises(Forbidden):
                list_secrets(installation, viewer, target, reveal=True)
    finally:
        installation.close()


def test_concurrent_appends_keep_the_chain_intact_and_gap_free(
    installation: Installation, settings: Settings, stack_target: Target
) -> None:
    viewer = make_user(installation, "viewer@example.com", "acme", "viewer")
    before = last_seq(installation)
    start = threading.Barrier(THREADS)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [
            pool.submit(_append_concurrently, settings, stack_target, viewer, n, start)
            for n in range(THREADS)
        ]
        for future in futures:
            future.result()
    expected = before + THREADS * ROUNDS * 3
    report = verify_chain(installation)
    assert (report.intact, report.events) == (True, expected), report
    with installation.store.read() as conn:
        seqs = list(conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq)).scalars())
    assert seqs == list(range(1, expected + 1))
    events = events_after(installation, before)
    assert sum(e.outcome == "denied" for e in events) == THREADS * ROUNDS
    assert sorted(
        e.detail["keys"]["T0"]
        for e in events
        if e.action == "secret.set" and "T0" in e.detail["keys"]
    ) == list(range(1, ROUNDS + 1))


# --- Searching the log -----------------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


T1 = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
T2 = datetime(2030, 1, 2, 10, 0, tzinfo=UTC)


def _new(installation: Installation, call: Callable[[], object]) -> list[int]:
    seq = last_seq(installation)
    with contextlib.suppress(Forbidden, NotFound):
        call()
    return [e.seq for e in events_after(installation, seq)]


def test_list_events_filters_by_actor_key_time_and_account(installation: Installation) -> None:
    w = build_world(installation)
    alice = make_user(installation, "alice@example.com", "acme", "administrator")
    bob = make_user(installation, "bob@example.com", "globex", "administrator")
    clock = Clock(T1)
    installation.clock = clock
    a1 = _new(installation, lambda: put(installation, alice, w.web, "DATABASE", "db-1"))
    a2 = _new(installation, lambda: list_secrets(installation, alice, w.web, reveal=True))
    b1 = _new(installation, lambda: put(installation, bob, w.shop, "STRIPE", "sk-1"))
    clock.now = T2
    a3 = _new(installation, lambda: put(installation, alice, w.acme, "MAILER", "smtp-1"))
    b2 = _new(
        installation, lambda: get_secret(installation, bob, w.web, "DATABASE", reveal=True)
    )  # denied
    b3 = _new(installation, lambda: put(installation, bob, w.globex, "STRIPE", "sk-2"))
    assert all(len(seqs) == 1 for seqs in (a1, a2, b1, a3, b2, b3))

    def seqs(**filters: Any) -> list[int]:
        return [e.seq for e in list_events(installation, **filters)]

    assert seqs(actor="alice@example.com") == a3 + a2 + a1
    assert seqs(actor="bob@example.com") == b3 + b2 + b1
    assert seqs(key="DATABASE") == b2 + a2 + a1
    assert seqs(key="STRIPE") == b3 + b1
    assert seqs(key="NOSUCHKEY") == []
    assert seqs(since=T2) == b3 + b2 + a3
    assert seqs(since=T2 + timedelta(seconds=1)) == []
    assert seqs(account_uid=w.globex.account.uid, since=T1) == b3 + b1
    assert seqs(account_uid=w.acme.account.uid, since=T1) == b2 + a3 + a2 + a1
    assert seqs(actor="bob@example.com", key="DATABASE") == b2
    assert seqs(actor="alice@example.com", limit=1) == a3
    assert seqs(actor="alice@example.com", limit=1, offset=1) == a2

    [denied] = list_events(installation, actor="bob@example.com", key="DATABASE")
    assert (denied.outcome, denied.action, denied.at) == ("denied", "describe", T2)
    assert denied.detail["key"] == "DATABASE"
    [first] = list_events(
        installation, actor="alice@example.com", key="DATABASE", limit=1, offset=1
    )
    data = first.to_json()
    assert (data["at_iso"], data["action"], data["token_id"]) == (
        "2030-01-01T10:00:00Z",
        "secret.set",
        alice.token_uid,
    )
    assert json.loads(json.dumps(data))["detail"]["keys"] == {"DATABASE": 1}
    assert verify_chain(installation).intact


def test_key_filter_matches_only_events_naming_that_key(
    installation: Installation, stack_target: Target
) -> None:
    [dash] = _new(installation, lambda: put(installation, LOCAL, stack_target, "DB-URL", "a"))
    [under] = _new(installation, lambda: put(installation, LOCAL, stack_target, "DB_URL", "b"))
    _new(installation, lambda: get_secret(installation, LOCAL, stack_target, "DB-URL", reveal=True))
    assert [e.seq for e in list_events(installation, key="DB_URL")] == [under]
    assert [e.seq for e in list_events(installation, key="purpose")] == []
    assert dash < under


def test_key_filter_is_case_sensitive(
    installation: Installation, stack_target: Target, request: pytest.FixtureRequest
) -> None:
    [lower] = _new(installation, lambda: put(installation, LOCAL, stack_target, "mailer", "a"))
    [upper] = _new(installation, lambda: put(installation, LOCAL, stack_target, "MAILER", "b"))
    assert [e.seq for e in list_events(installation, key="MAILER")] == [upper]
    assert [e.seq for e in list_events(installation, key="mailer")] == [lower]


# --- Shared details (migration 0011): a large detail text is stored once for every event with
# exactly that text; the chain still covers each event's full text.


def _wide_stack(installation: Installation, stack_target: Target, keys: int = 40) -> None:
    import_secrets(
        installation,
        LOCAL,
        stack_target,
        {f"WIDE_SECRET_{n:03}": SecretValue(f"v-{n}-{random.token_hex(6)}") for n in range(keys)},
    )


def _stored_details(installation: Installation) -> tuple[list[tuple[int, str, bytes | None]], int]:
    with installation.store.read() as conn:
        events = [
            (r.seq, r.detail, None if r.detail_digest is None else bytes(r.detail_digest))
            for r in conn.execute(select(audit_events).order_by(audit_events.c.seq))
        ]
        shared = len(conn.execute(select(audit_details.c.digest)).all())
    return events, shared


def test_a_whole_stacks_reveals_store_their_detail_once(
    installation: Installation, stack_target: Target
) -> None:
    _wide_stack(installation, stack_target)
    before = last_seq(installation)
    shared_before = _stored_details(installation)[1]  # the import's own detail may be one
    for _ in range(6):
        list_secrets(installation, LOCAL, stack_target, reveal=True)
    events, shared = _stored_details(installation)
    reveals = [e for e in events if e[0] > before]
    assert len(reveals) == 6
    assert shared == shared_before + 1
    assert {detail for _, detail, _ in reveals} == {""}  # nothing inline
    assert len({digest for _, _, digest in reveals}) == 1
    listed = [e for e in list_events(installation, limit=6) if e.action == "reveal"]
    assert len(listed) == 6
    assert all(e.detail == listed[0].detail for e in listed)
    assert len(listed[0].detail["keys"]) == 40
    assert verify_chain(installation).intact
    # Small details stay inline (a single key's reveal).
    get_secret(installation, LOCAL, stack_target, "WIDE_SECRET_001", reveal=True)
    events, shared_after = _stored_details(installation)
    assert events[-1][1] != ""
    assert events[-1][2] is None
    assert shared_after == shared


def test_the_key_filter_finds_events_whose_detail_is_shared(
    installation: Installation, stack_target: Target
) -> None:
    _wide_stack(installation, stack_target)
    list_secrets(installation, LOCAL, stack_target, reveal=True)
    found = list_events(installation, key="WIDE_SECRET_007")
    assert "reveal" in [e.action for e in found]
    assert list_events(installation, key="WIDE_SECRET_999") == []


@pytest.mark.parametrize("damage", ["edited", "deleted", "not-json", "inline-too"])
def test_a_damaged_shared_detail_is_named_by_verify(
    installation: Installation, stack_target: Target, damage: str
) -> None:
    _wide_stack(installation, stack_target)
    first = last_seq(installation) + 1
    for _ in range(3):
        list_secrets(installation, LOCAL, stack_target, reveal=True)
    assert verify_chain(installation).intact
    with installation.store.write() as conn:
        digest = conn.execute(
            select(audit_events.c.detail_digest).where(audit_events.c.seq == first)
        ).scalar_one()
        shared = audit_details.c.digest == digest
        if damage == "edited":
            text = conn.execute(select(audit_details.c.detail).where(shared)).scalar_one()
            changed = text.replace('"keys"', '"kays"')
            conn.execute(update(audit_details).where(shared).values(detail=changed))
        elif damage == "not-json":
            conn.execute(update(audit_details).where(shared).values(detail="not json"))
        elif damage == "inline-too":
            event = audit_events.c.seq == first
            conn.execute(update(audit_events).where(event).values(detail='{"x": 1}'))
        else:
            conn.execute(delete(audit_details).where(shared))
    report = verify_chain(installation)
    assert not report.intact
    assert report.first_bad_seq == first
    assert (
        report.problem
        == {
            "edited": f"the shared detail of event {first} does not match its digest",
            "not-json": f"the shared detail of event {first} does not match its digest",
            "deleted": f"the shared detail of event {first} is missing",
            "inline-too": f"event {first} holds a detail of its own besides its shared one",
        }[damage]
    )
    # Still listed: a damaged shared text says so instead of breaking every page it is on.
    shown = list_events(installation, limit=1)[0].detail
    if damage in ("deleted", "not-json"):
        assert "error" in shown
    else:
        assert "keys" in shown or "kays" in shown


def test_an_edited_shared_detail_with_its_digest_recomputed_still_breaks_the_chain(
    installation: Installation, stack_target: Target
) -> None:
    _wide_stack(installation, stack_target)
    first = last_seq(installation) + 1
    list_secrets(installation, LOCAL, stack_target, reveal=True)
    with installation.store.write() as conn:
        digest = conn.execute(
            select(audit_events.c.detail_digest).where(audit_events.c.seq == first)
        ).scalar_one()
        text = conn.execute(
            select(audit_details.c.detail).where(audit_details.c.digest == digest)
        ).scalar_one()
        changed = text.replace('"keys"', '"kays"')
        new_digest = hashlib.sha256(changed.encode()).digest()
        conn.execute(insert(audit_details).values(digest=new_digest, detail=changed))
        conn.execute(
            update(audit_events).where(audit_events.c.seq == first).values(detail_digest=new_digest)
        )
    report = verify_chain(installation)
    assert (report.intact, report.first_bad_seq, report.problem) == (
        False,
        first,
        f"event {first} was altered",
    )
