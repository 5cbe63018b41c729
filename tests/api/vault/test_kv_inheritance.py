"""KV v2 over stacksafe's inheritance (no Vault to compare with: vault-kv.md section 11), on
SQLite and PostgreSQL: a stack path is the stack's effective set; writes never pin an inherited
value, never drop one silently, and keep references; path versions count account writes."""

from __future__ import annotations

import json

from stacksafe.core.audit_events import list_events
from stacksafe.core.secrets import get_secret, list_secrets, restrict_secret, set_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.helpers import set_local, snapshot, user_with_token
from tests.api.vault.conftest import Kv, errors_of, vault_client

CAS_MISMATCH = "check-and-set parameter did not match the current version"


def _seed(kv: Kv) -> None:
    set_local(kv.installation, kv.world.account_target, {"DB_URL": "postgres://db/app"})
    set_local(kv.installation, kv.world.stack_target, {"API_KEY": "k1", "LINK": "${DB_URL}"})


def _own(kv: Kv) -> dict[str, str]:
    """The stack's own stored values (references as stored)."""
    found = list_secrets(kv.installation, LOCAL, kv.world.stack_target, reveal=True, resolve=False)
    return {s.key: s.raw_value.reveal() for s in found if not s.inherited and s.raw_value}


def test_a_stack_path_is_the_effective_set_inherited_and_resolved(kv: Kv) -> None:
    _seed(kv)
    response = kv.get("acme/web")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["data"]["data"] == {
        "API_KEY": "k1",
        "DB_URL": "postgres://db/app",
        "LINK": "postgres://db/app",
    }
    assert body["data"]["metadata"]["version"] == kv.version("acme/web")
    assert {"request_id", "lease_id", "renewable", "lease_duration", "wrap_info"} <= set(body)
    assert kv.data("acme") == {"DB_URL": "postgres://db/app"}  # the account's own level


def test_a_write_omitting_an_inherited_key_is_refused_naming_it_and_changes_nothing(
    kv: Kv,
) -> None:
    _seed(kv)
    before = snapshot(kv.installation)
    (message,) = errors_of(kv.put("acme/web", {"API_KEY": "k2", "LINK": "${DB_URL}"}), 400)
    assert "DB_URL" in message
    assert "inherited from account 'acme'" in message
    assert "PATCH" in message
    assert "'acme'" in message
    assert snapshot(kv.installation) == before


def test_repeating_an_inherited_value_makes_no_override(kv: Kv) -> None:
    _seed(kv)
    current = kv.data("acme/web")
    response = kv.put("acme/web", {**current, "API_KEY": "k2"})
    assert response.status_code == 200, response.text
    assert set(_own(kv)) == {"API_KEY", "LINK"}  # DB_URL still inherited
    set_local(kv.installation, kv.world.account_target, {"DB_URL": "postgres://db/rotated"})
    assert kv.data("acme/web")["DB_URL"] == "postgres://db/rotated"


def test_an_account_write_is_a_new_version_of_every_stack_path_and_fails_a_stale_cas(
    kv: Kv,
) -> None:
    _seed(kv)
    seen = kv.get("acme/web").json()["data"]
    stale = seen["metadata"]["version"]
    set_local(kv.installation, kv.world.account_target, {"DB_URL": "postgres://db/rotated"})
    assert kv.version("acme/web") == stale + 1
    before = snapshot(kv.installation)
    echoed = {**seen["data"], "API_KEY": "k2"}  # hvac's patch: read, change, write with cas
    assert errors_of(kv.put("acme/web", echoed, cas=stale), 400) == [CAS_MISMATCH]
    assert snapshot(kv.installation) == before
    assert kv.put("acme/web", {**kv.data("acme/web"), "API_KEY": "k2"}, cas=stale + 1).is_success
    assert "DB_URL" not in _own(kv)


def test_a_read_modify_write_keeps_a_stored_reference(kv: Kv) -> None:
    _seed(kv)
    assert kv.patch("acme/web", {"API_KEY": "k3"}).status_code == 200
    assert _own(kv) == {"API_KEY": "k3", "LINK": "${DB_URL}"}
    assert kv.put("acme/web", {**kv.data("acme/web"), "NEW": "n"}).status_code == 200
    assert _own(kv)["LINK"] == "${DB_URL}"


