"""Issuers and roles (core.workload.issuers, roles): only the server owner configures them, each
mistake is one clear error that changes nothing, and every change is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from stacksafe.core.access import Principal, Role
from stacksafe.core.audit_events import list_events
from stacksafe.core.workload.issuers import IssuerSource, add_issuer, list_issuers, remove_issuer
from stacksafe.core.workload.roles import ClaimBinding, RoleGrant, add_role, list_roles
from stacksafe.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.actors import LOCAL
from tests.core.workload.conftest import Site

ADMIN = Principal(name="admin@acme.test", user_id=99, account_roles={1: Role.ADMINISTRATOR})


def _names(site: Site) -> tuple[list[str], list[str]]:
    return (
        [i.name for i in list_issuers(site.installation, LOCAL)],
        [r.name for r in list_roles(site.installation, LOCAL)],
    )


def test_only_the_owner_configures_and_refusals_are_audited(site: Site) -> None:
    before = _names(site)
    with pytest.raises(Forbidden):
        add_issuer(
            site.installation, ADMIN, "x", issuer=site.issuer.url, source=IssuerSource("discovery")
        )
    with pytest.raises(Forbidden):
        add_role(
            site.installation,
            ADMIN,
            "x",
            issuer="ci",
            audiences=["a"],
            claims=[],
            grant=RoleGrant(account="acme", role="viewer"),
        )
    with pytest.raises(Forbidden):
        remove_issuer(site.installation, ADMIN, "ci")
    assert _names(site) == before
    denied = [e for e in list_events(site.installation, limit=100) if e.outcome == "denied"]
    assert {e.action for e in denied} >= {"jwt.issuer.add", "jwt.role.add", "jwt.issuer.remove"}


def _role(site: Site, name: str = "r", **grant: Any) -> None:
    fields: dict[str, object] = {"account": "acme", "role": "viewer", **grant}
    add_role(
        site.installation,
        LOCAL,
        name,
        issuer=str(fields.pop("issuer", "ci")),
        audiences=list(fields.pop("audiences", ["stacksafe"])),  # type: ignore[call-overload]
        claims=[ClaimBinding("sub", False, ("x",))],
        grant=RoleGrant(**fields),  # type: ignore[arg-type]
    )


BAD_ROLES: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"audiences": []}, InvalidInput, "needs --audience"),
    ({"audiences": ["has space"]}, InvalidInput, "no spaces"),
    ({"role": "owner"}, InvalidInput, "cannot own an account"),
    ({"role": "emperor"}, InvalidInput, "is not one of"),
    ({"scopes": ("root",)}, InvalidInput, "scopes must be chosen"),
    ({"ttl": timedelta(hours=2)}, InvalidInput, "at most the max-ttl"),
    ({"max_ttl": timedelta(days=2), "ttl": timedelta(days=2)}, InvalidInput, "24h"),
    ({"issuer": "nosuch"}, NotFound, "issuer 'nosuch' does not exist"),
    ({"account": "nosuch"}, NotFound, "does not exist"),
    ({"stacks": ["nosuch"]}, NotFound, "does not exist"),
    ({"environments": ["no such"]}, InvalidInput, "environment"),
]


def test_a_bad_role_is_one_clear_error_and_adds_nothing(site: Site) -> None:
    before = _names(site)
    for grant, error, message in BAD_ROLES:
        with pytest.raises(error, match=message):
            _role(site, **grant)
        assert _names(site) == before, grant


def test_names_are_unique_and_checked(site: Site) -> None:
    with pytest.raises(Conflict):
        _role(site, "deploy")
    with pytest.raises(InvalidInput, match="lower-case"):
        _role(site, "Bad Name")
    with pytest.raises(Conflict):
        add_issuer(
            site.installation, LOCAL, "ci", issuer=site.issuer.url, source=IssuerSource("discovery")
        )


def test_an_issuer_with_audiences_limits_what_its_roles_bind(site: Site) -> None:
    add_issuer(
        site.installation,
        LOCAL,
        "narrow",
        issuer="https://narrow.test",
        source=IssuerSource("file", jwks_text=site.issuer.jwks_text()),
        audiences=["stacksafe"],
    )
    _role(site, "fine", issuer="narrow")
    with pytest.raises(InvalidInput, match="accepts the audiences stacksafe only"):
        _role(site, "wide", issuer="narrow", audiences=["other"])


def test_an_issuer_in_use_is_not_removed(site: Site) -> None:
    with pytest.raises(Conflict, match="used by roles deploy"):
        remove_issuer(site.installation, LOCAL, "ci")
    assert "ci" in _names(site)[0]


BAD_ISSUERS: list[tuple[str, IssuerSource, str]] = [
    ("https://x.test", IssuerSource("jwks_url", url="http://192.0.2.1/keys"), "must be https"),
    ("https://x.test", IssuerSource("jwks_url", url="ftp://x/keys"), "not an https:// URL"),
    ("https://x.test", IssuerSource("file", jwks_text="{}"), "is not a JWK set"),
    ("not a url", IssuerSource("file", jwks_text="{}"), "must be the issuer's URL"),
    ("https://x.test", IssuerSource("nothing"), "give one of"),
]


def test_an_issuer_whose_keys_cannot_be_had_is_refused(site: Site) -> None:
    before = _names(site)
    for issuer, source, message in BAD_ISSUERS:
        with pytest.raises(InvalidInput, match=message):
            add_issuer(site.installation, LOCAL, "bad", issuer=issuer, source=source)
        assert _names(site) == before, message


def test_discovery_must_name_the_issuer_it_was_asked_for(site: Site) -> None:
    # The document at this URL says its issuer is site.issuer.url, not this one.
    with pytest.raises(InvalidInput, match="does not name"):
        add_issuer(
            site.installation,
            LOCAL,
            "other",
            issuer=site.issuer.url + "/",
            source=IssuerSource("discovery"),
        )


def test_the_presets_are_githubs_and_the_usual_clusters_issuer(site: Site) -> None:
    for name, preset, url in (
        ("gh", "github-actions", "https://token.actions.githubusercontent.com"),
        ("k8s", "kubernetes", "https://kubernetes.default.svc.cluster.local"),
    ):
        stored = add_issuer(
            site.installation,
            LOCAL,
            name,
            issuer=preset,
            source=IssuerSource("file", jwks_text=site.issuer.jwks_text()),
        )
        assert stored.issuer == url
