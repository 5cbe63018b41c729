"""Offboarding meets workload logins: a stack or an account a JWT role logs in to is not
deleted from under it (refused, naming the role, nothing changed) until the role is removed,
and a role's user (``jwt:<name>``) is removed with its role, not as a person."""

from __future__ import annotations

import pytest

from stacksafe.core.deletion import delete_account, delete_stack
from stacksafe.core.principals import remove_user
from stacksafe.core.workload.roles import remove_role
from stacksafe.errors import Conflict, InvalidInput
from tests.actors import LOCAL
from tests.core.helpers_access import snapshot
from tests.core.workload.conftest import Site


def test_a_level_a_role_logs_in_to_is_deleted_only_once_the_role_is_removed(site: Site) -> None:
    installation = site.installation
    before = snapshot(installation)
    with pytest.raises(Conflict, match=r"stack 'web' is used by JWT role\(s\) deploy"):
        delete_stack(installation, LOCAL, "web", "acme", force=True)
    with pytest.raises(Conflict, match=r"account 'acme' is used by JWT role\(s\) deploy"):
        delete_account(installation, LOCAL, "acme", force=True)
    assert snapshot(installation) == before
    # A stack the role is not narrowed to is the account's to delete as ever.
    assert delete_stack(installation, LOCAL, "api", "acme", force=True).destroyed == {
        "API_ONLY": (1,)
    }

    remove_role(installation, LOCAL, "deploy")

    deleted = delete_account(installation, LOCAL, "acme", force=True)
    assert deleted.stacks == ("web",)


def test_a_roles_user_is_not_removed_as_a_person(site: Site) -> None:
    before = snapshot(site.installation)
    with pytest.raises(InvalidInput, match="auth jwt remove-role"):
        remove_user(site.installation, LOCAL, "jwt:deploy")
    assert snapshot(site.installation) == before


def test_a_roles_user_keeps_its_membership_until_the_role_goes(site: Site) -> None:
    from stacksafe.core.principals.removal import remove_account_role, remove_stack_role

    before = snapshot(site.installation)
    with pytest.raises(InvalidInput, match="auth jwt remove-role"):
        remove_account_role(site.installation, LOCAL, "jwt:deploy", "acme")
    with pytest.raises(InvalidInput, match="auth jwt remove-role"):
        remove_stack_role(site.installation, LOCAL, "jwt:deploy", "web", "acme")
    assert snapshot(site.installation) == before
