"""The SDK's offboarding calls (docs/offboarding.md), a part of ``stacksafe.Client``: removing a
user or one of their roles, deleting a stack or an account."""

from __future__ import annotations

from typing import Any

from stacksafe.client.models import (
    DeletedHistory,
    DeletedLevel,
    RemovedRole,
    RemovedUser,
    tombstone_from_json,
)
from stacksafe.client.transport import path_segment
from stacksafe.errors import InvalidInput
from stacksafe.model import Tombstone

__all__ = ["Offboarding"]


class Offboarding:
    """Mixed into ``Client``, which answers ``_answer`` (one API call, its JSON answer)."""

    def _answer(self, method: str, path: str, **kwargs: Any) -> object:
        raise NotImplementedError  # pragma: no cover - Client's

    def _pages(self, path: str, params: dict[str, str]) -> list[object]:
        raise NotImplementedError  # pragma: no cover - Client's

    def remove_user(self, user: str) -> RemovedUser:
        """Offboard ``user`` (email or id): sessions ended, tokens revoked, roles deleted."""
        return RemovedUser.from_json(self._answer("DELETE", f"/users/{path_segment(user)}"))

    def remove_role(
        self, user: str, *, account: str | None = None, stack: str | None = None
    ) -> RemovedRole:
        """``user`` out of ``account`` (with their stack roles there), or their ``stack`` role."""
        if (account is None) == (stack is None):
            raise InvalidInput("name one of: an account, or a stack")
        kind, ref = ("accounts", account) if account is not None else ("stacks", stack)
        path = f"/users/{path_segment(user)}/{kind}/{path_segment(ref or '')}"
        return RemovedRole.from_json(self._answer("DELETE", path))

    def delete_stack(self, stack: str, *, force: bool = False) -> DeletedLevel:
        """Delete a stack (a uid); ``force``: destroy the values it holds first."""
        return self._delete_level(f"/stacks/{path_segment(stack)}", force)

    def delete_account(self, account: str, *, force: bool = False) -> DeletedLevel:
        """Delete an account and its stacks; ``force``: destroy the values they hold first."""
        return self._delete_level(f"/accounts/{path_segment(account)}", force)

    def _delete_level(self, path: str, force: bool) -> DeletedLevel:
        params = {"force": "true"} if force else None
        return DeletedLevel.from_json(self._answer("DELETE", path, params=params))

    def deleted(self, *, account: str | None = None) -> list[Tombstone]:
        """Deleted stacks of ``account`` (uid or name; who may manage its stacks), or every
        deleted account and stack (the server owner); oldest deletion first."""
        params = {} if account is None else {"account_id": account}
        return [tombstone_from_json(t) for t in self._pages("/deleted", params)]

    def deleted_history(self, uid: str) -> DeletedHistory:
        """A deleted stack or account and every version row of its own secrets (no value)."""
        return DeletedHistory.from_json(self._answer("GET", f"/deleted/{path_segment(uid)}"))
