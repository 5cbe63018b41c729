"""Users and offboarding: who has which role, removing a role, removing a user, and deleting
a stack or an account. Every rule (and its audit) is the core's; this renders and redirects."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from stacksafe.core import deletion, principals, tenancy
from stacksafe.core.access import Action
from stacksafe.core.principals import UserView
from stacksafe.core.tenancy import Target
from stacksafe.errors import NotFound
from stacksafe.web.auth import Checked, SignedIn, WebRoute, attempt, render
from stacksafe.web.levels import level_url, may
from stacksafe.web.state import web_state

__all__ = ["router"]

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/users")
def users(request: Request, user: SignedIn) -> Response:
    """The users the signed-in user may manage (all for the server owner), their roles."""
    installation, me = web_state(request).installation, user.principal
    found = principals.list_users(installation, me)
    stacks = {s.uid: s for s in tenancy.list_stacks(installation, me)}
    # Where the signed-in user may remove roles (the core decides again, and audits a refusal).
    managed = {
        a.uid: a.id
        for a in tenancy.list_accounts(installation, me)
        if may(me, Action.MANAGE_USERS, Target(a))
    }
    managed_ids = set(managed.values())
    rows = [
        {
            "id": u.id,
            "email": u.email,
            "is_owner": u.is_owner,
            "accounts": [
                {"uid": uid, "name": name, "role": role, "removable": uid in managed}
                for uid, (name, role) in sorted(u.account_roles.items(), key=lambda a: a[1][0])
            ],
            "stacks": [
                {
                    "uid": uid,
                    "name": stacks[uid].name if uid in stacks else uid,
                    "role": role,
                    "removable": uid in stacks and stacks[uid].account_id in managed_ids,
                }
                for uid, role in sorted(u.stack_roles.items())
            ],
        }
        for u in found
    ]
    return render(request, "users.html", user, users=rows)


def _email(request: Request, user: SignedIn, user_id: int) -> str:
    found: list[UserView] = [
        u
        for u in principals.list_users(web_state(request).installation, user.principal)
        if u.id == user_id
    ]
    if not found:
        raise NotFound(f"user {user_id} does not exist")
    return found[0].email


@router.post("/users/{user_id}/remove")
def remove_user(request: Request, user_id: int, user: Checked) -> Response:
    installation = web_state(request).installation

    def work() -> str:
        removed = principals.remove_user(
            installation, user.principal, _email(request, user, user_id)
        )
        return (
            f"Removed {removed.email}: {len(removed.tokens_revoked)} token(s) revoked, "
            f"{removed.sessions_ended} session(s) ended."
        )

    return attempt(request, "/users", work)


@router.post("/users/{user_id}/accounts/{account_uid}/remove")
def remove_membership(request: Request, user_id: int, account_uid: str, user: Checked) -> Response:
    installation = web_state(request).installation

    def work() -> str:
        email = _email(request, user, user_id)
        removed = principals.remove_account_role(installation, user.principal, email, account_uid)
        return f"Removed {email} from account {removed.account.name}."

    return attempt(request, "/users", work)


@router.post("/users/{user_id}/stacks/{stack_uid}/remove")
def remove_stack_role(request: Request, user_id: int, stack_uid: str, user: Checked) -> Response:
    installation = web_state(request).installation

    def work() -> str:
        email = _email(request, user, user_id)
        removed = principals.remove_stack_role(installation, user.principal, email, stack_uid)
        name = removed.stack.name if removed.stack is not None else stack_uid
        return f"Removed {email}'s role in stack {name}."

    return attempt(request, "/users", work)


Force = Annotated[str, Form()]


@router.post("/stacks/{uid}/delete")
def delete_stack(request: Request, uid: str, user: Checked, force: Force = "") -> Response:
    installation = web_state(request).installation
    target = tenancy.visible_target(installation, user.principal, stack_uid=uid)

    def work() -> str:
        deleted = deletion.delete_stack(installation, user.principal, uid, force=force == "yes")
        return f"Deleted stack {target.stack.name if target.stack else uid}" + _destroyed(deleted)

    return attempt(request, level_url(target), work, done_at=level_url(Target(target.account)))


@router.post("/accounts/{ref}/delete")
def delete_account(request: Request, ref: str, user: Checked, force: Force = "") -> Response:
    installation = web_state(request).installation
    target = tenancy.visible_target(installation, user.principal, account_ref=ref)

    def work() -> str:
        deleted = deletion.delete_account(
            installation, user.principal, target.account.uid, force=force == "yes"
        )
        return f"Deleted account {target.account.name}" + _destroyed(deleted)

    return attempt(request, level_url(target), work, done_at="/")


def _destroyed(deleted: deletion.DeletedLevel) -> str:
    if not deleted.destroyed:
        return "."
    return f"; the values of {len(deleted.destroyed)} key(s) were destroyed first."
