"""hvac (PyPI) against OpenBao and stacksafe: the same calls, the same observations (issue 18).

Each ``*_script(server, path)`` drives hvac exactly as an application would and records what it
saw (``attempt``); the test runs it on the reference OpenBao and on the server under test
(``kv_diff``: stacksafe, or OpenBao again to prove the normalisation) and compares. A few key
facts are asserted as well, so a comparison of two equally wrong observations cannot pass.

The documented, decided differences (vault-kv.md §4, §7, §8, §12) have a test each at the end,
where each server asserts its own behaviour.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import hvac
import hvac.exceptions
import pytest
import requests

from tests.e2e.vault.conftest import KvPair, KvServer, Observed, observe, unique_path
from tests.e2e.vault.observe import Normaliser, assert_same, lookup_shape

CAS_MISMATCH = "check-and-set parameter did not match the current version"


def attempt(norm: Normaliser, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Observed:
    """One hvac call: its JSON answer, its empty answer's status, or its exception's class."""
    try:
        with warnings.catch_warnings():
            # hvac's patch() reads without raise_on_deleted_version and warns about the
            # parameter's future default (hvac 3); pyproject turns warnings into errors.
            warnings.filterwarnings("ignore", "The raise_on_deleted_version", DeprecationWarning)
            answer = call(*args, **kwargs)
    except hvac.exceptions.VaultError as exc:
        return {
            "raised": type(exc).__name__,
            "errors": norm(exc.errors),
            "body": norm(exc.json),
        }
    if isinstance(answer, requests.Response):
        return {
            "status": answer.status_code,
            "body": norm(answer.json() if answer.content else None),
        }
    return {"answer": norm(answer)}


def _kv(server: KvServer) -> Any:
    return server.hvac().secrets.kv.v2


def data_of(seen: Observed) -> Any:
    return seen["answer"]["data"]["data"]


# -- the differential scripts ----------------------------------------------------------------


def versions_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)
    return {
        "before": attempt(norm, kv.read_secret_version, path, raise_on_deleted_version=True),
        "metadata_before": attempt(norm, kv.read_secret_metadata, path),
        "create": attempt(norm, kv.create_or_update_secret, path, secret={"A": "1"}),
        "update": attempt(norm, kv.create_or_update_secret, path, secret={"A": "2", "B": "b"}),
        "latest": attempt(norm, kv.read_secret_version, path, raise_on_deleted_version=True),
        "v1": attempt(norm, kv.read_secret_version, path, version=1, raise_on_deleted_version=True),
        "v2": attempt(norm, kv.read_secret_version, path, version=2, raise_on_deleted_version=True),
        "v3": attempt(norm, kv.read_secret_version, path, version=3, raise_on_deleted_version=True),
        "shrink": attempt(norm, kv.create_or_update_secret, path, secret={"B": "b"}),
        "after_shrink": attempt(norm, kv.read_secret, path, raise_on_deleted_version=True),
        "metadata": attempt(norm, kv.read_secret_metadata, path),
    }


def test_write_and_read_versions(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "versions", versions_script)
    assert_same(reference, target)
    assert target["before"]["raised"] == "InvalidPath"
    assert target["create"]["answer"]["data"]["version"] == 1
    assert data_of(target["latest"]) == {"A": "2", "B": "b"}
    assert data_of(target["v1"]) == {"A": "1"}
    assert target["v3"]["raised"] == "InvalidPath"
    assert data_of(target["after_shrink"]) == {"B": "b"}
    assert target["metadata"]["answer"]["data"]["current_version"] == 3


def cas_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)

    def write(secret: dict[str, str], cas: Any) -> Observed:
        return attempt(norm, kv.create_or_update_secret, path, secret=secret, cas=cas)

    return {
        "create_cas0": write({"A": "1"}, 0),
        "again_cas0": write({"A": "x"}, 0),
        "cas1": write({"A": "2"}, 1),
        "stale_cas1": write({"A": "y"}, 1),
        "future_cas9": write({"A": "z"}, 9),
        "not_a_number": write({"A": "w"}, "two"),
        "latest": attempt(norm, kv.read_secret_version, path, raise_on_deleted_version=True),
    }


def test_check_and_set(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "cas", cas_script)
    assert_same(reference, target)
    assert target["create_cas0"]["answer"]["data"]["version"] == 1
    assert target["again_cas0"]["errors"] == [CAS_MISMATCH]
    assert target["stale_cas1"]["raised"] == "InvalidRequest"
    assert data_of(target["latest"]) == {"A": "2"}


def patch_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)
    return {
        "patch_missing": attempt(norm, kv.patch, path, secret={"A": "1"}),
        "create": attempt(norm, kv.create_or_update_secret, path, secret={"A": "1", "B": "2"}),
        # hvac's patch is a read, then a write with cas = the version it read.
        "patch": attempt(norm, kv.patch, path, secret={"B": "3", "C": "4"}),
        "latest": attempt(norm, kv.read_secret_version, path, raise_on_deleted_version=True),
    }


def test_patch(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "patch", patch_script)
    assert_same(reference, target)
    assert target["patch_missing"]["raised"] == "InvalidPath"
    assert target["patch"]["answer"]["data"]["version"] == 2
    assert data_of(target["latest"]) == {"A": "1", "B": "3", "C": "4"}


def list_script(server: KvServer, path: str) -> Observed:
    """Stack names with ``/`` list as folders: ``<path>/a``, ``<path>/b``, ``<path>/deep/c``."""
    kv, norm = _kv(server), Normaliser(server, path)
    for leaf in ("a", "b", "deep/c"):
        server.prepare(f"{path}/{leaf}")
    seen = {
        "empty_folder": attempt(norm, kv.list_secrets, path),
        "write_a": attempt(norm, kv.create_or_update_secret, f"{path}/a", secret={"K": "a"}),
        "write_b": attempt(norm, kv.create_or_update_secret, f"{path}/b", secret={"K": "b"}),
        "write_c": attempt(norm, kv.create_or_update_secret, f"{path}/deep/c", secret={"K": "c"}),
        "list": attempt(norm, kv.list_secrets, path),
        "list_deep": attempt(norm, kv.list_secrets, f"{path}/deep"),
        "list_missing": attempt(norm, kv.list_secrets, f"{path}/none"),
    }
    return seen


def test_list(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "list", list_script, prepare=False)
    assert_same(reference, target)
    assert target["list"]["answer"]["data"] == {"keys": ["a", "b", "deep/"]}
    assert target["list_deep"]["answer"]["data"] == {"keys": ["c"]}
    assert target["list_missing"]["raised"] == "InvalidPath"


def metadata_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)
    seen: Observed = {}
    for value in ("1", "2", "3"):
        seen[f"write_{value}"] = attempt(norm, kv.create_or_update_secret, path, {"A": value})
    seen["update"] = attempt(
        norm, kv.update_metadata, path, max_versions=5, custom_metadata={"owner": "team-a"}
    )
    seen["read"] = attempt(norm, kv.read_secret_metadata, path)
    seen["latest_after"] = attempt(norm, kv.read_secret, path, raise_on_deleted_version=True)
    seen["require_cas"] = attempt(norm, kv.update_metadata, path, cas_required=True)
    seen["write_without_cas"] = attempt(norm, kv.create_or_update_secret, path, {"A": "4"})
    seen["write_with_cas"] = attempt(norm, kv.create_or_update_secret, path, {"A": "4"}, cas=3)
    seen["read_cas_required"] = attempt(norm, kv.read_secret_metadata, path)
    return seen


def test_metadata(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "metadata", metadata_script)
    assert_same(reference, target)
    metadata = target["read"]["answer"]["data"]
    assert metadata["max_versions"] == 5
    assert metadata["custom_metadata"] == {"owner": "team-a"}
    assert sorted(metadata["versions"]) == ["1", "2", "3"]
    # The custom_metadata of a path shows in every version's read.
    assert target["latest_after"]["answer"]["data"]["metadata"]["custom_metadata"] == {
        "owner": "team-a"
    }
    assert target["write_without_cas"]["raised"] == "InvalidRequest"
    assert target["write_with_cas"]["answer"]["data"]["version"] == 4


def delete_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)

    def read(version: int | None, raise_on_deleted: bool) -> Observed:
        return attempt(
            norm,
            kv.read_secret_version,
            path,
            version=version,
            raise_on_deleted_version=raise_on_deleted,
        )

    seen: Observed = {}
    for value in ("1", "2", "3"):
        seen[f"write_{value}"] = attempt(norm, kv.create_or_update_secret, path, {"A": value})
    seen["delete_v1"] = attempt(norm, kv.delete_secret_versions, path, [1])
    seen["v1_deleted"] = read(1, False)
    seen["v1_deleted_raising"] = read(1, True)
    seen["latest_untouched"] = read(None, True)
    seen["undelete_v1"] = attempt(norm, kv.undelete_secret_versions, path, [1])
    seen["v1_back"] = read(1, True)
    seen["delete_latest"] = attempt(norm, kv.delete_latest_version_of_secret, path)
    seen["latest_deleted"] = read(None, False)
    seen["latest_deleted_raising"] = read(None, True)
    seen["metadata_deleted"] = attempt(norm, kv.read_secret_metadata, path)
    seen["v2_still"] = read(2, True)
    seen["undelete_latest"] = attempt(norm, kv.undelete_secret_versions, path, [3])
    seen["latest_back"] = read(None, True)
    seen["undelete_unknown"] = attempt(norm, kv.undelete_secret_versions, path, [42])
    seen["metadata"] = attempt(norm, kv.read_secret_metadata, path)
    return seen


def test_soft_delete_and_undelete(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "delete", delete_script)
    assert_same(reference, target)
    assert target["delete_v1"]["status"] == 204
    assert target["v1_deleted"]["answer"]["data"]["metadata"]["deletion_time"] == "set"
    assert target["v1_deleted_raising"]["raised"] == "InvalidPath"
    assert data_of(target["v1_back"]) == {"A": "1"}
    assert target["latest_deleted"]["answer"]["data"]["metadata"]["version"] == 3
    assert target["metadata_deleted"]["answer"]["data"]["current_version"] == 3
    assert data_of(target["latest_back"]) == {"A": "3"}


def destroy_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)
    seen: Observed = {}
    for value in ("1", "2", "3"):
        seen[f"write_{value}"] = attempt(norm, kv.create_or_update_secret, path, {"A": value})
    # Older versions only: stacksafe refuses to destroy the latest (test_destroy_latest below).
    seen["destroy_v1"] = attempt(norm, kv.destroy_secret_versions, path, [1])
    seen["v1"] = attempt(norm, kv.read_secret_version, path, 1, raise_on_deleted_version=False)
    seen["v2"] = attempt(norm, kv.read_secret_version, path, 2, raise_on_deleted_version=True)
    seen["latest"] = attempt(norm, kv.read_secret, path, raise_on_deleted_version=True)
    seen["undelete_destroyed"] = attempt(norm, kv.undelete_secret_versions, path, [1])
    seen["v1_after_undelete"] = attempt(
        norm, kv.read_secret_version, path, 1, raise_on_deleted_version=False
    )
    seen["metadata"] = attempt(norm, kv.read_secret_metadata, path)
    return seen


def test_destroy_older_version(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "destroy", destroy_script)
    assert_same(reference, target)
    assert target["v1"]["raised"] == "InvalidPath"
    assert target["v1"]["body"]["data"]["metadata"]["destroyed"] is True
    assert data_of(target["v2"]) == {"A": "2"}
    assert target["metadata"]["answer"]["data"]["versions"]["1"]["destroyed"] is True


def delete_metadata_script(server: KvServer, path: str) -> Observed:
    kv, norm = _kv(server), Normaliser(server, path)
    return {
        "write": attempt(norm, kv.create_or_update_secret, path, {"A": "1"}),
        "write_2": attempt(norm, kv.create_or_update_secret, path, {"A": "2"}),
        "delete_metadata": attempt(norm, kv.delete_metadata_and_all_versions, path),
        "latest": attempt(norm, kv.read_secret, path, raise_on_deleted_version=False),
        "v1": attempt(norm, kv.read_secret_version, path, 1, raise_on_deleted_version=False),
        "metadata": attempt(norm, kv.read_secret_metadata, path),
        "delete_again": attempt(norm, kv.delete_metadata_and_all_versions, path),
    }


def test_delete_metadata(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "delmeta", delete_metadata_script)
    assert_same(reference, target)
    assert target["delete_metadata"]["status"] == 204
    assert target["latest"] == {"raised": "InvalidPath", "errors": [], "body": {"errors": []}}
    assert target["metadata"]["raised"] == "InvalidPath"


def token_script(server: KvServer, path: str) -> Observed:
    client, norm = server.hvac(), Normaliser(server, path)
    lookup = attempt(norm, client.auth.token.lookup_self)
    stranger = server.hvac(token="s.not-a-token-of-this-server")
    return {
        "lookup_shape": lookup_shape(lookup["answer"]["data"]) if "answer" in lookup else lookup,
        "lookup_envelope": {k: v for k, v in lookup.get("answer", {}).items() if k != "data"},
        "authenticated": client.is_authenticated(),
        "stranger_authenticated": stranger.is_authenticated(),
        "stranger_lookup": attempt(norm, stranger.auth.token.lookup_self),
        "stranger_read": attempt(
            norm, stranger.secrets.kv.v2.read_secret, path, raise_on_deleted_version=True
        ),
        "no_token_read": attempt(
            norm,
            server.hvac(token="").secrets.kv.v2.read_secret,
            path,
            raise_on_deleted_version=True,
        ),
    }


def test_token_lookup_self(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "token", token_script)
    assert_same(reference, target)
    assert target["authenticated"] is True
    assert target["stranger_authenticated"] is False  # hvac: 403 means "not authenticated"
    assert target["stranger_lookup"]["raised"] == "Forbidden"
    assert target["stranger_read"]["errors"] == ["permission denied"]


def health_script(server: KvServer, path: str) -> Observed:
    client = server.hvac()
    health = client.sys.read_health_status(method="GET")
    head = client.sys.read_health_status(method="HEAD")
    return {
        "get": {k: health.get(k, "missing") for k in ("initialized", "sealed", "standby")},
        "types": {
            k: type(health[k]).__name__ if k in health else "missing"
            for k in ("version", "server_time_utc")
        },
        "head": head.status_code,
    }


def test_sys_health(kv_diff: KvPair) -> None:
    reference, target = observe(kv_diff, "health", health_script)
    assert_same(reference, target)
    assert target["get"] == {"initialized": True, "sealed": False, "standby": False}
    assert target["head"] == 200


# -- the documented differences (vault-kv.md §12 and the sections it cites) -----------------


def test_noop_write_keeps_the_version(kv_server: KvServer) -> None:
    """§4, decided: the same data written twice keeps version N (Vault numbers N+1)."""
    path = unique_path("noop")
    kv_server.prepare(path)
    kv = _kv(kv_server)
    first = kv.create_or_update_secret(path, {"A": "1"})["data"]["version"]
    second = kv.create_or_update_secret(path, {"A": "1"})["data"]["version"]
    assert first == 1
    assert second == {"openbao": 2, "stacksafe": 1}[kv_server.name]
    assert kv.read_secret_metadata(path)["data"]["current_version"] == second


def test_destroy_latest(kv_server: KvServer) -> None:
    """§7.1: stacksafe never destroys a live value; OpenBao destroys the latest version."""
    path = unique_path("destroy-latest")
    kv_server.prepare(path)
    kv = _kv(kv_server)
    kv.create_or_update_secret(path, {"A": "1"})
    kv.create_or_update_secret(path, {"A": "2"})
    if kv_server.name == "openbao":
        assert kv.destroy_secret_versions(path, [2]).status_code == 204
        with pytest.raises(hvac.exceptions.InvalidPath):
            kv.read_secret(path, raise_on_deleted_version=True)
        return
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        kv.destroy_secret_versions(path, [2])
    assert refused.value.errors == [
        "stacksafe never destroys a live value; write a new value or delete first"
    ]
    assert kv.read_secret(path, raise_on_deleted_version=True)["data"]["data"] == {"A": "2"}


def test_max_versions_one_is_stored_as_two(kv_server: KvServer) -> None:
    """§4: stacksafe keeps at least 2 versions per key and says so in a warning."""
    path = unique_path("maxv")
    kv_server.prepare(path)
    kv = _kv(kv_server)
    kv.create_or_update_secret(path, {"A": "1"})
    answer = kv.update_metadata(path, max_versions=1)
    stored = kv.read_secret_metadata(path)["data"]["max_versions"]
    if kv_server.name == "openbao":
        assert answer.status_code == 204
        assert stored == 1
        return
    assert isinstance(answer, dict), f"no JSON body with a warning: {answer!r}"
    assert any("max_versions" in w and "2" in w for w in answer["warnings"] or []), answer
    assert stored == 2


def test_numbering_after_delete_metadata(kv_server: KvServer) -> None:
    """§7.1: after DELETE metadata, stacksafe numbers on from its history; Vault restarts at 1."""
    path = unique_path("renumber")
    kv_server.prepare(path)
    kv = _kv(kv_server)
    kv.create_or_update_secret(path, {"A": "1"})
    kv.create_or_update_secret(path, {"A": "2"})
    assert kv.delete_metadata_and_all_versions(path).status_code == 204
    version = kv.create_or_update_secret(path, {"A": "3"})["data"]["version"]
    assert version == {"openbao": 1, "stacksafe": 3}[kv_server.name]
    assert kv.read_secret(path, raise_on_deleted_version=True)["data"]["data"] == {"A": "3"}


def test_lookup_self_id(kv_server: KvServer) -> None:
    """§8, decided: stacksafe never shows a token value again; OpenBao echoes it as ``id``."""
    data = kv_server.hvac().auth.token.lookup_self()["data"]
    assert data["id"] == {"openbao": kv_server.token, "stacksafe": ""}[kv_server.name]


def test_non_string_value(kv_server: KvServer) -> None:
    """§5.4: stacksafe stores text: an integer is refused naming the key; KV stores any JSON."""
    path = unique_path("int")
    kv_server.prepare(path)
    kv = _kv(kv_server)
    if kv_server.name == "openbao":
        kv.create_or_update_secret(path, {"PORT": 5432})
        assert kv.read_secret(path, raise_on_deleted_version=True)["data"]["data"] == {"PORT": 5432}
        return
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        kv.create_or_update_secret(path, {"PORT": 5432})
    assert any("'PORT'" in error and "JSON string" in error for error in refused.value.errors)
    with pytest.raises(hvac.exceptions.InvalidPath):  # nothing was written
        kv.read_secret(path, raise_on_deleted_version=True)


def test_a_missing_stack(kv_server: KvServer) -> None:
    """§3, §5.4: stacksafe never creates a stack on a KV write (it needs an environment), and
    its 404s for a missing stack say so; on OpenBao any path is writable, an unwritten one
    answers 404 with no message."""
    path = unique_path("nostack")  # not prepared: no stack on stacksafe
    kv = _kv(kv_server)
    with pytest.raises(hvac.exceptions.InvalidPath) as read:
        kv.read_secret(path, raise_on_deleted_version=True)
    if kv_server.name == "openbao":
        assert read.value.errors == []
        assert kv.create_or_update_secret(path, {"A": "1"})["data"]["version"] == 1
        return
    # The 404 says which stack is missing (an unwritten path on OpenBao says nothing).
    assert any(f"'{path.split('/', 1)[1]}'" in e for e in read.value.errors), read.value
    writes: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (kv.create_or_update_secret, {"secret": {"A": "1"}}),
        (kv.update_metadata, {"max_versions": 5}),  # ESO's PushSecret writes metadata first
    ]
    for write, arguments in writes:
        with pytest.raises(hvac.exceptions.InvalidPath) as refused:
            write(path, **arguments)
        assert any("stacksafe stacks create" in error for error in refused.value.errors)
