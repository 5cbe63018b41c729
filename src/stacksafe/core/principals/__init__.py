"""Principals: users and their roles, API tokens, authentication, web UI passwords.

A token is shown once, at creation. The database keeps ``HMAC-SHA256(token-hash key, token)``
only, looked up through a unique index; the final comparison is constant-time.
"""

from __future__ import annotations

from stacksafe.core.principals.authentication import (
    authenticate,
    authenticate_for_stack,
    authenticate_for_stack_on_loop,
)
from stacksafe.core.principals.passwords import check_password, set_password
from stacksafe.core.principals.removal import (
    RemovedRole,
    RemovedUser,
    remove_account_role,
    remove_stack_role,
    remove_user,
)
from stacksafe.core.principals.tokens import (
    TOKEN_PREFIX,
    CreatedToken,
    StoredToken,
    create_token,
    list_tokens,
    revoke_own_token,
    revoke_token,
)
from stacksafe.core.principals.users import (
    UserView,
    bootstrap_owner,
    create_user,
    has_users,
    list_users,
    principal_for_user,
)

__all__ = [
    "TOKEN_PREFIX",
    "CreatedToken",
    "RemovedRole",
    "RemovedUser",
    "StoredToken",
    "UserView",
    "authenticate",
    "authenticate_for_stack",
    "authenticate_for_stack_on_loop",
    "bootstrap_owner",
    "check_password",
    "create_token",
    "create_user",
    "has_users",
    "list_tokens",
    "list_users",
    "principal_for_user",
    "remove_account_role",
    "remove_stack_role",
    "remove_user",
    "revoke_own_token",
    "revoke_token",
    "set_password",
]
