"""`kill -9` of a server in the middle of 5,000 concurrent writes (issue 7, "Faults").

A real ``stacksafe serve`` over TLS takes PUTs from 32 client threads, each on its own
keep-alive connections: keys written once, and a few hot keys written over and over at both
levels (a stack and its account); between them, about one in ten operations reveals another
account's quiet stack (one key, or the whole list through the API's lane), each with its own
``Request-Id``. When a seeded number of writes between 5 % and 20 % of the 5,000 has been
acknowledged, the server is SIGKILLed with requests in flight. A new server is started on the
same database and master key, and then:

* every acknowledged write is there and readable: its value at exactly the version the server
  answered, and a key written once holds that value as its current one;
* nothing is half-written: a full reveal of the stack and of the account authenticates every
  current value; every secret's versions are exactly 1..current, each a ``set`` with a sealed
  value that some sent write carried, no write stored twice; a write that was in flight at the
  kill is wholly there or wholly absent (no row at all); SQLite's own integrity check passes;
* the audit log holds exactly one ``secret.set`` event per stored version, naming its key and
  version and the fingerprint of its value, so no acknowledged write lacks its event and no
  event describes a write that is not there; every answered reveal has exactly one event
  (under its request id) naming the keys, versions and fingerprints it answered, since no
  value is sent before its event is durable; ``stacksafe audit verify`` (the real command)
  finds the chain intact;
* the restarted server goes on writing: each hot key's next version follows its last one.

The rule for a hot key: with writes A (acknowledged) and F (sent, never answered), its stored
versions are 1..n, version v holds the value of the write acknowledged as v, and every other
version holds the value of a distinct write of F. So the current value (version n) comes from
an acknowledged or in-flight write and is not older than the newest acknowledged one; it need
not be the newest acknowledged one, since an in-flight write may have committed after it.

The seed (``STACKSAFE_CRASH_SEED`` to replay one) decides the writes and the kill point, and is
in every failure message. No sleeps: the kill happens at an exact count of acknowledgements,
and every wait is a bounded poll.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stacksafe.client import Client
from stacksafe.core.fingerprints import fingerprint
from stacksafe.core.installation import Installation, open_installation
from stacksafe.errors import NotFound
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import accounts, secret_versions, secrets
from tests.cli.helpers import Cli
from tests.e2e.conftest import Launcher, TlsFiles, init_and_seed, trusting
from tests.e2e.crash_load import (
    Load,
    Session,
    Write,
    is_cut_off,
    plan_writes,
    run_until_killed,
    with_reveals,
)

TOTAL_WRITES = 5_000
CLIENT_THREADS = 32
HOT_KEYS = 6  # three on the stack, three on its account
HOT_SHARE = 0.3  # of the writes, to the hot keys
# Of TOTAL_WRITES acknowledged when the server is killed. Early enough that the test stays short
# (every acknowledged write is checked after the restart), late enough that hot keys have dozens
# of versions; the 32 threads keep as many writes in flight at the kill wherever it falls.
KILL_BETWEEN = (0.05, 0.2)
CLIENT_TIMEOUT = 30.0  # seconds for one request
# Seconds after which no client starts another write: a guard against a hung server, not a
# speed target. PostgreSQL writes under another worker's load (pytest-xdist) took longer than
# 120 s to reach the kill point on the 2-core CI machine.
LOAD_TIMEOUT = 600.0
REVEAL_SHARE = 0.1  # a reveal of the quiet stack before this share of the writes
QUIET = {"QUIET_A": "quiet value a", "QUIET_B": "quiet value b", "QUIET_C": "quiet value c"}

Where = tuple[bool, str]  # (on the stack?, key)


@dataclass(frozen=True)
class Stored:
    """One secret as the database holds it after the restart."""

    current_version: int
    deleted: bool
    versions: tuple[tuple[int, str, bool], ...]  # (version, action, has a sealed value)


@dataclass(frozen=True)
class Site:
    """An initialised, seeded installation (not yet served) and how to reach its secrets."""

    cli: Cli
    token: str
    stack_uid: str
    account_uid: str
    quiet_stack_uid: str  # another account's stack, holding QUIET, which the load reveals
    serve_args: tuple[str, ...]

    def client(self, address: str, tls: TlsFiles) -> Client:
        return Client(address, self.token, ca_bundle=str(tls.ca), timeout=CLIENT_TIMEOUT)

    def session(self, address: str, tls: TlsFiles) -> Session:
        return Session(
            address,
            self.token,
            tls.ca,
            stack=self.stack_uid,
            account=self.account_uid,
            quiet_stack=self.quiet_stack_uid,
            timeout=CLIENT_TIMEOUT,
        )

    def level(self, where: Where) -> tuple[str | None, str | None]:
        """The ``stack`` and ``account`` arguments that name the secret's level to ``Client``."""
        return (self.stack_uid, None) if where[0] else (None, self.account_uid)


