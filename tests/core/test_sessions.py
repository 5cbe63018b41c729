"""Passwords and web sessions at the core: who may set a password, what a session stands for."""

from __future__ import annotations

import pytest

from stacksafe.core.access import Principal
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation
from stacksafe.core.principals import (
    authenticate,
    check_password,
    create_token,
    create_user,
    principal_for_user,
    set_password,
)
from stacksafe.core.principals.passwords import MAX_PASSWORD_CHARS
from stacksafe.core.sessions import (
    SessionPolicy,
    csrf_token,
    end_session,
    session_principal,
    start_session,
)
from stacksafe.core.tenancy import Target
from stacksafe.errors import Forbidden, InvalidInput, Unauthenticated
from stacksafe.model import SecretValue
from stacksafe.store.principals import user_by_email
from tests.actors import LOCAL

PASSWORD = SecretValue("correct horse battery staple")
POLICY = SessionPolicy()


@pytest.fixture
def dev(installation: Installation, account_target: Target) -> str:
    create_user(installation, LOCAL, "dev@acme.test", "acme", "developer")
    set_password(installation, LOCAL, "dev@acme.test", PASSWORD)
    return "dev@acme.test"


def _as(installation: Installation, email: str) -> Principal:
    with installation.store.read() as conn:
        user = user_by_email(conn, email)
        assert user is not None
        return principal_for_user(conn, user)


def test_only_the_owner_or_the_user_sets_a_password(installation: Installation, dev: str) -> None:
    create_user(installation, LOCAL, "other@acme.test", "acme", "administrator")
    other = _as(installation, "other@acme.test")
    with pytest.raises(Forbidden):
        set_password(installation, other, dev, SecretValue("taken over password"))
    assert list_events(installation, limit=1)[0].outcome == "denied"
    set_password(installation, _as(installation, dev), dev, SecretValue("my own new password"))
    assert check_password(installation, dev, SecretValue("my own new password")) is not None


@pytest.mark.parametrize("length", [0, 11, MAX_PASSWORD_CHARS + 1])
def test_password_length_limits(installation: Installation, dev: str, length: int) -> None:
    with pytest.raises(InvalidInput):
        set_password(installation, LOCAL, dev, SecretValue("x" * length))


def test_check_password_says_none_for_every_kind_of_wrong(
    installation: Installation, dev: str
) -> None:
    assert check_password(installation, dev, PASSWORD) is not None
    assert check_password(installation, dev, SecretValue("wrong password!")) is None
    assert check_password(installation, "nobody@acme.test", PASSWORD) is None
    assert check_password(installation, "not an email", PASSWORD) is None
    assert check_password(installation, dev, SecretValue("x" * (MAX_PASSWORD_CHARS + 1))) is None
    create_user(installation, LOCAL, "nopass@acme.test", "acme", "viewer")
    assert check_password(installation, "nopass@acme.test", SecretValue("")) is None


def test_a_session_is_an_unnarrowed_token_with_both_scopes(
    installation: Installation, dev: str
) -> None:
    started = start_session(installation, dev, PASSWORD, POLICY, source_ip="192.0.2.1")
    principal = session_principal(installation, started.secret, POLICY, source_ip="192.0.2.1")
    token = create_token(installation, LOCAL, dev, scopes=["public", "admin"])
    as_token = authenticate(installation, token.token)
    assert principal.scopes == as_token.scopes == frozenset({"public", "admin"})
    assert principal.token_stacks is None
    assert principal.token_environments is None
    assert principal.account_roles == as_token.account_roles
    assert principal.stack_roles == as_token.stack_roles
    assert principal.token_uid == started.uid
    assert principal.source_ip == "192.0.2.1"


@pytest.mark.parametrize("cookie", ["", "sss_unknown", "tok_x", "sss_" + "a" * 200, "sss_\u00e9"])
def test_anything_but_a_live_session_secret_is_refused(
    installation: Installation, dev: str, cookie: str
) -> None:
    with pytest.raises(Unauthenticated):
        session_principal(installation, cookie, POLICY)


def test_ending_a_session_twice_records_one_event(installation: Installation, dev: str) -> None:
    started = start_session(installation, dev, PASSWORD, POLICY)
    actor = session_principal(installation, started.secret, POLICY)
    end_session(installation, actor, started.secret)
    end_session(installation, actor, started.secret)
    ends = [e for e in list_events(installation, limit=10) if e.action == "session.end"]
    assert len(ends) == 1
    with pytest.raises(Unauthenticated, match="ended"):
        session_principal(installation, started.secret, POLICY)


def test_csrf_tokens_differ_per_session(installation: Installation, dev: str) -> None:
    one = start_session(installation, dev, PASSWORD, POLICY)
    two = start_session(installation, dev, PASSWORD, POLICY)
    assert csrf_token(installation, one.secret) != csrf_token(installation, two.secret)
    assert len(csrf_token(installation, one.secret)) == 64
