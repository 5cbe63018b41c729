"""Path versions through KV: version N read back exactly, soft delete and undelete (of the
latest and of older versions), destroy, DELETE metadata, metadata writes and the mount config,
on SQLite and PostgreSQL. Paths without inherited keys follow Vault's semantics exactly."""

from __future__ import annotations

from collections.abc import Callable

from httpx import Response

from stacksafe.core.audit_events import list_events
from stacksafe.core.secrets import list_secrets
from stacksafe.core.tenancy import create_stack
from tests.actors import LOCAL
from tests.api.helpers import set_local, snapshot, user_with_token
from tests.api.vault.conftest import Kv, errors_of, vault_client


def _rows(kv: Kv, table: str) -> list[tuple[object, ...]]:
    rows: dict[str, list[tuple[object, ...]]] = snapshot(kv.installation)["rows"]  # type: ignore[assignment]
    return rows[table]


def _three_versions(kv: Kv) -> None:
    assert kv.put("acme/web", {"A": "1"}, cas=0).json()["data"]["version"] == 1
    assert kv.put("acme/web", {"A": "2", "B": "x"}, cas=1).json()["data"]["version"] == 2
    assert kv.put("acme/web", {"B": "y"}, cas=2).json()["data"]["version"] == 3


def test_every_version_reads_back_as_it_was_written(kv: Kv) -> None:
    _three_versions(kv)
    assert kv.get("acme/web", version=1).json()["data"]["data"] == {"A": "1"}
    assert kv.get("acme/web", version=2).json()["data"]["data"] == {"A": "2", "B": "x"}
    assert kv.get("acme/web", version=3).json()["data"]["data"] == {"B": "y"}
    assert kv.get("acme/web").json()["data"]["metadata"]["version"] == 3
    assert errors_of(kv.get("acme/web", version=9), 404) == []
    errors_of(kv.get("acme/web", version="x"), 400)


def test_an_older_version_of_a_stack_rebuilds_what_it_inherited_then(kv: Kv) -> None:
    set_local(kv.installation, kv.world.account_target, {"SHARED": "old"})
    first = kv.get("acme/web").json()["data"]
    set_local(kv.installation, kv.world.account_target, {"SHARED": "new"})
    number = first["metadata"]["version"]
    assert kv.get("acme/web", version=number).json()["data"]["data"] == {"SHARED": "old"}
    assert kv.data("acme/web") == {"SHARED": "new"}


def test_deleting_the_latest_unsets_its_keys_and_undelete_writes_them_back(kv: Kv) -> None:
    _three_versions(kv)
    assert kv.client.delete("/v1/secret/data/acme/web").status_code == 204
    gone = kv.get("acme/web")
    assert gone.status_code == 404
    metadata = gone.json()["data"]["metadata"]
    assert metadata["version"] == 3
    assert metadata["deletion_time"]
    assert list_secrets(kv.installation, LOCAL, kv.world.stack_target) == []  # really unset
    assert kv.version("acme/web") == 3  # not a new version: Vault's numbering
    response = kv.client.post("/v1/secret/undelete/acme/web", json={"versions": [3]})
    assert response.status_code == 204
    assert kv.get("acme/web").json()["data"] == {
        "data": {"B": "y"},
        "metadata": kv.get("acme/web").json()["data"]["metadata"],
    }
    assert kv.version("acme/web") == 3


def _erased(kv: Kv) -> set[tuple[str, int]]:
    """(key, version) of the stack's key versions whose value was destroyed."""
    keys = {row[0]: str(row[3]) for row in _rows(kv, "secrets")}  # id -> key
    versions = _rows(kv, "secret_versions")
    return {(keys[row[1]], int(str(row[2]))) for row in versions if row[7] is not None}


