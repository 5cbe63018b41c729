"""What only the server owner may do, refused to anyone else, leaves one ``denied`` event
(core.guard.require_owner): creating an account, rotating the master key, rotating data keys."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stacksafe.core.access import Principal
from stacksafe.core.audit import list_events
from stacksafe.core.custody import rotate_master_key
from stacksafe.core.reseal import rotate_data_keys
from stacksafe.core.tenancy import Target, create_account, list_accounts
from stacksafe.core.vault import Vault
from stacksafe.errors import Forbidden
from stacksafe.settings import Settings
from tests.actors import LOCAL

ADMIN = Principal(name="admin@acme.test", user_id=7, token_uid="tok_0123456789abcdef")


@pytest.mark.parametrize(
    ("action", "attempt"),
    [
        ("account.create", lambda vault, settings: create_account(vault, ADMIN, "other")),
        ("keys.rotate", lambda vault, settings: rotate_master_key(vault, ADMIN, settings)),
        ("keys.reseal", lambda vault, settings: rotate_data_keys(vault, ADMIN)),
    ],
)
def test_owner_only_refusals_are_one_denied_event(
    vault: Vault,
    settings: Settings,
    account_target: Target,
    action: str,
    attempt: Callable[[Vault, Settings], object],
) -> None:
    before = len(list_events(vault, limit=1000))
    with pytest.raises(Forbidden, match="only the server owner"):
        attempt(vault, settings)
    events = list_events(vault, limit=1000)
    assert len(events) == before + 1
    assert (events[0].actor, events[0].action, events[0].outcome) == (
        ADMIN.name,
        action,
        "denied",
    )
    assert events[0].token_uid == ADMIN.token_uid
    assert [a.name for a in list_accounts(vault, LOCAL)] == ["acme"]