@pytest.fixture
def site(database_url: str, tls: TlsFiles, tmp_path: Path) -> Site:
    cli = Cli(tmp_path / "data", database_url)
    token = init_and_seed(cli)
    local = cli.in_process()
    local.ok("accounts", "create", "quiet")
    local.ok("stacks", "create", "api", "--account", "quiet", "--environment", "production")
    for key, value in QUIET.items():
        local.ok("secrets", "set", key, "--stack", "api", "--stdin", input=value)
    stacks = {s["name"]: s for s in local.json("stacks", "list", "--format", "json")}
    web = stacks["web"]
    acme = next(
        a for a in local.json("accounts", "list", "--format", "json") if a["name"] == "acme"
    )
    serve_args = (
        "--tls-cert",
        str(tls.cert),
        "--tls-key",
        str(tls.key),
        "--rate-limit",
        "1000000",  # the default 3,000 per hour would throttle the load
    )
    return Site(cli, token, web["uid"], acme["uid"], stacks["api"]["uid"], serve_args)


@contextmanager
def _opened(site: Site) -> Iterator[Installation]:
    """The installation opened in this process, as `stacksafe audit verify` opens it."""
    assert site.cli.database_url is not None
    settings = Settings.load(
        {"STACKSAFE_DATABASE_URL": site.cli.database_url}, data_dir=site.cli.data_dir
    )
    installation = open_installation(settings)
    try:
        yield installation
    finally:
        installation.close()


def _seed() -> int:
    chosen = os.environ.get("STACKSAFE_CRASH_SEED")
    return int(chosen) if chosen else random.SystemRandom().randrange(2**32)


def _stored(installation: Installation, account_uid: str) -> dict[Where, Stored]:
    """Every secret of the account and its stacks, straight from the tables."""
    with installation.store.read() as conn:
        account_id = conn.execute(
            select(accounts.c.id).where(accounts.c.uid == account_uid)
        ).scalar_one()
        heads = conn.execute(
            select(
                secrets.c.id,
                secrets.c.stack_id,
                secrets.c.key,
                secrets.c.current_version,
                secrets.c.deleted,
            ).where(secrets.c.account_id == account_id)
        ).all()
        rows = conn.execute(
            select(
                secret_versions.c.secret_id,
                secret_versions.c.version,
                secret_versions.c.action,
                secret_versions.c.envelope.is_not(None),
            )
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(secrets.c.account_id == account_id)
            .order_by(secret_versions.c.secret_id, secret_versions.c.version)
        ).all()
    by_secret: dict[int, list[tuple[int, str, bool]]] = {h.id: [] for h in heads}
    for row in rows:
        by_secret[row[0]].append((row[1], row[2], bool(row[3])))
    return {
        (h.stack_id is not None, h.key): Stored(
            h.current_version, h.deleted, tuple(by_secret[h.id])
        )
        for h in heads
    }


def _sqlite_integrity(installation: Installation) -> str:
    with installation.store.read() as conn:
        return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar_one())


def _by_key(load: Load) -> dict[Where, list[Write]]:
    """The writes sent, by the secret they were to."""
    sent: dict[Where, list[Write]] = {}
    for index in sorted(load.started):
        write = load.writes[index]
        sent.setdefault(write.where, []).append(write)
    return sent