def test_older_versions_are_deleted_undeleted_and_destroyed(kv: Kv) -> None:
    _three_versions(kv)  # 1: A=1; 2: A=2 B=x; 3: B=y
    before = _rows(kv, "secret_versions")
    assert kv.client.post("/v1/secret/delete/acme/web", json={"versions": ["1"]}).is_success
    deleted = kv.get("acme/web", version=1)
    assert deleted.status_code == 404
    assert deleted.json()["data"]["metadata"]["deletion_time"]
    assert kv.client.post("/v1/secret/undelete/acme/web", json={"versions": [1]}).is_success
    assert kv.get("acme/web", version=1).json()["data"]["data"] == {"A": "1"}
    assert kv.client.post("/v1/secret/destroy/acme/web", json={"versions": [2]}).is_success
    destroyed = kv.get("acme/web", version=2)
    assert destroyed.status_code == 404
    assert destroyed.json()["data"]["metadata"]["destroyed"] is True
    # The values only version 2 showed are erased; version 1's and the current one stay.
    assert _erased(kv) == {("A", 2), ("B", 1)}
    assert len(_rows(kv, "secret_versions")) == len(before)  # history rows stay
    assert kv.get("acme/web", version=1).json()["data"]["data"] == {"A": "1"}
    assert kv.data("acme/web") == {"B": "y"}
    versions = kv.client.get("/v1/secret/metadata/acme/web").json()["data"]["versions"]
    assert versions["2"]["destroyed"] is True
    assert versions["1"]["deletion_time"] == ""
    # Destroying version 1 too erases A=1, which nothing else shows now.
    assert kv.client.post("/v1/secret/destroy/acme/web", json={"versions": [1]}).is_success
    assert _erased(kv) == {("A", 1), ("A", 2), ("B", 1)}


def test_the_latest_version_is_never_destroyed(kv: Kv) -> None:
    _three_versions(kv)
    response = kv.client.post("/v1/secret/destroy/acme/web", json={"versions": [3]})
    assert errors_of(response, 400) == [
        "stacksafe never destroys a live value; write a new value or delete first"
    ]
    errors_of(kv.client.post("/v1/secret/destroy/acme/web", json={"versions": []}), 400)


def test_deleting_metadata_forgets_the_path_and_writes_number_on(kv: Kv) -> None:
    _three_versions(kv)
    assert kv.client.delete("/v1/secret/metadata/acme/web").status_code == 204
    assert errors_of(kv.client.get("/v1/secret/metadata/acme/web"), 404) == []
    assert errors_of(kv.get("acme/web", version=1), 404) == []
    errors_of(kv.client.request("LIST", "/v1/secret/metadata/acme/"), 404)
    stored = _rows(kv, "secret_versions")
    assert all(row[4] is None for row in stored), "every value destroyed"  # the envelope
    assert kv.put("acme/web", {"C": "1"}).json()["data"]["version"] == 4
    metadata = kv.client.get("/v1/secret/metadata/acme/web").json()["data"]
    assert list(metadata["versions"]) == ["4"]
    assert metadata["oldest_version"] == 4


def test_deleting_metadata_needs_the_admin_scope(kv: Kv) -> None:
    _three_versions(kv)
    public = user_with_token(kv.installation, "p@acme.test", "acme", "owner", scopes=["public"])
    with vault_client(kv.world, public.token) as client:
        errors_of(client.delete("/v1/secret/metadata/acme/web"), 403)
    assert kv.data("acme/web") == {"B": "y"}


