"""crypto.jwt: an issuer's key set holds public signing keys only, and a signature is checked
with the asymmetric algorithms issuers use (RS256, ES256, EdDSA and RFC 9864's Ed25519)."""

from __future__ import annotations

import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, OKPKey, RSAKey

from stacksafe.crypto.jwt import JwkSet, JwtRefused, verified_claims
from tests.jwt_issuer import Issuer

CLAIMS = {"iss": "https://issuer.test", "aud": "stacksafe", "exp": int(time.time()) + 60}


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("not json", "is not JSON"),
        ("[]", "is not a JWK set"),
        ('{"keys": []}', "is not a JWK set"),
        (json.dumps({"keys": [OctKey.generate_key(256).as_dict()]}), "no public signing key"),
        (
            json.dumps({"keys": [RSAKey.generate_key(2048).as_dict(private=True)]}),
            "holds a private key",
        ),
        (json.dumps({"keys": [{"kty": "RSA", "n": "AQAB"}]}), "cannot be read"),
    ],
    ids=["not json", "a list", "no keys", "symmetric", "private", "broken"],
)
def test_a_key_set_is_public_signing_keys_only(document: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        JwkSet(document, "the file")


def test_keys_meant_for_encryption_are_left_out() -> None:
    issuer = Issuer()
    sealing = RSAKey.generate_key(2048, parameters={"kid": "enc", "use": "enc"})
    document = {"keys": [*issuer.jwks()["keys"], sealing.as_dict(private=False)]}
    assert JwkSet(json.dumps(document), "x").key_ids == ("rsa-1",)


@pytest.mark.parametrize(("kind", "alg"), [("RSA", "RS256"), ("EC", "ES256"), ("OKP", "EdDSA")])
def test_issuers_algorithms_verify(kind: str, alg: str) -> None:
    issuer = Issuer()
    issuer.add_key("k", kind)
    keys = JwkSet(issuer.jwks_text(), "x")
    assert verified_claims(issuer.sign(CLAIMS, kid="k", alg=alg), keys) == CLAIMS


def test_ed25519_by_its_rfc_9864_name_verifies() -> None:
    key = OKPKey.generate_key("Ed25519", parameters={"kid": "ed"})
    keys = JwkSet(json.dumps({"keys": [key.as_dict(private=False)]}), "x")
    token = jwt.encode({"alg": "Ed25519", "kid": "ed"}, CLAIMS, key, algorithms=["Ed25519"])
    assert verified_claims(token, keys) == CLAIMS


def test_a_payload_that_is_not_a_json_object_is_malformed() -> None:
    issuer = Issuer()
    keys = JwkSet(issuer.jwks_text(), "x")
    token = jwt.encode({"alg": "RS256", "kid": "rsa-1"}, CLAIMS, issuer.keys["rsa-1"])
    head, _, signature = token.split(".")
    with pytest.raises(JwtRefused) as refused:
        verified_claims(f"{head}.bm90IGpzb24.{signature}", keys)
    assert refused.value.check in ("malformed token", "signature")