def _stored_values(
    client: Client, site: Site, stored: Mapping[Where, Stored]
) -> dict[Where, dict[int, str]]:
    """Version -> value of every stored version: the reveals give the current values, the
    history of each secret with more than one version the rest."""
    on_stack = client.list_secrets(stack=site.stack_uid, reveal=True)
    on_account = client.list_secrets(account=site.account_uid, reveal=True)
    current: dict[Where, str] = {}
    for level, found in ((True, [s for s in on_stack if not s.inherited]), (False, on_account)):
        for secret in found:
            assert secret.raw_value is not None, f"{secret.key}: no value in a reveal"
            current[(level, secret.key)] = secret.raw_value.reveal()
    # The stack inherits every account secret, unchanged (compared without showing values).
    inherited = {s.key: s.raw_value for s in on_stack if s.inherited}
    account_level = {key for on, key in current if not on}
    assert set(inherited) == account_level, "the stack does not inherit its account's secrets"
    differ = sorted(
        key
        for key, value in inherited.items()
        if value is None or value.reveal() != current[(False, key)]
    )
    assert differ == [], f"inherited values differ from the account's: {differ}"
    assert set(current) == set(stored), "the reveals and the tables name different secrets"
    values: dict[Where, dict[int, str]] = {}
    for where, head in stored.items():
        if len(head.versions) == 1:
            values[where] = {head.current_version: current[where]}
            continue
        stack, account = site.level(where)
        history = client.history(where[1], reveal=True, stack=stack, account=account)
        revealed: dict[int, str] = {}
        for entry in history:
            assert entry.raw_value is not None, (where, entry.version, "no value in a reveal")
            revealed[entry.version] = entry.raw_value.reveal()
        values[where] = revealed
        same = values[where].get(head.current_version) == current[where]
        assert same, (where, "the history's current value is not the reveal's")
    return values


def _set_events(events: list[dict[str, Any]], site: Site) -> Counter[tuple[Where, int, str]]:
    """(secret, version, fingerprint) of every ``secret.set`` event of the loaded account."""
    found: Counter[tuple[Where, int, str]] = Counter()
    for event in events:
        if event["action"] != "secret.set" or event["account_uid"] != site.account_uid:
            continue
        assert event["outcome"] == "ok", event
        assert event["stack_uid"] in (None, site.stack_uid), event
        detail: dict[str, Any] = event["detail"]
        ((key, version),) = detail["keys"].items()
        where = (event["stack_uid"] is not None, key)
        found[(where, version, detail["fingerprints"][key])] += 1
    return found


def test_kill_9_during_5000_concurrent_writes_loses_no_acknowledged_write(
    site: Site, tls: TlsFiles, launch: Launcher
) -> None:
    seed = _seed()
    rng = random.Random(seed)
    writes = plan_writes(rng, TOTAL_WRITES, HOT_KEYS, HOT_SHARE)
    operations = with_reveals(rng, writes, REVEAL_SHARE, sorted(QUIET), f"crash-{seed}")
    kill_after = rng.randrange(
        int(KILL_BETWEEN[0] * TOTAL_WRITES), int(KILL_BETWEEN[1] * TOTAL_WRITES) + 1
    )
    seeded = f"STACKSAFE_CRASH_SEED={seed}"

    first = launch(site.cli, site.serve_args, measured=False)  # SIGKILLed: it saves no coverage
    first.wait_healthy(trusting(tls.ca))
    load = run_until_killed(
        first.process,
        operations,
        lambda: site.session(first.address, tls),
        threads=CLIENT_THREADS,
        kill_after=kill_after,
        deadline=time.monotonic() + LOAD_TIMEOUT,
    )

    # The kill came where it was meant to, and cut off writes in flight.
    assert load.failed_before_kill == {}, (seeded, "failed before the kill", load.failed)
    assert load.killed, f"{seeded}: the server was never killed"
    assert load.exit_status == -signal.SIGKILL, (seeded, load.exit_status)
    assert len(load.acked) >= kill_after, seeded
    assert load.in_flight_at_kill, f"{seeded}: nothing was in flight at the kill"
    assert load.unacknowledged, f"{seeded}: the kill cut no write off"
    assert load.unacknowledged <= load.in_flight_at_kill, seeded
    assert all(is_cut_off(f) for f in load.failed.values()), (seeded, load.failed)
    assert len(load.started) < TOTAL_WRITES, seeded
    assert load.revealed, f"{seeded}: no reveal was answered before the kill"

    second = launch(site.cli, site.serve_args)
    second.wait_healthy(trusting(tls.ca))
    with _opened(site) as installation, site.client(second.address, tls) as client:
        if installation.store.dialect == "sqlite":
            assert _sqlite_integrity(installation) == "ok", seeded
        stored = _stored(installation, site.account_uid)
        _check_structure(stored, load, seeded)
        values = _stored_values(client, site, stored)
        _check_writes(client, site, load, stored, values, seeded)
        # The audit log: one set event per stored version, with its value's fingerprint,
        # and one reveal event per answered reveal, naming what it answered.
        events = [e.to_json() for e in client.audit_logs()]
        expected = Counter(
            (where, version, fingerprint(installation, SecretValue(value)))
            for where, versions in values.items()
            for version, value in versions.items()
        )
        assert _set_events(events, site) == expected, f"{seeded}: audit events != stored writes"
        _check_reveals(events, installation, site, load, seeded)

        # The restarted server continues each hot key's series.
        for where, head in stored.items():
            if where[1].startswith("HOT_"):
                stack, account = site.level(where)
                after = client.set_secret(where[1], f"after {seeded}", stack=stack, account=account)
                assert after.version == head.current_version + 1, (seeded, where)

    verified = site.cli.ok("audit", "verify")  # the real command, in its own process
    assert verified.stdout.startswith("Audit log intact: "), (seeded, verified.stdout)

    # Neither server wrote a value to its output, killed mid-request or not.
    logs = "".join(
        (server.log_dir / name).read_text("utf-8", "replace")
        for server in (first, second)
        for name in ("serve.stdout", "serve.stderr")
    )
    leaked = [w.index for w in load.writes if w.index in load.started and w.value in logs]
    assert leaked == [], f"{seeded}: the values of writes {leaked} are in the server's output"
    assert not any(value in logs for value in QUIET.values()), seeded