def test_metadata_writes(kv: Kv) -> None:
    _three_versions(kv)
    url = "/v1/secret/metadata/acme/web"
    response = kv.client.post(url, json={"max_versions": 1, "custom_metadata": {"owner": "ops"}})
    assert "stored as 2" in response.json()["warnings"][0]
    assert kv.client.patch(
        url,
        json={"custom_metadata": {"team": "web"}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).is_success
    data = kv.client.get(url).json()["data"]
    assert data["max_versions"] == 2
    assert data["custom_metadata"] == {"owner": "ops", "team": "web"}
    assert data["current_version"] == 3
    assert kv.get("acme/web").json()["data"]["metadata"]["custom_metadata"] == {
        "owner": "ops",
        "team": "web",
    }
    assert kv.client.post(url, json={"cas_required": True}).status_code == 204
    assert errors_of(kv.put("acme/web", {"B": "z"}), 400) == [
        "check-and-set parameter required for this call"
    ]
    assert kv.put("acme/web", {"B": "z"}, cas=3).is_success
    errors_of(kv.client.post(url, json={"delete_version_after": "1h"}), 400)
    errors_of(kv.client.post(url, json={"custom_metadata": {"k": "v" * 513}}), 400)


def test_metadata_of_a_missing_stack_is_404_naming_the_fix(kv: Kv) -> None:
    (message,) = errors_of(kv.client.post("/v1/secret/metadata/acme/api", json={}), 404)
    assert "stacksafe stacks create api" in message


def test_cas_zero_creates_only_on_an_empty_path(kv: Kv) -> None:
    create_stack(kv.installation, LOCAL, "acme", "fresh", "production")
    assert kv.put("acme/fresh", {"A": "1"}, cas=0).is_success
    assert errors_of(kv.put("acme/fresh", {"A": "2"}, cas=0), 400) == [
        "check-and-set parameter did not match the current version"
    ]


def test_the_mount_config(kv: Kv) -> None:
    config = kv.client.get("/v1/secret/config").json()["data"]
    assert config == {"cas_required": False, "delete_version_after": "0s", "max_versions": 0}
    errors_of(kv.client.post("/v1/secret/config", json={"max_versions": 5}), 400)


def test_every_kv_change_request_is_one_audit_event_even_when_nothing_changes(kv: Kv) -> None:
    _three_versions(kv)

    def newest() -> int:
        return list_events(kv.installation, limit=1)[0].seq

    requests: list[Callable[[], Response]] = [
        lambda: kv.put("acme/web", {"B": "y"}),  # no-op: the version stays
        lambda: kv.client.post("/v1/secret/delete/acme/web", json={"versions": [1, 3]}),
        lambda: kv.client.post("/v1/secret/undelete/acme/web", json={"versions": [1, 3]}),
        lambda: kv.client.post("/v1/secret/destroy/acme/web", json={"versions": [9]}),
        lambda: kv.client.post("/v1/secret/metadata/acme/web", json={"max_versions": 5}),
    ]
    for send in requests:
        before = newest()
        assert send().is_success
        assert newest() == before + 1
    assert kv.data("acme/web") == {"B": "y"}
    assert kv.version("acme/web") == 3


def test_bad_input_is_one_clear_400_on_every_database_and_changes_nothing(kv: Kv) -> None:
    _three_versions(kv)
    before = snapshot(kv.installation)
    nul = "a path cannot hold a NUL character (\\x00); remove it"
    assert errors_of(kv.client.get("/v1/secret/data/acme/we%00b"), 400) == [nul]
    assert errors_of(kv.client.request("LIST", "/v1/secret/metadata/ac%00me/"), 400) == [nul]
    assert errors_of(kv.client.post("/v1/secret/data/ac%00me/web", json={"data": {}}), 400) == [nul]
    lone = b'{"custom_metadata": {"team": "\\ud800"}}'
    (message,) = errors_of(kv.client.post("/v1/secret/metadata/acme/web", content=lone), 400)
    assert message == "custom_metadata value of 'team' is not valid UTF-8 text"
    key = b'{"custom_metadata": {"\\ud800": "x"}}'
    errors_of(kv.client.post("/v1/secret/metadata/acme/web", content=key), 400)
    half = kv.client.post("/v1/secret/delete/acme/web", json={"versions": [1.5]})
    assert errors_of(half, 400) == ["version 1.5 is not a whole number"]
    assert snapshot(kv.installation) == before
