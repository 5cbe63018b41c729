"""`/users`: Cloud66's User model, as far as it makes sense here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from stacksafe.api.convert import Page, PerPage, page_of, plain_time
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.offboarding_schemas import (
    RoleRemovedOut,
    UserRemovedOut,
)
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import (
    Envelope,
    ListEnvelope,
    UserCreate,
    UserOut,
)
from stacksafe.core import principals
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.principals import RemovedRole, UserView
from stacksafe.errors import NotFound
from stacksafe.model import iso8601
from stacksafe.paging import DEFAULT_PER_PAGE

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["users"])


def _out(user: UserView) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        is_owner=user.is_owner,
        accounts=[
            {"id": uid, "name": name, "role": role}
            for uid, (name, role) in sorted(user.account_roles.items())
        ],
        access_profile={
            "stack_profiles": [
                {"stack_uid": uid, "role": role} for uid, role in sorted(user.stack_roles.items())
            ]
        },
        created_at=plain_time(user.created_at),
        created_at_iso=iso8601(user.created_at),
    )


@router.get("/users", response_model=ListEnvelope[UserOut])
def users(
    installation: InstallationDep,
    actor: Caller,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[UserOut]:
    """Users of the accounts the caller administers (all of them for the owner), and itself."""
    items, pagination = page_of(principals.list_users(installation, actor), page, per_page)
    return ListEnvelope[UserOut](
        response=[_out(u) for u in items], count=pagination.count, pagination=pagination
    )


@router.post("/users", response_model=Envelope[UserOut], status_code=201)
def create_user(
    body: UserCreate, installation: InstallationDep, actor: Caller
) -> Envelope[UserOut]:
    """Create a user, or give an existing one a role in an account (and optional stack roles).

    Needs the administrator role (or the owner) in that account, with an 'admin' token.
    """
    created = principals.create_user(
        installation, actor, body.email, body.account_id, body.role, body.stack_roles
    )
    return Envelope[UserOut](response=_out(_visible(installation, actor, created.id)))


def _visible(installation: Installation, actor: Principal, user_id: int) -> UserView:
    for found in principals.list_users(installation, actor):
        if found.id == user_id:
            return found
    raise NotFound(f"user {user_id} does not exist")


@router.get("/users/{user_id}", response_model=Envelope[UserOut])
def user(user_id: int, installation: InstallationDep, actor: Caller) -> Envelope[UserOut]:
    return Envelope[UserOut](response=_out(_visible(installation, actor, user_id)))


UserRef = Annotated[str, Path(description="The user's email, or their id.", max_length=320)]


def _email(installation: Installation, actor: Principal, user: str) -> str:
    """The email of the user named by ``user`` (an email, or an id the caller can see)."""
    if not (user.isascii() and user.isdecimal()):
        return user
    return _visible(installation, actor, int(user)).email


def _role_out(removed: RemovedRole) -> RoleRemovedOut:
    return RoleRemovedOut(
        email=removed.email,
        account_id=removed.account.uid,
        stack_uid=None if removed.stack is None else removed.stack.uid,
        role=removed.role,
        stack_roles=removed.stack_roles,
    )


@router.delete("/users/{user}", response_model=Envelope[UserRemovedOut])
def remove_user(
    user: UserRef, installation: InstallationDep, actor: Caller
) -> Envelope[UserRemovedOut]:
    """Offboard a user (the server owner, with an 'admin' token): their web sessions end, every
    token of theirs is revoked and every role deleted, at once on every server. The audit log
    keeps naming them; giving the email a role again later brings the user back with that role
    only."""
    removed = principals.remove_user(installation, actor, _email(installation, actor, user))
    return Envelope[UserRemovedOut](
        response=UserRemovedOut(
            email=removed.email,
            removed_at_iso=iso8601(removed.removed_at),
            tokens_revoked=list(removed.tokens_revoked),
            sessions_ended=removed.sessions_ended,
            accounts=list(removed.accounts),
            stacks=list(removed.stacks),
        )
    )


@router.delete("/users/{user}/accounts/{account_id}", response_model=Envelope[RoleRemovedOut])
def remove_membership(
    user: UserRef,
    account_id: Annotated[str, Path(description="Account uid or name.", max_length=255)],
    installation: InstallationDep,
    actor: Caller,
) -> Envelope[RoleRemovedOut]:
    """Take a user out of an account: the membership and their roles in its stacks (the
    account's administrators)."""
    email = _email(installation, actor, user)
    removed = principals.remove_account_role(installation, actor, email, account_id)
    return Envelope[RoleRemovedOut](response=_role_out(removed))


@router.delete("/users/{user}/stacks/{stack_uid}", response_model=Envelope[RoleRemovedOut])
def remove_stack_role(
    user: UserRef,
    stack_uid: Annotated[str, Path(max_length=64)],
    installation: InstallationDep,
    actor: Caller,
) -> Envelope[RoleRemovedOut]:
    """Delete a user's role in one stack; the account role applies there again."""
    email = _email(installation, actor, user)
    removed = principals.remove_stack_role(installation, actor, email, stack_uid)
    return Envelope[RoleRemovedOut](response=_role_out(removed))
