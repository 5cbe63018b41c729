"""The latest version of a stack path answered at hand (api.vault.kv.at_hand, as the native
list's fast path): the same answer, counted once, audited once, and never stale: a write, a
metadata change, a revoked token or a narrower token are seen by the very next read."""

from __future__ import annotations

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import revoke_token
from stacksafe.core.reveal import Snapshot
from stacksafe.core.secrets import set_secret
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.fast_answers import hops_counted, reads_counted, statements_counted
from tests.api.helpers import set_local, user_with_token
from tests.api.vault.conftest import Kv, errors_of, vault_client


def _kept_bodies(kv: Kv) -> int:
    pages = kv.world.app.state.stacksafe.pages
    return len(pages._bodies)


def test_repeated_reads_are_the_same_counted_and_audited_once_each(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1", "B": "2"})
    first = kv.get("acme/web")  # read and opened: the level is kept from now on
    kv.get("acme/web")
    assert _kept_bodies(kv) == 1  # and its rendered data, for the level's revision
    start = list_events(kv.installation, limit=1)[0].seq
    remaining = int(first.headers["X-RateLimit-Remaining"])
    for n in range(1, 4):
        again = kv.get("acme/web")
        assert again.json()["data"] == first.json()["data"]
        assert again.json()["request_id"] != first.json()["request_id"]
        assert again.headers["content-type"] == "application/json"
        assert again.headers["cache-control"] == "no-store"
        assert int(again.headers["X-RateLimit-Remaining"]) == remaining - n - 1
        assert list_events(kv.installation, limit=1)[0].seq == start + n


def test_a_write_or_a_metadata_change_is_seen_by_the_next_read(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    kv.get("acme/web")
    kv.get("acme/web")
    set_secret(kv.installation, LOCAL, kv.world.stack_target, "A", SecretValue("2"))
    assert kv.data("acme/web") == {"A": "2"}
    kv.client.post("/v1/secret/metadata/acme/web", json={"custom_metadata": {"team": "web"}})
    shown = kv.get("acme/web").json()["data"]["metadata"]
    assert shown["custom_metadata"] == {"team": "web"}
    assert shown["version"] == 2


def test_a_revoked_or_narrower_token_is_refused_after_kept_reads(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    ci = user_with_token(kv.installation, "ci@acme.test", "acme", "administrator")
    dev_only = user_with_token(
        kv.installation, "dev@acme.test", "acme", "administrator", environments=["development"]
    )
    with vault_client(kv.world, ci.token) as client:
        assert client.get("/v1/secret/data/acme/web").status_code == 200
        assert client.get("/v1/secret/data/acme/web").status_code == 200
        revoke_token(kv.installation, LOCAL, ci.uid)
        assert errors_of(client.get("/v1/secret/data/acme/web"), 403) == ["permission denied"]
    with vault_client(kv.world, dev_only.token) as client:
        assert errors_of(client.get("/v1/secret/data/acme/web"), 403)[0] == "permission denied"


def test_a_kept_body_is_dropped_when_the_level_changes(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    kv.get("acme/web")
    kv.get("acme/web")
    pages = kv.world.app.state.stacksafe.pages
    (key,) = list(pages._bodies)
    snapshot: Snapshot = key[0]
    set_local(kv.installation, kv.world.stack_target, {"A": "2"})
    kv.get("acme/web")
    kv.get("acme/web")
    assert pages.kept(snapshot, key[1]) is None  # plaintext of a rotated value is not kept


def test_a_warm_read_is_one_statement_on_the_event_loop_on_either_database(
    kv: Kv, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    first = kv.get("acme/web")
    kv.get("acme/web")  # the level, its rendered data and the token are kept
    statements = statements_counted(monkeypatch, kv.installation)
    hops, reads = hops_counted(monkeypatch), reads_counted(monkeypatch, kv.installation)
    again = kv.get("acme/web")
    # SQLite's revision read at once, PostgreSQL's awaited on the loop: no thread, no transaction.
    assert (len(statements), hops, reads) == (1, [], [])
    assert again.json()["data"] == first.json()["data"]
