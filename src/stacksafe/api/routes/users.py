"""`/users`: Cloud66's User model, as far as it makes sense here."""

from __future__ import annotations

from fastapi import APIRouter

from stacksafe.api.convert import Page, PerPage, page_of, plain_time
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.schemas import Envelope, ListEnvelope, UserCreate, UserOut
from stacksafe.core import principals
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.principals import UserView
from stacksafe.errors import NotFound
from stacksafe.model import iso8601
from stacksafe.paging import DEFAULT_PER_PAGE

__all__ = ["router"]

router = APIRouter(tags=["users"])


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
