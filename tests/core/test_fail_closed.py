"""Fail closed: when the audit log cannot be written, nothing is revealed or changed."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from stacksafe.core.health import readiness
from stacksafe.core.secrets import get_secret, list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.core.vault import Vault
from stacksafe.errors import AuditUnavailable
from stacksafe.model import SecretValue
from tests.actors import LOCAL


def break_audit_log(vault: Vault) -> None:
    with vault.store.write() as conn:
        if vault.store.dialect == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
                    "BEGIN SELECT RAISE(ABORT, 'audit sink broken'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit sink broken'; END $$"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER audit_broken BEFORE INSERT ON audit_events "
                    "FOR EACH ROW EXECUTE FUNCTION audit_broken()"
                )
            )


def test_reveal_and_write_are_refused_and_readiness_says_so(
    vault: Vault, stack_target: Target
) -> None:
    set_secret(vault, LOCAL, stack_target, "K", SecretValue("before"))
    assert readiness(vault)["audit"] == "ok"
    break_audit_log(vault)

    assert readiness(vault)["audit"].startswith("not writable")
    with pytest.raises(AuditUnavailable, match="reveal was refused"):
        list_secrets(vault, LOCAL, stack_target, reveal=True)
    with pytest.raises(DBAPIError, match="audit sink broken") as caught:
        set_secret(vault, LOCAL, stack_target, "K", SecretValue("after"))
    assert "after" not in str(caught.value)
    # Metadata still reads, and the value did not change.
    assert get_secret(vault, LOCAL, stack_target, "K").version == 1