def _check_structure(stored: Mapping[Where, Stored], load: Load, seeded: str) -> None:
    """Every secret is one a write was sent for, with versions 1..current, each a sealed set."""
    assert set(stored) <= set(_by_key(load)), f"{seeded}: secrets no write was sent for"
    for where, head in stored.items():
        assert not head.deleted, (seeded, where)
        assert head.versions == tuple(
            (version, "set", True) for version in range(1, head.current_version + 1)
        ), (seeded, where, head)


def _check_writes(
    client: Client,
    site: Site,
    load: Load,
    stored: Mapping[Where, Stored],
    values: Mapping[Where, Mapping[int, str]],
    seeded: str,
) -> None:
    """Each acknowledged write at its version; every version is a distinct sent write; a
    secret only unacknowledged writes were sent for is wholly there or wholly absent.

    Compared by write number, so that a failure names writes, not values."""
    for where, sent in _by_key(load).items():
        number = {w.value: w.index for w in sent}
        # version -> the write whose value it holds (None: a value no write to it carried)
        held = {v: number.get(value) for v, value in values.get(where, {}).items()}
        for write in sent:
            if write.index in load.acked:
                version = load.acked[write.index]
                assert held.get(version) == write.index, (
                    f"{seeded}: acknowledged write #{write.index} is lost or changed",
                    where,
                    f"version {version} holds write #{held.get(version)}",
                )
        assert None not in held.values(), (seeded, where, "a version no write sent")
        assert len(set(held.values())) == len(held), (seeded, where, "a write stored twice")
        if where not in stored:
            stack, account = site.level(where)
            with pytest.raises(NotFound):
                client.get_secret(where[1], stack=stack, account=account)


def _check_reveals(
    events: list[dict[str, Any]], installation: Installation, site: Site, load: Load, seeded: str
) -> None:
    """Each answered reveal has exactly one durable audit event, naming the keys, versions
    and fingerprints of what it answered; no other reveal has more than one."""
    sent = {load.reveals[i].request_id: i for i in load.started_reveals}
    recorded: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        if event["action"] == "reveal" and event["request_id"] in sent:
            recorded.setdefault(sent[event["request_id"]], []).append(event)
    assert all(len(found) == 1 for found in recorded.values()), (seeded, "a reveal twice")
    for index, answered in load.revealed.items():
        asked = load.reveals[index].key
        assert set(answered) == (set(QUIET) if asked is None else {asked}), (seeded, index)
        assert all(QUIET[k] == v for k, v in answered.items()), (seeded, index, "wrong value")
        found = recorded.get(index, [])
        assert len(found) == 1, f"{seeded}: answered reveal #{index} has {len(found)} events"
        event = found[0]
        assert (event["outcome"], event["stack_uid"]) == ("ok", site.quiet_stack_uid), event
        assert event["detail"]["keys"] == dict.fromkeys(answered, 1), (seeded, event)
        assert event["detail"]["fingerprints"] == {
            key: fingerprint(installation, SecretValue(value)) for key, value in answered.items()
        }, (seeded, event)
