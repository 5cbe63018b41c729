"""Passwords and web sessions at the core: who may set a password, what a session stands for."""

from __future__ import annotations

import pytest

from stacksafe.core.access import Principal
from stacksafe.core.audit import list_events
from stacksafe.core.principals import (
    MAX_PASSWORD_CHARS,
    authenticate,
    check_password,
    create_token,
    create_user,
    principal_for_user,
    set_password,
)
from stacksafe.core.sessions import (
    SessionPolicy,
    csrf_token,
    end_session,
    session_principal,
    start_session,
)
from stacksafe.core.tenancy import Target
from stacksafe.core.vault import Vault
from stacksafe.errors import Forbidden, InvalidInput, Unauthenticated
from stacksafe.model import SecretValue
from stacksafe.store.principals import user_by_email
from tests.actors import LOCAL

PASSWORD = SecretValue("correct horse battery staple")
POLICY = SessionPolicy()


@pytest.fixture
def dev(vault: Vault, account_target: Target) -> str:
    create_user(vault, LOCAL, "dev@acme.test", "acme", "developer")
    set_password(vault, LOCAL, "dev@acme.test", PASSWORD)
    return "dev@acme.test"


def _as(vault: Vault, email: str) -> Principal:
    with vault.store.read() as conn:
        user = user_by_email(conn, email)
        assert user is not None
        return principal_for_user(conn, user)


def test_only_the_owner_or_the_user_sets_a_password(vault: Vault, dev: str) -> None:
    create_user(vault, LOCAL, "other@acme.test", "acme", "administrator")
    other = _as(vault, "other@acme.test")
    with pytest.raises(Forbidden):
        set_password(vault, other, dev, SecretValue("taken over password"))
    assert list_events(vault, limit=1)[0].outcome == "denied"
    set_password(vault, _as(vault, dev), dev, SecretValue("my own new password"))
    assert check_password(vault, dev, SecretValue("my own new password")) is not None


@pytest.mark.parametrize("length", [0, 11, MAX_PASSWORD_CHARS + 1])
def test_password_length_limits(vault: Vault, dev: str, length: int) -> None:
    with pytest.raises(InvalidInput):
        set_password(vault, LOCAL, dev, SecretValue("x" * length))


def test_check_password_says_none_for_every_kind_of_wrong(vault: Vault, dev: str) -> None:
    assert check_password(vault, dev, PASSWORD) is not None
    assert check_password(vault, dev, SecretValue("wrong password!")) is None
    assert check_password(vault, "nobody@acme.test", PASSWORD) is None
    assert check_password(vault, "not an email", PASSWORD) is None
    assert check_password(vault, dev, SecretValue("x" * (MAX_PASSWORD_CHARS + 1))) is None
    create_user(vault, LOCAL, "nopass@acme.test", "acme", "viewer")
    assert check_password(vault, "nopass@acme.test", SecretValue("")) is None


def test_a_session_is_an_unnarrowed_token_with_both_scopes(vault: Vault, dev: str) -> None:
    started = start_session(vault, dev, PASSWORD, POLICY, source_ip="192.0.2.1")
    principal = session_principal(vault, started.secret, POLICY, source_ip="192.0.2.1")
    token = create_token(vault, LOCAL, dev, scopes=["public", "admin"])
    as_token = authenticate(vault, token.token)
    assert principal.scopes == as_token.scopes == frozenset({"public", "admin"})
    assert principal.token_stacks is None
    assert principal.token_environments is None
    assert principal.account_roles == as_token.account_roles
    assert principal.stack_roles == as_token.stack_roles
    assert principal.token_uid == started.uid
    assert principal.source_ip == "192.0.2.1"


@pytest.mark.parametrize("cookie", ["", "sss_unknown", "tok_x", "sss_" + "a" * 200, "sss_\u00e9"])
def test_anything_but_a_live_session_secret_is_refused(vault: Vault, dev: str, cookie: str) -> None:
    with pytest.raises(Unauthenticated):
        session_principal(vault, cookie, POLICY)


def test_ending_a_session_twice_records_one_event(vault: Vault, dev: str) -> None:
    started = start_session(vault, dev, PASSWORD, POLICY)
    actor = session_principal(vault, started.secret, POLICY)
    end_session(vault, actor, started.secret)
    end_session(vault, actor, started.secret)
    ends = [e for e in list_events(vault, limit=10) if e.action == "session.end"]
    assert len(ends) == 1
    with pytest.raises(Unauthenticated, match="ended"):
        session_principal(vault, started.secret, POLICY)


def test_csrf_tokens_differ_per_session(vault: Vault, dev: str) -> None:
    one = start_session(vault, dev, PASSWORD, POLICY)
    two = start_session(vault, dev, PASSWORD, POLICY)
    assert csrf_token(vault, one.secret) != csrf_token(vault, two.secret)
    assert len(csrf_token(vault, one.secret)) == 64