def test_a_dollar_brace_written_through_kv_reads_back_literally(kv: Kv) -> None:
    _seed(kv)
    current = kv.data("acme/web")
    assert kv.put("acme/web", {**current, "PASSWORD": "pa${ss}wo$${rd"}).status_code == 200
    assert kv.data("acme/web")["PASSWORD"] == "pa${ss}wo$${rd"
    assert _own(kv)["PASSWORD"] == "pa$${ss}wo$$${rd"  # stored escaped: not a reference
    native = get_secret(kv.installation, LOCAL, kv.world.stack_target, "PASSWORD", reveal=True)
    assert native.raw_value is not None
    assert native.raw_value.reveal() == "pa${ss}wo$${rd"


def test_environment_restricted_account_keys_stay_on_their_environment(kv: Kv) -> None:
    _seed(kv)
    dev = create_stack(kv.installation, LOCAL, "acme", "dev", "development")
    set_local(kv.installation, kv.world.account_target, {"DEBUG_TOKEN": "dbg"})
    restrict_secret(kv.installation, LOCAL, kv.world.account_target, "DEBUG_TOKEN", ["development"])
    assert "DEBUG_TOKEN" not in kv.data("acme/web")
    assert kv.data(f"acme/{dev.name}")["DEBUG_TOKEN"] == "dbg"
    # The restricted key is not "inherited" by web: a whole write need not repeat it.
    assert kv.put("acme/web", kv.data("acme/web")).status_code == 200


def test_a_narrowed_token_gets_403_on_other_stacks_and_environments(kv: Kv) -> None:
    _seed(kv)
    dev = create_stack(kv.installation, LOCAL, "acme", "dev", "development")
    set_local(kv.installation, Target(kv.world.account, dev), {"X": "1"})
    narrowed = user_with_token(
        kv.installation, "ci@acme.test", "acme", "administrator", environments=["development"]
    )
    with vault_client(kv.world, narrowed.token) as client:
        assert client.get("/v1/secret/data/acme/dev").status_code == 200
        messages = errors_of(client.get("/v1/secret/data/acme/web"), 403)
        assert messages[0] == "permission denied"
        errors_of(client.post("/v1/secret/data/acme/web", json={"data": {"A": "b"}}), 403)


def test_every_kv_request_is_one_audit_event_and_holds_no_value(kv: Kv) -> None:
    _seed(kv)

    def newest() -> int:
        return list_events(kv.installation, limit=1)[0].seq

    start = newest()
    kv.get("acme/web")
    assert newest() == start + 1
    event = list_events(kv.installation, limit=1)[0]
    assert event.action == "reveal"
    assert event.detail["purpose"] == "kv"
    kv.put("acme/web", {**kv.data("acme/web"), "API_KEY": "secret-value-k9"})
    latest = list_events(kv.installation, limit=2)
    assert latest[0].action == "secret.kv_write"
    assert "secret-value-k9" not in json.dumps(latest[0].detail)


def test_patching_null_over_an_override_uncovers_the_account_value_with_a_warning(
    kv: Kv,
) -> None:
    _seed(kv)
    set_secret(
        kv.installation, LOCAL, kv.world.stack_target, "DB_URL", SecretValue("postgres://own")
    )
    response = kv.patch("acme/web", {"DB_URL": None})
    assert response.status_code == 200, response.text
    assert "stays visible" in response.json()["warnings"][0]
    assert kv.data("acme/web")["DB_URL"] == "postgres://db/app"
    # Null over a key only inherited would change nothing a read shows: refused.
    (message,) = errors_of(kv.patch("acme/web", {"DB_URL": None}), 400)
    assert "DB_URL" in message


def test_a_no_op_write_keeps_the_version(kv: Kv) -> None:
    _seed(kv)
    version = kv.version("acme/web")
    response = kv.put("acme/web", kv.data("acme/web"))
    assert response.json()["data"]["version"] == version
    assert kv.version("acme/web") == version


def test_the_refusal_names_ten_inherited_keys_and_counts_the_rest(kv: Kv) -> None:
    set_local(kv.installation, kv.world.account_target, {f"K{n:02}": "v" for n in range(25)})
    (message,) = errors_of(kv.put("acme/web", {"A": "1"}), 400)
    assert message.startswith("keys K00, K01, K02, K03, K04, K05, K06, K07, K08, K09 and 15 more")
