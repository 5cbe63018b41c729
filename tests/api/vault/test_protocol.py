"""What every Vault client relies on besides KV data: the token's status codes (403, never
401), namespaces, wrapping, unknown routes, the rate limit (429), health, the mount preflight,
the token endpoints, content types and LIST."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from stacksafe.api import create_app
from stacksafe.core.installation import Installation
from stacksafe.core.principals import revoke_token
from stacksafe.core.tenancy import Target, create_account, create_stack, find_stack
from tests.actors import LOCAL
from tests.api.helpers import build_world, set_local, snapshot, user_with_token
from tests.api.vault.conftest import Kv, errors_of, vault_client

# HTTP shapes: status codes, headers, bodies, routes of the face. What they read and write is
# tested on both databases in test_kv_inheritance.py, test_kv_versions.py and tests/core.
pytestmark = pytest.mark.databases("sqlite")


@pytest.mark.parametrize("token", [None, "", "ssk_not-a-token", "hvs.CAES"])
def test_a_missing_or_bad_token_is_403_permission_denied_never_401(
    kv: Kv, token: str | None
) -> None:
    with vault_client(kv.world, token) as client:
        for response in (
            client.get("/v1/secret/data/acme/web"),
            client.get("/v1/auth/token/lookup-self"),
            client.request("LIST", "/v1/secret/metadata/"),
        ):
            assert errors_of(response, 403) == ["permission denied"]


def test_an_expired_or_revoked_token_is_403(kv: Kv, installation: Installation) -> None:
    revoked = user_with_token(installation, "gone@acme.test", "acme", "administrator")
    revoke_token(installation, LOCAL, revoked.uid)
    with vault_client(kv.world, revoked.token) as client:
        assert errors_of(client.get("/v1/secret/data/acme/web"), 403) == ["permission denied"]


def test_the_bearer_header_works_as_the_vault_token(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    headers = {"Authorization": f"Bearer {kv.world.admin_token.token}"}
    with vault_client(kv.world, None) as client:
        response = client.get("/v1/secret/data/acme/web", headers=headers)
    assert response.json()["data"]["data"] == {"A": "1"}


def test_an_account_the_token_cannot_see_is_403_and_a_missing_stack_404_naming_the_fix(
    kv: Kv,
) -> None:
    create_account(kv.installation, LOCAL, "other")
    assert errors_of(kv.get("other/web"), 403) == ["permission denied"]
    assert errors_of(kv.get("nosuch/web"), 403) == ["permission denied"]
    (message,) = errors_of(kv.put("acme/api", {"A": "1"}), 404)
    assert "stacksafe stacks create api --account acme --environment <env>" in message


def test_namespaces_wrapping_and_unknown_routes(kv: Kv) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    for namespace in ("", "root", "/"):
        response = kv.client.get(
            "/v1/secret/data/acme/web", headers={"X-Vault-Namespace": namespace}
        )
        assert response.status_code == 200
    found = kv.client.get("/v1/secret/data/acme/web", headers={"X-Vault-Namespace": "team"})
    assert errors_of(found, 404) == ["namespace not found"]
    wrapped = kv.client.get("/v1/secret/data/acme/web", headers={"X-Vault-Wrap-TTL": "60s"})
    assert errors_of(wrapped, 400) == ["response wrapping is not supported"]
    for path in ("transit/encrypt/k", "auth/userpass/login/bob", "pki/issue/x", "secret/foo"):
        (message,) = errors_of(kv.client.post(f"/v1/{path}", json={}), 404)
        assert message.startswith("no handler for route")


def test_the_rate_limit_is_429_with_retry_after(installation: Installation) -> None:
    world = build_world(installation, rate_limit=2)
    with world.client, vault_client(world, world.admin_token.token) as client:
        for _ in range(2):
            client.get("/v1/auth/token/lookup-self")
        response = client.get("/v1/auth/token/lookup-self")
        assert errors_of(response, 429) == ["rate limit quota exceeded"]
        assert int(response.headers["Retry-After"]) > 0


def test_health_answers_without_a_token(kv: Kv) -> None:
    with vault_client(kv.world, None) as client:
        response = client.get("/v1/sys/health")
        assert response.status_code == 200
        assert response.json()["sealed"] is False
        assert response.json()["initialized"] is True
        assert client.head("/v1/sys/health").status_code == 200


def test_the_mount_preflight_names_kv_version_2(kv: Kv) -> None:
    response = kv.client.get("/v1/sys/internal/ui/mounts/secret/acme/web")
    data = response.json()["data"]
    assert (data["path"], data["type"], data["options"]) == ("secret/", "kv", {"version": "2"})
    errors_of(kv.client.get("/v1/sys/internal/ui/mounts/transit/x"), 403)
    with vault_client(kv.world, None) as client:
        errors_of(client.get("/v1/sys/internal/ui/mounts/secret/acme/web"), 403)


def test_lookup_self_and_revoke_self(kv: Kv, installation: Installation) -> None:
    mine = user_with_token(
        installation, "ci@acme.test", "acme", "administrator", expires_in=timedelta(hours=1)
    )
    with vault_client(kv.world, mine.token) as client:
        data = client.get("/v1/auth/token/lookup-self").json()["data"]
        assert data["id"] == ""  # token values are shown once, at creation
        assert data["accessor"] == mine.uid
        assert data["type"] == "service"
        assert 3500 < data["ttl"] <= 3600
        assert data["expire_time"]
        assert data["display_name"] == "ci@acme.test"
        assert "default" in data["policies"]
        assert client.post("/v1/auth/token/renew-self").json()["auth"]["renewable"] is False
        assert client.post("/v1/auth/token/revoke-self").status_code == 204
        assert errors_of(client.get("/v1/auth/token/lookup-self"), 403) == ["permission denied"]
    lasting = kv.client.get("/v1/auth/token/lookup-self").json()["data"]
    assert lasting["ttl"] == 0
    assert lasting["expire_time"] is None


def test_patch_needs_the_merge_patch_content_type_and_bodies_need_no_content_type(
    kv: Kv,
) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    response = kv.client.patch("/v1/secret/data/acme/web", json={"data": {"A": "2"}})
    assert response.status_code == 415
    # The Go client (CLI, ESO, Agent) sends PUT bodies without a Content-Type.
    raw = kv.client.put("/v1/secret/data/acme/web", content=b'{"data": {"A": "3"}}')
    assert raw.status_code == 200, raw.text
    assert kv.data("acme/web") == {"A": "3"}


def test_bad_values_and_keys_are_refused_naming_them(kv: Kv) -> None:
    before = snapshot(kv.installation)
    (message,) = errors_of(kv.put("acme/web", {"PORT": 5432}), 400)
    assert message == "value of 'PORT' is a number; stacksafe stores text: send it as a JSON string"
    assert "5432" not in message  # a number may be a PIN: never echoed
    (message,) = errors_of(kv.put("acme/web", {"my key": "x"}), 400)
    assert "my key" in message
    errors_of(kv.put("acme/web", {"A": "x"}, cas="seven"), 400)  # type: ignore[arg-type]
    errors_of(kv.client.post("/v1/secret/data/acme/web", content=b"{not json"), 400)
    assert snapshot(kv.installation) == before


def test_list_shows_only_what_the_token_may_describe(kv: Kv, installation: Installation) -> None:
    set_local(kv.installation, kv.world.stack_target, {"A": "1"})
    create_stack(installation, LOCAL, "acme", "team/api", "production")
    other = create_account(installation, LOCAL, "other")
    create_stack(installation, LOCAL, other.name, "secret-stack", "production")
    set_local(installation, Target(other), {"C": "1"})
    assert kv.client.request("LIST", "/v1/secret/metadata/").json()["data"]["keys"] == ["acme/"]
    assert kv.client.get("/v1/secret/metadata/acme/", params={"list": "true"}).json()["data"][
        "keys"
    ] == ["web"]  # team/api holds nothing yet: not listed
    team = find_stack(installation, "team/api", "acme")
    set_local(installation, Target(kv.world.account, team), {"D": "1"})
    assert kv.client.request("LIST", "/v1/secret/metadata/acme").json()["data"]["keys"] == [
        "team/",
        "web",
    ]
    assert kv.client.request("LIST", "/v1/secret/metadata/acme/team").json()["data"]["keys"] == [
        "api"
    ]
    errors_of(kv.client.request("LIST", "/v1/secret/metadata/other/"), 404)
    set_local(kv.installation, kv.world.account_target, {"B": "1"})  # a path and a folder
    assert kv.client.request("LIST", "/v1/secret/metadata").json()["data"]["keys"] == [
        "acme",
        "acme/",
    ]


def test_the_mount_is_configurable_and_lookup_self_may_echo_the_token(
    installation: Installation,
) -> None:
    world = build_world(installation)
    set_local(installation, world.stack_target, {"A": "1"})
    app = create_app(installation, vault_mount="kv", vault_echo_token=True)
    token = world.admin_token.token
    with world.client, TestClient(app, headers={"X-Vault-Token": token}) as client:
        assert client.get("/v1/kv/data/acme/web").json()["data"]["data"] == {"A": "1"}
        errors_of(client.get("/v1/secret/data/acme/web"), 404)
        preflight = client.get("/v1/sys/internal/ui/mounts/kv/acme/web").json()["data"]
        assert preflight["path"] == "kv/"
        # Vault Agent's token_file method takes the token it uses from here.
        assert client.get("/v1/auth/token/lookup-self").json()["data"]["id"] == token


def test_a_body_over_the_limit_is_413_unread(kv: Kv) -> None:
    big = b'{"data": {"A": "' + b"x" * (8 * 1024 * 1024) + b'"}}'
    response = kv.client.post("/v1/secret/data/acme/web", content=big)
    assert errors_of(response, 413)[0].startswith("the request body is over")


def test_an_unexpected_failure_is_a_500_naming_the_request_id_the_log_holds(
    kv: Kv, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from stacksafe.api.vault import app as vault_app

    def broken(*_: object) -> None:
        raise RuntimeError("kv-secret")  # a message that must not reach the client or the log

    monkeypatch.setattr(vault_app, "health", broken)
    response = kv.client.get("/v1/sys/health", headers={"Request-Id": "boom-3"})
    assert errors_of(response, 500) == ["internal error; the operator can find the request id"]
    assert response.headers["request-id"] == "boom-3"
    assert response.headers["cache-control"] == "no-store"
    assert "kv-secret" not in response.text + caplog.text
    assert "unexpected RuntimeError on GET /v1/ (request boom-3)" in caplog.text
