"""hvac's workload logins (``client.auth.jwt.jwt_login``, ``client.auth.kubernetes.login``)
against OpenBao and stacksafe with the same JWTs (issue 19): OpenBao's JWT auth configured with
the issuer's public key, its ``bound_issuer``, the role's audience and claims, stacksafe with the
same through `stacksafe auth jwt`. Every JWT gets the same outcome from both (a token, or hvac's
``InvalidRequest``: Vault answers refused logins 400), and the ``auth`` blocks have the same
members. The Kubernetes login goes to a JWT mount named ``kubernetes`` on OpenBao: Vault's docs
recommend JWT auth against the cluster's keys for short-lived service-account tokens, and
OpenBao's Kubernetes auth would need a cluster's TokenReview API."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import hvac
import hvac.exceptions
import pytest

from tests.e2e.conftest import Served
from tests.e2e.vault.conftest import KvServer
from tests.jwt_issuer import Issuer, github_claims, kubernetes_claims

ISSUER = "https://token.actions.githubusercontent.com"
CLUSTER = "https://kubernetes.default.svc.cluster.local"


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="module")
def configured(
    issuer: Issuer,
    openbao: KvServer,
    stacksafe_served: Served,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[KvServer, KvServer]:
    root = openbao.hvac()
    pem = issuer.keys["rsa-1"].as_pem(private=False).decode()
    enabled = root.sys.list_auth_methods()
    for mount, bound_issuer, claims in (
        ("jwt", ISSUER, {"repository": "acme/web"}),
        ("kubernetes", CLUSTER, {"sub": "system:serviceaccount:shop:web"}),
    ):
        if f"{mount}/" not in enabled:
            root.sys.enable_auth_method("jwt", path=mount)
        root.write(f"auth/{mount}/config", jwt_validation_pubkeys=[pem], bound_issuer=bound_issuer)
        root.write(
            f"auth/{mount}/role/deploy",
            role_type="jwt",
            user_claim="sub",
            bound_audiences=["stacksafe"],
            bound_claims=claims,
            token_ttl="15m",
            token_policies=["default"],
        )
    keys = tmp_path_factory.mktemp("jwks") / "jwks.json"
    keys.write_text(issuer.jwks_text())
    cli = stacksafe_served.local.in_process()
    for name, url in (("ci", ISSUER), ("cluster", CLUSTER)):
        cli.ok("auth", "jwt", "add-issuer", name, "--issuer", url, "--jwks-file", str(keys))
    cli.ok(
        "auth", "jwt", "add-role", "deploy", "--issuer", "ci", "--audience", "stacksafe",
        "--claim", "repository=acme/web", "--account", "acme", "--role", "deployer",
        "--stack", "web",
    )  # fmt: skip
    cli.ok(
        "auth", "jwt", "add-role", "shop-web", "--issuer", "cluster", "--audience", "stacksafe",
        "--claim", "sub=system:serviceaccount:shop:web", "--account", "acme",
        "--role", "deployer", "--stack", "web",
    )  # fmt: skip
    cli.ok("secrets", "set", "WEB_KEY=web-v", "--stack", "web", "--account", "acme")
    ours = KvServer("stacksafe", stacksafe_served.address, "", stacksafe_served.ca)
    return openbao, ours


def _outcome(login: Callable[[], Any]) -> dict[str, Any]:
    try:
        answer = login()
    except hvac.exceptions.InvalidRequest as exc:
        return {"refused": 400, "errors": len(exc.errors or [])}
    auth = answer["auth"]
    return {
        "keys": sorted(auth),
        "lease_duration": auth["lease_duration"],
        "has_token": bool(auth["client_token"]),
        "role": auth["metadata"]["role"],
    }


def _now() -> int:
    return int(time.time())


GITHUB_CASES: dict[str, Callable[[], dict[str, Any]]] = {
    "valid": lambda: github_claims(ISSUER),
    "wrong aud": lambda: github_claims(ISSUER, audience="elsewhere"),
    "other repository": lambda: github_claims(ISSUER, repository="acme/other"),
    "expired": lambda: {
        **github_claims(ISSUER),
        "exp": _now() - 600,
        "iat": _now() - 900,
        "nbf": _now() - 900,
    },
    "wrong iss": lambda: github_claims("https://gitlab.example"),
}


@pytest.mark.parametrize("case", list(GITHUB_CASES))
def test_jwt_login_same_outcome_as_openbao(
    configured: tuple[KvServer, KvServer], issuer: Issuer, case: str
) -> None:
    token = issuer.sign(GITHUB_CASES[case]())
    reference, ours = configured

    def jwt_login(server: KvServer) -> Any:
        return server.hvac(token="").auth.jwt.jwt_login("deploy", token, path="jwt")

    seen = [_outcome(functools.partial(jwt_login, server)) for server in (reference, ours)]
    if case == "valid":
        assert seen[1] == seen[0]
        assert "refused" not in seen[1]
    else:
        assert seen[0] == seen[1] == {"refused": 400, "errors": 1}


def test_kubernetes_login_same_outcome_as_openbao(
    configured: tuple[KvServer, KvServer], issuer: Issuer
) -> None:
    reference, ours = configured
    roles = {"openbao": "deploy", "stacksafe": "shop-web"}

    def kubernetes_login(server: KvServer, token: str) -> Any:
        return server.hvac(token="").auth.kubernetes.login(roles[server.name], token)

    for namespace, accepted in (("shop", True), ("other", False)):
        token = issuer.sign(kubernetes_claims(CLUSTER, namespace=namespace))
        seen = [
            _outcome(functools.partial(kubernetes_login, server, token))
            for server in (reference, ours)
        ]
        assert ("refused" not in seen[0]) is accepted
        assert ("refused" not in seen[1]) is accepted
        if accepted:
            assert seen[0]["keys"] == seen[1]["keys"]


def test_the_token_hvac_got_reads_its_stack_and_nothing_else(
    configured: tuple[KvServer, KvServer], issuer: Issuer
) -> None:
    _, ours = configured
    client = ours.hvac(token="")
    client.auth.jwt.jwt_login("deploy", issuer.sign(github_claims(ISSUER)), path="jwt")
    assert client.is_authenticated()
    read = client.secrets.kv.v2.read_secret_version(
        path="acme/web", mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"WEB_KEY": "web-v"}
    with pytest.raises(hvac.exceptions.Forbidden):
        client.secrets.kv.v2.read_secret_version(
            path="acme/dev", mount_point="secret", raise_on_deleted_version=True
        )
    client.auth.token.revoke_self()
    assert not client.is_authenticated()
