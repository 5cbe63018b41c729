"""A workload's login (core.workload.login): every validation rule refuses with its own check,
issues nothing and records the refusal; a valid JWT gets a token narrowed as its role says,
that expires, is audited at issue and at use with the role and the JWT's iss/sub/jti (never the
JWT), and is revoked when its role goes. Real keys, a real issuer over HTTP on loopback."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from joserfc import jwt as jose_jwt
from joserfc.jwk import OctKey

from stacksafe.core.audit_events import list_events
from stacksafe.core.principals import authenticate, list_tokens
from stacksafe.core.secrets import list_secrets
from stacksafe.core.tenancy import Target
from stacksafe.core.workload.issuers import IssuerSource, add_issuer
from stacksafe.core.workload.login import LoginRefused, login
from stacksafe.core.workload.roles import ClaimBinding, RoleGrant, add_role, remove_role
from stacksafe.errors import Forbidden, NotFound, Unauthenticated
from tests.actors import LOCAL
from tests.core.workload.conftest import Site
from tests.jwt_issuer import github_claims, kubernetes_claims


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _tokens(site: Site) -> int:
    return len(list_tokens(site.installation, LOCAL))


def _last_login(site: Site) -> dict[str, Any]:
    events = [
        e for e in list_events(site.installation, limit=10_000) if e.action == "auth.jwt.login"
    ]
    assert events
    newest = max(events, key=lambda e: e.seq)
    return {"outcome": newest.outcome, **newest.detail}


def _refused(site: Site, token: str, check: str, role: str = "deploy") -> None:
    before = _tokens(site)
    with pytest.raises(LoginRefused) as refused:
        login(site.installation, role, token, source_ip="198.51.100.7")
    assert refused.value.check == check
    assert refused.value.message == f"login refused ({check})"
    assert _tokens(site) == before  # nothing issued
    event = _last_login(site)
    assert event["outcome"] == "denied"
    assert event["check"] == check


def test_a_valid_token_logs_in_narrowed_as_the_role_says(site: Site) -> None:
    claims = github_claims(site.issuer.url)
    token = site.issuer.sign(claims)
    logged = login(site.installation, "deploy", token, source_ip="198.51.100.7")
    assert logged.stack_uids == (site.web.uid,)
    assert logged.scopes == ("admin", "public")
    assert logged.ttl_seconds == 15 * 60
    principal = authenticate(site.installation, logged.token)
    assert principal.name == f"jwt:deploy sub={claims['sub']} jti={claims['jti']}"
    web = {
        s.key: s.raw_value.reveal() if s.raw_value else None
        for s in list_secrets(
            site.installation, principal, Target(site.account, site.web), reveal=True
        )
    }
    assert web == {
        "SHARED": "shared-v",
        "WEB_ONLY": "web-v",
    }
    with pytest.raises((Forbidden, NotFound)):
        list_secrets(site.installation, principal, Target(site.account, site.api), reveal=True)
    issued = _last_login(site)
    assert issued["outcome"] == "ok"
    assert (issued["iss"], issued["sub"], issued["jti"]) == (
        site.issuer.url,
        claims["sub"],
        claims["jti"],
    )
    assert issued["token"] == logged.uid
    # At use: the reveal's event names the role, the sub and the jti, and the token's id.
    used = [e for e in list_events(site.installation, limit=10_000) if e.token_uid == logged.uid]
    assert used
    assert all(e.actor == principal.name for e in used)
    # The JWT itself is in no event.
    assert all(
        token not in json.dumps(e.to_json()) for e in list_events(site.installation, limit=10_000)
    )


def test_the_issued_token_expires_after_the_roles_ttl(site: Site) -> None:
    logged = login(site.installation, "deploy", site.issuer.sign(github_claims(site.issuer.url)))
    authenticate(site.installation, logged.token)
    site.installation.clock = lambda: logged.expires_at + timedelta(seconds=1)
    with pytest.raises(Unauthenticated):
        authenticate(site.installation, logged.token)


def _add_replay_refusing_role(site: Site) -> None:
    """Role ``once``: any token of the issuer for the audience, refusing a jti seen before."""
    add_role(
        site.installation,
        LOCAL,
        "once",
        issuer="ci",
        audiences=["stacksafe"],
        claims=[],
        grant=RoleGrant(account="acme", role="viewer"),
        refuse_replay=True,
    )


def _claims_with(site: Site, **changes: Any) -> dict[str, Any]:
    claims = github_claims(site.issuer.url)
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


REFUSALS: dict[str, tuple[Callable[[Site], str], str]] = {
    "wrong aud": (lambda s: s.issuer.sign(_claims_with(s, aud="someone-else")), "audience"),
    "missing aud": (lambda s: s.issuer.sign(_claims_with(s, aud=None)), "audience"),
    "expired": (
        lambda s: s.issuer.sign(_claims_with(s, exp=int(time.time()) - 120)),
        "expired",
    ),
    "not yet valid": (
        lambda s: s.issuer.sign(_claims_with(s, nbf=int(time.time()) + 600)),
        "not yet valid",
    ),
    "issued in the future": (
        lambda s: s.issuer.sign(_claims_with(s, iat=int(time.time()) + 600)),
        "issued in the future",
    ),
    "wrong iss": (
        lambda s: s.issuer.sign(_claims_with(s, iss="https://token.actions.example")),
        "issuer",
    ),
    "no exp": (lambda s: s.issuer.sign(_claims_with(s, exp=None)), "expiry"),
    "claim mismatch": (
        lambda s: s.issuer.sign(_claims_with(s, repository="acme/other")),
        "claim repository",
    ),
    "claim missing": (lambda s: s.issuer.sign(_claims_with(s, ref=None)), "claim ref"),
    "alg none": (
        lambda s: f"{_b64({'alg': 'none', 'kid': 'rsa-1'})}.{_b64(github_claims(s.issuer.url))}.",
        "algorithm",
    ),
    "HS256 with the public key as secret": (
        lambda s: jose_jwt.encode(
            {"alg": "HS256", "kid": "rsa-1"},
            github_claims(s.issuer.url),
            OctKey.import_key(json.dumps(s.issuer.jwks()["keys"][0]).encode()),
        ),
        "algorithm",
    ),
    "unknown kid": (
        lambda s: (
            s.issuer.add_key("stray", publish=False),
            s.issuer.sign(github_claims(s.issuer.url), kid="stray"),
        )[1],
        "unknown key",
    ),
    "signed by another key under a known kid": (
        lambda s: (
            s.issuer.add_key("forged", publish=False),
            s.issuer.sign(github_claims(s.issuer.url), kid="forged", header={"kid": "rsa-1"}),
        )[1],
        "signature",
    ),
    "a key in the token's own header": (
        lambda s: (
            s.issuer.add_key("ec-1", "EC"),
            s.issuer.add_key("own", "EC", publish=False),
            s.issuer.sign(
                github_claims(s.issuer.url),
                kid="own",
                header={"kid": "ec-1", "jwk": s.issuer.keys["own"].as_dict(private=False)},
            ),
        )[2],
        "signature",
    ),
    "not a JWT": (lambda s: "not.a.jwt", "malformed token"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_rule_refuses_with_its_check_and_issues_nothing(site: Site, case: str) -> None:
    make, check = REFUSALS[case]
    _refused(site, make(site), check)


def test_an_unknown_role_is_refused_as_such(site: Site) -> None:
    _refused(site, site.issuer.sign(github_claims(site.issuer.url)), "role", role="nosuch")


def test_the_leeway_forgives_small_clock_skew_only(site: Site) -> None:
    site.installation.jwt_leeway_seconds = 30
    late = site.issuer.sign(_claims_with(site, exp=int(time.time()) - 10))
    login(site.installation, "deploy", late)
    _refused(site, site.issuer.sign(_claims_with(site, exp=int(time.time()) - 60)), "expired")


def test_a_rotated_jwks_is_fetched_on_an_unknown_kid_at_most_once_in_a_while(site: Site) -> None:
    fetched = site.issuer.jwks_requests
    site.issuer.rotate("rsa-2")
    login(
        site.installation, "deploy", site.issuer.sign(github_claims(site.issuer.url), kid="rsa-2")
    )
    assert site.issuer.jwks_requests == fetched + 1
    # The old key is gone from the set the server now holds.
    _refused(site, site.issuer.sign(github_claims(site.issuer.url), kid="rsa-1"), "unknown key")
    # Made-up kids right after do not make the server fetch again.
    site.issuer.add_key("made-up", publish=False)
    _refused(site, site.issuer.sign(github_claims(site.issuer.url), kid="made-up"), "unknown key")
    assert site.issuer.jwks_requests == fetched + 1


def test_a_glob_claim_matches_a_pattern(site: Site) -> None:
    add_role(
        site.installation,
        LOCAL,
        "release",
        issuer="ci",
        audiences=["stacksafe"],
        claims=[ClaimBinding("ref", True, ("refs/heads/release/*",))],
        grant=RoleGrant(account="acme", role="viewer"),
    )
    ok = site.issuer.sign(_claims_with(site, ref="refs/heads/release/1.2"))
    assert login(site.installation, "release", ok).role == "release"
    no = site.issuer.sign(_claims_with(site, ref="refs/heads/main"))
    _refused(site, no, "claim ref", role="release")


def test_a_replayed_jti_is_refused_by_a_role_that_asks(site: Site) -> None:
    token = site.issuer.sign(github_claims(site.issuer.url))
    login(site.installation, "deploy", token)
    login(site.installation, "deploy", token)  # by default a token may log in again
    _add_replay_refusing_role(site)
    login(site.installation, "once", token)
    _refused(site, token, "replayed token", role="once")
    _refused(site, site.issuer.sign(_claims_with(site, jti=None)), "jti", role="once")


def test_kubernetes_service_account_tokens_from_an_exported_jwks_file(site: Site) -> None:
    add_issuer(
        site.installation,
        LOCAL,
        "cluster",
        issuer="https://kubernetes.default.svc.cluster.local",
        source=IssuerSource("file", jwks_text=site.issuer.jwks_text()),
    )
    add_role(
        site.installation,
        LOCAL,
        "shop-web",
        issuer="cluster",
        audiences=["stacksafe"],
        claims=[
            ClaimBinding("sub", False, ("system:serviceaccount:shop:web",)),
            ClaimBinding("kubernetes.io.namespace", False, ("shop",)),
            ClaimBinding("/kubernetes.io/serviceaccount/name", False, ("web",)),
        ],
        grant=RoleGrant(account="acme", role="deployer", stacks=["web"]),
    )
    cluster = "https://kubernetes.default.svc.cluster.local"
    token = site.issuer.sign(kubernetes_claims(cluster))
    assert login(site.installation, "shop-web", token, method="kubernetes").role == "shop-web"
    other = site.issuer.sign(kubernetes_claims(cluster, namespace="other"))
    _refused(site, other, "claim sub", role="shop-web")


def test_removing_the_role_revokes_its_tokens_at_once(site: Site) -> None:
    logged = login(site.installation, "deploy", site.issuer.sign(github_claims(site.issuer.url)))
    authenticate(site.installation, logged.token)
    assert remove_role(site.installation, LOCAL, "deploy") == [logged.uid]
    with pytest.raises(Unauthenticated):
        authenticate(site.installation, logged.token)
    _refused(site, site.issuer.sign(github_claims(site.issuer.url)), "role")


def test_a_replay_refusing_role_remembers_a_jti_through_the_leeway(site: Site) -> None:
    _add_replay_refusing_role(site)
    late = site.issuer.sign(_claims_with(site, exp=int(time.time()) - 5))  # within the leeway
    login(site.installation, "once", late)
    _refused(site, late, "replayed token", role="once")
    huge = site.issuer.sign(_claims_with(site, exp=10**30))
    _refused(site, huge, "expiry", role="once")


def test_a_login_racing_the_roles_removal_issues_no_live_token(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stacksafe.core.workload.login as module

    checked = module._signed

    def removed_meanwhile(*args: Any) -> dict[str, Any]:
        claims = checked(*args)
        remove_role(site.installation, LOCAL, "deploy")  # between the checks and the issue
        return claims

    monkeypatch.setattr(module, "_signed", removed_meanwhile)
    _refused(site, site.issuer.sign(github_claims(site.issuer.url)), "role")


def test_keys_older_than_an_hour_are_fetched_again_before_use(site: Site) -> None:
    withdrawn = site.issuer.sign(github_claims(site.issuer.url))  # by rsa-1
    site.issuer.rotate("rsa-2")  # rsa-1 withdrawn, nothing signed by rsa-2 yet
    login(site.installation, "deploy", withdrawn)  # the keys kept are recent: still trusted
    fetched = site.issuer.jwks_requests
    later = site.installation.clock() + timedelta(hours=2)
    site.installation.clock = lambda: later
    _refused(site, site.issuer.sign(github_claims(site.issuer.url)), "unknown key")
    assert site.issuer.jwks_requests == fetched + 1
