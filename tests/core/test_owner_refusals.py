"""What only the server owner may do, refused to anyone else, leaves one ``denied`` event
(core.guard.require_owner): creating an account, rotating the master key, rotating data keys."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stacksafe.core.access import Principal
from stacksafe.core.audit_events import list_events
from stacksafe.core.data_key_rotation import rotate_data_keys
from stacksafe.core.installation import Installation
from stacksafe.core.master_key_rotation import rotate_master_key
from stacksafe.core.tenancy import Target, create_account, list_accounts
from stacksafe.errors import Forbidden
from stacksafe.settings import Settings
from tests.actors import LOCAL

ADMIN = Principal(name="admin@acme.test", user_id=7, token_uid="tok_0123456789abcdef")


@pytest.mark.parametrize(
    ("action", "attempt"),
    [
        (
            "account.create",
            lambda installation, settings: create_account(installation, ADMIN, "other"),
        ),
        (
            "keys.rotate",
            lambda installation, settings: rotate_master_key(installation, ADMIN, settings),
        ),
        ("keys.reseal", lambda installation, settings: rotate_data_keys(installation, ADMIN)),
    ],
)
def test_owner_only_refusals_are_one_denied_event(
    installation: Installation,
    settings: Settings,
    account_target: Target,
    action: str,
    attempt: Callable[[Installation, Settings], object],
) -> None:
    before = len(list_events(installation, limit=1000))
    with pytest.raises(Forbidden, match="only the server owner"):
        attempt(installation, settings)
    events = list_events(installation, limit=1000)
    assert len(events) == before + 1
    assert (events[0].actor, events[0].action, events[0].outcome) == (
        ADMIN.name,
        action,
        "denied",
    )
    assert events[0].token_uid == ADMIN.token_uid
    assert [a.name for a in list_accounts(installation, LOCAL)] == ["acme"]
