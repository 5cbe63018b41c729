"""JSON Web Tokens a workload logs in with: its issuer's keys, its signature and its registered
claims, through joserfc (docs/dependencies.md), never parsed by hand.

The key that checks a signature comes only from the issuer's key set (``JwkSet``), chosen by the
token's ``kid``: never from the token's own header (``jwk``, ``jku``, ``x5u``, ``x5c`` are not
looked at), never a symmetric key (an HS256 token "signed" with a public key as its secret is
refused for its algorithm), and ``none`` is never an algorithm. What failed is said by the
exception's ``check`` (for the audit log and a message that helps no forger).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from typing import Any

# joserfc is imported by the functions that use it: every server and local command builds an
# installation, and only a JWT's check needs joserfc (and, through it, most of
# cryptography's X.509 and key modules: bench/README.md, "Start-up").

__all__ = [
    "ALGORITHMS",
    "JwkSet",
    "JwtRefused",
    "UnknownKey",
    "check_registered_claims",
    "verified_claims",
]

# Asymmetric signatures only: what OIDC issuers, GitHub Actions and Kubernetes sign with.
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
    "Ed25519",  # RFC 9864's name for EdDSA over Ed25519
)
# joserfc warns on every EdDSA check (RFC 9864 deprecates the name in favour of "Ed25519"), but
# issuers sign with it today; the warning says nothing an operator could act on.
# (Matched by its message: its class, joserfc's SecurityWarning, is not imported yet.)
warnings.filterwarnings("ignore", "EdDSA is deprecated via RFC 9864")
_PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})


class JwtRefused(Exception):
    """The token is not accepted; ``check`` names the check that failed."""

    def __init__(self, check: str, detail: str = "") -> None:
        super().__init__(check if not detail else f"{check}: {detail}")
        self.check, self.detail = check, detail


class UnknownKey(JwtRefused):
    """No key of the issuer's set has the token's ``kid``: the set may need fetching again."""


class JwkSet:
    """An issuer's public keys, from its JWK set document (``{"keys": [...]}``)."""

    def __init__(self, text: str, where: str) -> None:
        try:
            document = json.loads(text)
        except ValueError:
            raise ValueError(f"{where} is not JSON") from None
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list) or not keys:
            raise ValueError(f'{where} is not a JWK set (an object with a "keys" list)')
        kept: list[dict[str, Any]] = []
        for key in keys:
            if not isinstance(key, dict) or key.get("kty") not in _PUBLIC_KEY_TYPES:
                continue  # a symmetric or unknown key never checks a signature here
            if key.get("use", "sig") != "sig":
                continue
            if _PRIVATE_MEMBERS & key.keys():
                raise ValueError(f"{where} holds a private key: give the public keys only")
            kept.append(key)
        if not kept:
            raise ValueError(f"{where} has no public signing key (RSA, EC or OKP)")
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        try:
            self._keys = KeySet.import_key_set({"keys": kept})
        except (JoseError, ValueError, TypeError) as exc:
            raise ValueError(
                f"{where} has a key that cannot be read ({type(exc).__name__})"
            ) from None
        self.text = json.dumps({"keys": kept}, sort_keys=True)
        self.key_ids = tuple(str(k.get("kid", "")) for k in kept)


def verified_claims(token: str, keys: JwkSet) -> dict[str, Any]:
    """The claims of ``token`` once its signature checks out against ``keys``.

    Raises ``UnknownKey`` when its ``kid`` is not in the set, ``JwtRefused`` for anything else.
    """
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError, JoseError, UnsupportedAlgorithmError

    try:
        decoded = jwt.decode(token, keys._keys, algorithms=ALGORITHMS)
    except InvalidKeyIdError:
        raise UnknownKey("unknown key", "no key of the issuer has the token's kid") from None
    except UnsupportedAlgorithmError:
        raise JwtRefused("algorithm", "only asymmetric signatures are accepted") from None
    except JoseError as exc:
        check = "signature" if exc.error == "bad_signature" else "malformed token"
        raise JwtRefused(check, exc.error) from None
    except (ValueError, TypeError, KeyError):
        raise JwtRefused("malformed token") from None
    return dict(decoded.claims)


def check_registered_claims(
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audiences: tuple[str, ...],
    now: Callable[[], int],
    leeway: int,
) -> None:
    """``iss`` is ``issuer``; ``aud`` holds one of ``audiences`` (required: a token without an
    audience is refused); ``exp`` is required and in the future; ``nbf`` and ``iat`` are not in
    the future; each within ``leeway`` seconds."""
    from joserfc import jwt
    from joserfc.errors import ExpiredTokenError, InvalidClaimError, MissingClaimError

    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "values": list(audiences)},
        exp={"essential": True},
    )
    try:
        registry.validate(dict(claims))
    except ExpiredTokenError:
        raise JwtRefused("expired") from None
    except MissingClaimError as exc:
        raise JwtRefused(_claim_check(exc.claim.split(",")[0]), "missing") from None
    except InvalidClaimError as exc:
        raise JwtRefused(_claim_check(exc.claim, exc.description)) from None


def _claim_check(claim: str, description: str = "") -> str:
    if claim == "nbf":
        return "not yet valid"
    if claim == "iat":
        return "issued in the future" if "future" in description else "iat"
    if claim == "exp":
        return "expiry"
    if claim == "iss":
        return "issuer"
    if claim == "aud":
        return "audience"
    return claim
