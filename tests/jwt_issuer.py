"""A JWT issuer the tests run on loopback: its own keys (made by joserfc), a real HTTP server
serving its OpenID discovery document and JWK set, and tokens shaped like GitHub Actions' and
Kubernetes' (their claims as those platforms document them). The keys can be rotated, and the
server counts the requests for its JWK set.

For the core tests of people's sign-in (tests/core/oidc) it also has a token endpoint: it
answers what the test put in ``token_answers`` (an ID token the test signed, or an error) and
keeps each request's form and Authorization header in ``token_requests``. The flow itself, with
a real provider deciding what to sign, is tested in tests/e2e/sso against oidc-provider."""

from __future__ import annotations

import functools
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from tests.serving import serving

__all__ = [
    "CLUSTER",
    "Issuer",
    "github_claims",
    "kubernetes_claims",
    "running_issuer",
    "trust_cluster",
]

Key = RSAKey | ECKey | OKPKey


def github_claims(
    issuer: str,
    *,
    audience: str = "stacksafe",
    repository: str = "acme/web",
    ref: str = "refs/heads/main",
    environment: str | None = "production",
) -> dict[str, Any]:
    """The claims of a GitHub Actions OIDC token (docs.github.com: "About security hardening
    with OpenID Connect")."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "jti": str(uuid.uuid4()),
        "sub": f"repo:{repository}:ref:{ref}",
        "aud": audience,
        "ref": ref,
        "sha": "d3adb33f" * 5,
        "repository": repository,
        "repository_owner": repository.split("/")[0],
        "run_id": "5521",
        "workflow": "deploy",
        "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
        "event_name": "push",
        "ref_type": "branch",
        "iss": issuer,
        "nbf": now - 5,
        "exp": now + 300,
        "iat": now - 5,
    }
    if environment is not None:
        claims["environment"] = environment
    return claims


def kubernetes_claims(
    issuer: str,
    *,
    audience: str = "stacksafe",
    namespace: str = "shop",
    service_account: str = "web",
) -> dict[str, Any]:
    """The claims of a projected service-account token (kubernetes.io: "Service account token
    volume projection")."""
    now = int(time.time())
    return {
        "aud": [audience],
        "exp": now + 600,
        "iat": now,
        "iss": issuer,
        "jti": str(uuid.uuid4()),
        "kubernetes.io": {
            "namespace": namespace,
            "pod": {"name": f"{service_account}-7d9f", "uid": str(uuid.uuid4())},
            "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
        },
        "nbf": now,
        "sub": f"system:serviceaccount:{namespace}:{service_account}",
    }


@functools.cache
def _generated(kind: str, kid: str) -> Key:
    """A key per (kind, kid) and test process: an RSA key takes a tenth of a second to make,
    and every test starts an issuer. Keys of different kids are different keys."""
    if kind == "RSA":
        return RSAKey.generate_key(2048, parameters={"kid": kid})
    if kind == "EC":
        return ECKey.generate_key("P-256", parameters={"kid": kid})
    return OKPKey.generate_key("Ed25519", parameters={"kid": kid})


class Issuer:
    """Keys by kid; the JWK set served is the public half of ``published``."""

    def __init__(self) -> None:
        self.keys: dict[str, Key] = {}
        self.published: list[str] = []
        self.url = ""
        self.jwks_requests = 0
        self.auth_methods = ["client_secret_basic", "client_secret_post"]
        self.token_answers: list[tuple[int, dict[str, Any] | bytes]] = []
        self.discovery_changes: dict[str, Any] = {}  # members of the discovery document changed
        self.keys_down = False  # the JWK set answers 503
        self.token_requests: list[tuple[dict[str, str], str | None]] = []
        self.add_key("rsa-1", "RSA")

    def add_key(self, kid: str, kind: str = "RSA", *, publish: bool = True) -> Key:
        key = _generated(kind, kid)
        self.keys[kid] = key
        if publish:
            self.published.append(kid)
        return key

    def rotate(self, kid: str) -> None:
        """A new key published, the old ones withdrawn (as an issuer rotates)."""
        self.add_key(kid)
        self.published = [kid]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.keys[k].as_dict(private=False) for k in self.published]}

    def jwks_text(self) -> str:
        return json.dumps(self.jwks())

    def sign(
        self,
        claims: Mapping[str, Any],
        *,
        kid: str = "rsa-1",
        alg: str | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> str:
        key = self.keys[kid]
        chosen = alg or {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}[key.key_type]
        # The payload as ASCII JSON (any text escaped, a lone surrogate too), as an issuer
        # could send it; joserfc's jwt.encode would refuse to encode such a claim.
        return jws.serialize_compact(
            {"alg": chosen, "kid": kid, "typ": "JWT", **(header or {})},
            json.dumps(dict(claims)).encode("ascii"),
            key,
            algorithms=[chosen],
        )


def _handler(issuer: Issuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body: dict[str, Any] = {
                    "issuer": issuer.url,
                    "jwks_uri": f"{issuer.url}/keys",
                    "authorization_endpoint": f"{issuer.url}/authorize",
                    "token_endpoint": f"{issuer.url}/token",
                    "token_endpoint_auth_methods_supported": issuer.auth_methods,
                    "code_challenge_methods_supported": ["S256"],
                    "response_types_supported": ["code", "id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    **issuer.discovery_changes,
                }
            elif self.path == "/keys":
                issuer.jwks_requests += 1
                if issuer.keys_down:
                    self.send_error(503)
                    return
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            self._answer(200, body)

        def do_POST(self) -> None:
            if self.path != "/token":
                self.send_error(404)
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            issuer.token_requests.append((form, self.headers.get("Authorization")))
            status, body = issuer.token_answers.pop(0) if issuer.token_answers else (400, {})
            self._answer(status, body)

        def _answer(self, status: int, body: dict[str, Any] | bytes) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    """An issuer served on 127.0.0.1 (``issuer.url``) for the length of the block."""
    issuer = Issuer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(issuer))
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield issuer


CLUSTER = "https://kubernetes.default.svc.cluster.local"


class _Cli(Protocol):
    def ok(self, *args: str) -> object: ...


def trust_cluster(cli: _Cli, issuer: Issuer, directory: Path, roles: Mapping[str, str]) -> None:
    """With `stacksafe auth jwt`: ``issuer``'s keys trusted as the cluster ``CLUSTER`` (a JWKS
    file, as exported from a cluster), and a role per name (its ttl) for the service account
    ``shop:web``, as deployer of acme's stack ``web``."""
    keys = directory / "jwks.json"
    keys.write_text(issuer.jwks_text())
    cli.ok("auth", "jwt", "add-issuer", "cluster", "--issuer", CLUSTER, "--jwks-file", str(keys))
    for role, ttl in roles.items():
        cli.ok(
            "auth", "jwt", "add-role", role, "--issuer", "cluster", "--audience", "stacksafe",
            "--claim", "sub=system:serviceaccount:shop:web", "--account", "acme",
            "--role", "deployer", "--stack", "web", "--ttl", ttl, "--max-ttl", "1h",
        )  # fmt: skip
