"""core.oidc.flow: the code flow's checks, each refusal naming its check with nothing created;
users by verified email; group roles applied at every sign-in; the session a password sign-in
would open."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta
from typing import Any

import pytest

from stacksafe.core.audit_events import list_events
from stacksafe.core.oidc.flow import (
    FLOW_SECONDS,
    Callback,
    SignInRefused,
    finish_sign_in,
    start_sign_in,
)
from stacksafe.core.oidc.provider import remove_provider
from stacksafe.core.principals import create_user, set_password
from stacksafe.core.sessions import SessionPolicy, session_principal, start_session
from stacksafe.errors import NotFound, Throttled
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.clock import Clock
from tests.core.oidc.conftest import CLIENT_ID, REDIRECT, SECRET, Site, id_claims


def _refused(site: Site, check: str, **overrides: Any) -> None:
    before = site.users()
    with pytest.raises(SignInRefused, match=rf"single sign-on refused \({check}\)"):
        site.sign_in(**overrides)
    assert site.users() == before
    event = list_events(site.installation, limit=1)[0]
    assert (event.action, event.outcome) == ("session.start", "denied")
    assert event.detail["check"] == check
    assert event.detail["method"] == "sso"
    assert event.source_ip == "192.0.2.7"


def test_the_first_sign_in_creates_the_user_with_the_mapped_role(site: Site) -> None:
    signed_in = site.sign_in()
    assert signed_in.email == "ada@acme.test"
    assert site.users()["ada@acme.test"] == {site.acme.id: "administrator"}
    principal = session_principal(site.installation, signed_in.session.secret, SessionPolicy())
    assert principal.name == "ada@acme.test"
    assert principal.token_uid == signed_in.session.uid
    start, roles = list_events(site.installation, limit=2)
    assert (start.action, start.detail["method"], start.detail["sub"]) == (
        "session.start",
        "sso",
        "user-1",
    )
    assert start.detail["iss"] == site.issuer.url
    assert start.token_uid == signed_in.session.uid
    assert roles.action == "oidc.roles"
    assert roles.detail == {
        "user": "ada@acme.test",
        "created": True,
        "granted": {"acme": "administrator"},
        "removed": [],
    }


def test_the_code_is_exchanged_with_the_pkce_verifier_and_the_client_secret(site: Site) -> None:
    secret, query = site.start()
    assert query["code_challenge_method"] == "S256"
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"] == "openid email profile"
    token = site.issuer.sign(id_claims(site.issuer, query["nonce"]))
    site.issuer.token_answers.append((200, {"id_token": token}))
    site.finish(secret, query["state"], code="code-42")
    form, authorization = site.issuer.token_requests[-1]
    verifier = form["code_verifier"]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert challenge.decode() == query["code_challenge"]
    assert form["code"] == "code-42"
    assert form["grant_type"] == "authorization_code"
    assert form["redirect_uri"] == REDIRECT
    assert "client_secret" not in form
    # RFC 6749 2.3.1: the secret's ':' and '%' form-encoded inside the Basic credentials.
    expected = base64.b64encode(f"{CLIENT_ID}:the-client-secret%3A%25%26".encode()).decode()
    assert authorization == f"Basic {expected}"


def test_client_secret_post_when_the_provider_takes_only_that(site: Site) -> None:
    site.issuer.auth_methods = ["client_secret_post"]
    site.configure()
    site.sign_in()
    form, authorization = site.issuer.token_requests[-1]
    assert (form["client_id"], form["client_secret"], authorization) == (CLIENT_ID, SECRET, None)


def test_group_roles_follow_the_groups_at_every_sign_in(site: Site) -> None:
    # A role granted by hand in an account no mapping names is left alone.
    create_user(site.installation, LOCAL, "ada@acme.test", "beta", "deployer")
    site.sign_in(groups=["acme-viewers"])
    assert site.users()["ada@acme.test"] == {site.acme.id: "viewer", site.beta.id: "deployer"}
    site.sign_in(groups=["acme-viewers", "acme-devs", "elsewhere"])  # the highest role wins
    assert site.users()["ada@acme.test"] == {site.acme.id: "developer", site.beta.id: "deployer"}
    site.sign_in(groups=["elsewhere"])  # out of every mapped group: the role is taken back
    assert site.users()["ada@acme.test"] == {site.beta.id: "deployer"}
    assert list_events(site.installation, limit=2)[1].detail["removed"] == ["acme"]
    site.sign_in(groups=None)  # no groups claim at all: the same
    assert site.users()["ada@acme.test"] == {site.beta.id: "deployer"}


def test_an_existing_user_is_matched_by_email_whatever_its_case(site: Site) -> None:
    create_user(site.installation, LOCAL, "Ada@Acme.test", "beta", "viewer")
    signed_in = site.sign_in()
    assert signed_in.email == "Ada@Acme.test"
    assert list(site.users()) == ["Ada@Acme.test"]


def test_a_group_claim_may_be_a_nested_path(site: Site) -> None:
    site.configure(groups_claim="realm_access.roles")
    site.sign_in(groups=None, realm_access={"roles": ["acme-devs"]})
    assert site.users()["ada@acme.test"] == {site.acme.id: "developer"}


@pytest.mark.parametrize(
    ("check", "overrides"),
    [
        ("email not verified", {"email_verified": False}),
        ("email not verified", {"email_verified": None}),
        ("email", {"email": None}),
        ("domain", {"email": "ada@elsewhere.test"}),
        ("audience", {"aud": "another-client"}),
        ("issuer", {"iss": "https://idp.example.test"}),
        ("expired", {"exp": int(time.time()) - 3600}),
        ("iat", {"iat": None}),
        ("issued in the future", {"iat": int(time.time()) + 3600}),
        ("nonce", {"nonce": "someone-elses"}),
        ("azp", {"azp": "another-client"}),
        ("azp", {"aud": [CLIENT_ID, "another-client"]}),
        ("groups", {"groups": ["g"] * 1001}),
        ("email", {"email": "ada\ud800@acme.test"}),
        ("email", {"email": "ada\x00@acme.test"}),
    ],
)
def test_an_id_token_failing_a_check_is_refused(
    site: Site, check: str, overrides: dict[str, Any]
) -> None:
    _refused(site, check, **overrides)


def test_the_claims_of_an_accepted_token_with_azp_and_two_audiences(site: Site) -> None:
    site.sign_in(aud=[CLIENT_ID, "another-client"], azp=CLIENT_ID, email_verified="true")
    assert "ada@acme.test" in site.users()


def test_a_token_signed_by_another_key_is_refused(site: Site) -> None:
    secret, query = site.start()
    site.issuer.add_key("stranger", publish=False)
    token = site.issuer.sign(id_claims(site.issuer, query["nonce"]), kid="stranger")
    site.issuer.token_answers.append((200, {"id_token": token}))
    with pytest.raises(SignInRefused, match="unknown key"):
        site.finish(secret, query["state"])
    assert site.users() == {}


def test_a_rotated_key_is_fetched_again(site: Site) -> None:
    site.issuer.rotate("rsa-2")
    secret, query = site.start()
    token = site.issuer.sign(id_claims(site.issuer, query["nonce"]), kid="rsa-2")
    site.issuer.token_answers.append((200, {"id_token": token}))
    assert site.finish(secret, query["state"]).email == "ada@acme.test"


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        ((400, {"error": "invalid_grant"}), "HTTP 400"),
        ((200, {"access_token": "only"}), "no id_token"),
        ((200, {"id_token": "x" * 20_000}), None),
    ],
)
def test_a_token_endpoint_that_gives_no_id_token_is_refused(
    site: Site, answer: tuple[int, dict[str, Any]], detail: str | None
) -> None:
    secret, query = site.start()
    site.issuer.token_answers.append(answer)
    with pytest.raises(SignInRefused) as refused:
        site.finish(secret, query["state"])
    event = list_events(site.installation, limit=1)[0]
    if detail is None:
        assert refused.value.check == "malformed token"
    else:
        assert refused.value.check == "token endpoint"
        assert detail in event.detail["reason"]
    assert site.users() == {}


def test_a_state_works_once_in_the_browser_that_started_it(site: Site) -> None:
    secret, query = site.start()
    other_secret, _ = site.start()
    for flow, state in [
        (None, query["state"]),  # no flow cookie: a callback pushed into another browser
        ("ssf_made-up", query["state"]),
        (other_secret, query["state"]),  # another sign-in's cookie
        (secret, None),
    ]:
        with pytest.raises(SignInRefused, match=r"\(state\)"):
            site.finish(flow, state)
    # The last attempt used the flow up: its own state is refused now (no replay).
    with pytest.raises(SignInRefused, match=r"\(state\)"):
        site.finish(secret, query["state"])
    assert site.issuer.token_requests == []  # no code was ever exchanged
    assert site.users() == {}


def test_a_replayed_callback_is_refused(site: Site) -> None:
    secret, query = site.start()
    token = site.issuer.sign(id_claims(site.issuer, query["nonce"]))
    site.issuer.token_answers.append((200, {"id_token": token}))
    site.finish(secret, query["state"])
    site.issuer.token_answers.append((200, {"id_token": token}))
    with pytest.raises(SignInRefused, match=r"\(state\)"):
        site.finish(secret, query["state"])


def test_an_expired_flow_is_refused(site: Site, clock: Clock) -> None:
    secret, query = site.start()
    clock.now += timedelta(seconds=FLOW_SECONDS + 1)
    with pytest.raises(SignInRefused, match=r"\(state\)"):
        site.finish(secret, query["state"])


def test_an_error_from_the_provider_or_no_code_is_refused(site: Site) -> None:
    secret, query = site.start()
    back = Callback(secret, query["state"], None, "access_denied", REDIRECT)
    with pytest.raises(SignInRefused, match=r"\(provider\)"):
        finish_sign_in(site.installation, back, SessionPolicy())
    secret, query = site.start()
    with pytest.raises(SignInRefused, match=r"\(code\)"):
        site.finish(secret, query["state"], code="")


def test_refusals_can_be_counted_by_the_caller(site: Site) -> None:
    seen: list[tuple[str | None, str, dict[str, str]]] = []
    back = Callback(None, "x", "y", None, REDIRECT, source_ip="198.51.100.1")
    with pytest.raises(SignInRefused):
        finish_sign_in(
            site.installation,
            back,
            SessionPolicy(),
            lambda ip, request_id, reason, detail: seen.append((ip, reason, detail)),
        )
    assert seen == [
        (
            "198.51.100.1",
            "state: no sign-in under way with this state in this browser",
            {"method": "sso", "check": "state"},
        )
    ]


def test_nothing_starts_or_finishes_without_a_provider(site: Site) -> None:
    secret, query = site.start()
    remove_provider(site.installation, LOCAL)
    with pytest.raises(SignInRefused, match="not configured"):
        site.finish(secret, query["state"])
    with pytest.raises(NotFound):
        site.start()


def test_a_password_sign_in_says_its_method(site: Site) -> None:
    create_user(site.installation, LOCAL, "bob@acme.test", "acme", "viewer")
    set_password(site.installation, LOCAL, "bob@acme.test", SecretValue("a long password here"))
    start_session(
        site.installation, "bob@acme.test", SecretValue("a long password here"), SessionPolicy()
    )
    event = list_events(site.installation, limit=1)[0]
    assert (event.action, event.detail["method"]) == ("session.start", "password")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((200, b"<html>not json</html>"), "not JSON"),
        ((200, {"id_token": "x", "padding": "y" * 300_000}), "too large"),
    ],
)
def test_a_token_endpoint_answer_that_cannot_be_read_is_refused(
    site: Site, answer: tuple[int, Any], reason: str
) -> None:
    secret, query = site.start()
    site.issuer.token_answers.append(answer)
    with pytest.raises(SignInRefused, match=r"\(token endpoint\)"):
        site.finish(secret, query["state"])
    assert reason in list_events(site.installation, limit=1)[0].detail["reason"]


def test_an_unreachable_token_endpoint_is_refused(site: Site) -> None:
    site.issuer.discovery_changes = {"token_endpoint": "http://127.0.0.1:1/token"}
    site.configure()
    secret, query = site.start()
    with pytest.raises(SignInRefused, match=r"\(token endpoint\)"):
        site.finish(secret, query["state"])
    assert "unreachable" in list_events(site.installation, limit=1)[0].detail["reason"]


def test_an_unknown_key_while_the_keys_cannot_be_fetched_is_refused(site: Site) -> None:
    site.issuer.rotate("rsa-2")
    site.issuer.keys_down = True
    secret, query = site.start()
    token = site.issuer.sign(id_claims(site.issuer, query["nonce"]), kid="rsa-2")
    site.issuer.token_answers.append((200, {"id_token": token}))
    with pytest.raises(SignInRefused, match=r"\(unknown key\)"):
        site.finish(secret, query["state"])


def test_what_a_flow_and_a_sign_in_show_of_themselves(site: Site) -> None:
    flow_secret, _ = site.start()
    flow = start_sign_in(site.installation, REDIRECT)
    assert flow.secret not in repr(flow)
    signed_in = site.sign_in()
    assert signed_in.session.secret not in repr(signed_in)
    assert "ada@acme.test" in repr(signed_in)
    assert flow_secret.startswith("ssf_")


def test_sign_ins_under_way_are_bounded(site: Site, clock: Clock) -> None:
    for _ in range(3):
        start_sign_in(site.installation, REDIRECT, most=3)
    with pytest.raises(Throttled, match="too many sign-ins are under way") as refused:
        start_sign_in(site.installation, REDIRECT, most=3)
    assert refused.value.retry_after == 60
    clock.now += timedelta(seconds=FLOW_SECONDS)  # the ones under way expire: room again
    start_sign_in(site.installation, REDIRECT, most=3)


def test_an_offboarded_user_is_not_let_back_in_by_single_sign_on(site: Site) -> None:
    from stacksafe.core.principals.removal import remove_user

    site.sign_in()
    remove_user(site.installation, LOCAL, "ada@acme.test")
    before = site.users()
    with pytest.raises(SignInRefused, match=r"single sign-on refused \(removed\)"):
        site.sign_in()
    assert site.users() == before  # no role given back to the removed row


def test_starts_from_one_address_are_bounded(site: Site) -> None:
    from stacksafe.core.oidc.flow import STARTS_PER_ADDRESS

    for _ in range(STARTS_PER_ADDRESS.failures):
        start_sign_in(site.installation, REDIRECT, source_ip="198.51.100.9")
    with pytest.raises(Throttled, match="too many single sign-ons started") as refused:
        start_sign_in(site.installation, REDIRECT, source_ip="198.51.100.9")
    assert refused.value.retry_after is not None
    start_sign_in(site.installation, REDIRECT, source_ip="198.51.100.10")  # others still may
