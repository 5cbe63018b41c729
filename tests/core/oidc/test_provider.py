"""core.oidc.provider: configuring the provider people sign in with (server owner only),
from its discovery document, the client secret sealed, shown never."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from stacksafe.core.access import Principal, Role
from stacksafe.core.audit_events import list_events
from stacksafe.core.oidc.provider import (
    GroupMapping,
    client_secret,
    password_sign_in_allowed,
    provider_of,
    remove_provider,
    show_provider,
    sso_enabled,
)
from stacksafe.core.server_keys import SETTINGS_SEAL, keyed_hash
from stacksafe.crypto.sealed_setting import open_setting, seal_setting
from stacksafe.errors import Forbidden, IntegrityError, InvalidInput, NotFound
from stacksafe.model import SecretValue
from stacksafe.store.identity_tables import oidc_provider
from tests.actors import LOCAL
from tests.core.oidc.conftest import CLIENT_ID, SECRET, Site


def test_the_client_secret_is_sealed_at_rest_and_shown_nowhere(site: Site) -> None:
    installation = site.installation
    with installation.store.read() as conn:
        row = conn.execute(select(oidc_provider)).one()
    stored = bytes(row.client_secret_sealed)
    assert SECRET.encode() not in stored
    for value in row:
        assert SECRET not in str(value)
    found = provider_of(installation)
    assert found is not None
    assert SECRET not in repr(found)
    assert client_secret(installation, found).reveal() == SECRET
    event = list_events(installation, limit=1)[0]
    assert event.action == "oidc.configure"
    assert SECRET not in str(event.detail)
    assert event.detail["client_id"] == CLIENT_ID
    assert event.detail["group_roles"] == [
        "acme-admins=acme:administrator",
        "acme-devs=acme:developer",
        "acme-viewers=acme:viewer",
    ]


def test_a_sealed_setting_moved_or_altered_does_not_open(site: Site) -> None:
    key = keyed_hash(site.installation, SETTINGS_SEAL)
    sealed = seal_setting(key, "oidc.client_secret", b"s3cret")
    assert open_setting(key, "oidc.client_secret", sealed) == b"s3cret"
    with pytest.raises(IntegrityError, match="altered or moved"):
        open_setting(key, "another.setting", sealed)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(IntegrityError, match="altered or moved"):
        open_setting(key, "oidc.client_secret", flipped)
    with pytest.raises(IntegrityError, match="truncated"):
        open_setting(key, "oidc.client_secret", sealed[:10])
    with pytest.raises(ValueError, match="settings-seal"):
        seal_setting(keyed_hash(site.installation, "token-hash"), "x", b"y")


def test_endpoints_and_keys_come_from_discovery(site: Site) -> None:
    found, roles = show_provider(site.installation, LOCAL)
    assert found.authorization_endpoint == f"{site.issuer.url}/authorize"
    assert found.token_endpoint == f"{site.issuer.url}/token"
    assert found.jwks_uri == f"{site.issuer.url}/keys"
    assert found.token_auth_method == "client_secret_basic"
    assert found.scopes == ("openid", "email", "profile")
    assert found.allowed_domains == ("acme.test",)
    assert [(r.group, r.account_name, r.role) for r in roles] == [
        ("acme-admins", "acme", "administrator"),
        ("acme-devs", "acme", "developer"),
        ("acme-viewers", "acme", "viewer"),
    ]
    site.issuer.auth_methods = ["client_secret_post", "private_key_jwt"]
    site.configure(scopes=["groups"])
    found, _ = show_provider(site.installation, LOCAL)
    assert found.token_auth_method == "client_secret_post"
    assert found.scopes == ("openid", "email", "profile", "groups")
    site.issuer.auth_methods = ["private_key_jwt"]
    with pytest.raises(InvalidInput, match="neither client_secret_basic nor client_secret_post"):
        site.configure()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mappings": [GroupMapping("g", "acme", "owner")]}, "any account role but owner"),
        ({"mappings": [GroupMapping("g", "nowhere", "viewer")]}, "does not exist"),
        ({"groups_claim": None}, "--map-group needs --groups-claim"),
        ({"allowed_domains": ["not a domain"]}, "is not a domain name"),
        ({"client_id": ""}, "--client-id"),
        ({"issuer": "ftp://idp"}, "must be the provider's URL"),
        ({"scopes": ["bad scope"]}, "is not a scope name"),
        (
            {
                "mappings": [
                    GroupMapping("g", "acme", "viewer"),
                    GroupMapping("g", "acme", "developer"),
                ]
            },
            "mapped twice",
        ),
    ],
)
def test_a_bad_configuration_is_refused_and_the_old_one_kept(
    site: Site, changes: dict[str, object], message: str
) -> None:
    with pytest.raises((InvalidInput, NotFound), match=message):
        site.configure(**changes)
    found, roles = show_provider(site.installation, LOCAL)
    assert found.client_id == CLIENT_ID
    assert len(roles) == 3


def test_a_provider_that_cannot_be_discovered_is_refused(site: Site) -> None:
    with pytest.raises(InvalidInput, match="discovery document"):
        site.configure(issuer=site.issuer.url + "/elsewhere")


def test_a_mapping_is_parsed_from_the_command_line() -> None:
    assert GroupMapping.parse("team=a:b=acme:viewer") == GroupMapping("team=a:b", "acme", "viewer")
    with pytest.raises(InvalidInput, match="GROUP=ACCOUNT:ROLE"):
        GroupMapping.parse("team-acme-viewer")


def test_only_the_server_owner_configures_it(site: Site) -> None:
    admin = Principal(name="admin@acme.test", user_id=99, account_roles={1: Role.ADMINISTRATOR})
    with pytest.raises(Forbidden, match="only the server owner may configure single sign-on"):
        show_provider(site.installation, admin)
    with pytest.raises(Forbidden):
        remove_provider(site.installation, admin)
    denied = list_events(site.installation, limit=1)[0]
    assert (denied.action, denied.outcome) == ("oidc.remove", "denied")


def test_password_sign_in_can_be_switched_off_and_removing_sso_switches_it_on(
    site: Site,
) -> None:
    assert password_sign_in_allowed(site.installation)
    site.configure(password_sign_in=False)
    assert not password_sign_in_allowed(site.installation)
    remove_provider(site.installation, LOCAL)
    assert password_sign_in_allowed(site.installation)
    assert not sso_enabled(site.installation)
    assert list_events(site.installation, limit=1)[0].action == "oidc.remove"
    with pytest.raises(NotFound, match="not configured"):
        remove_provider(site.installation, LOCAL)
    with pytest.raises(NotFound, match="not configured"):
        show_provider(site.installation, LOCAL)


def test_settings_have_no_secret_in_their_repr(site: Site) -> None:
    found = provider_of(site.installation)
    assert found is not None
    assert "client_secret_sealed" not in repr(found)
    fields = {f.name: f.repr for f in dataclasses.fields(found)}
    assert fields["client_secret_sealed"] is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"token_endpoint": None}, "has no token_endpoint"),
        ({"token_endpoint": "http://idp.example.test/token"}, "must be https://"),
        ({"response_types_supported": ["id_token"]}, "authorization code flow"),
        ({"code_challenge_methods_supported": ["plain"]}, "PKCE with S256"),
        ({"jwks_uri": "https://127.0.0.1:1/keys"}, "the provider's keys"),
    ],
)
def test_a_provider_without_what_the_flow_needs_is_refused(
    site: Site, changes: dict[str, object], message: str
) -> None:
    site.issuer.discovery_changes = changes
    with pytest.raises(InvalidInput, match=message):
        site.configure()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"client_secret": SecretValue("")}, "client secret file must hold the secret"),
        ({"groups_claim": ""}, "--groups-claim must be 1-128 characters"),
        ({"mappings": [GroupMapping("g" * 257, "acme", "viewer")]}, "over 256 characters"),
    ],
)
def test_bad_settings_are_refused(site: Site, changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        site.configure(**changes)
