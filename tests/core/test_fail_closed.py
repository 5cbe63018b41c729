"""Fail closed: when the audit log cannot be written, nothing is revealed or changed."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from stacksafe.core.health import readiness
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.errors import AuditUnavailable
from stacksafe.model import SecretValue
from tests.actors import LOCAL


def break_audit_log(installation: Installation) -> None:
    with installation.store.write() as conn:
        if installation.store.dialect == "sqlite":
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
    installation: Installation, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "K", SecretValue("before"))
    assert readiness(installation)["audit"] == "ok"
    break_audit_log(installation)

    assert readiness(installation)["audit"].startswith("not writable")
    with pytest.raises(AuditUnavailable, match="reveal was refused"):
        list_secrets(installation, LOCAL, stack_target, reveal=True)
    with pytest.raises(AuditUnavailable, match="change was refused") as caught:
        set_secret(installation, LOCAL, stack_target, "K", SecretValue("after"))
    assert "after" not in str(caught.value)
    assert "audit sink broken" not in caught.value.message  # the driver's text stays out
    # Metadata still reads, and the value did not change.
    assert get_secret(installation, LOCAL, stack_target, "K").version == 1


def test_a_reveal_gives_nothing_when_its_event_cannot_be_written(
    installation: Installation, stack_target: Target
) -> None:
    from stacksafe.core.reveal import RevealQuery, reveal

    set_secret(installation, LOCAL, stack_target, "K", SecretValue("before"))
    # Kept first, so the failure below is the audit's, not the read's.
    assert list_secrets(installation, LOCAL, stack_target, reveal=True)[0].raw_value is not None
    break_audit_log(installation)
    revealed = reveal(installation, LOCAL, stack_target, RevealQuery(reveal=True))
    with pytest.raises(AuditUnavailable, match="reveal was refused"):
        revealed.result()
    # A list without values needs no event, and is still given.
    described = reveal(installation, LOCAL, stack_target, RevealQuery())
    assert not described.receipt.pending
    assert [s.key for s in described.result()] == ["K"]
