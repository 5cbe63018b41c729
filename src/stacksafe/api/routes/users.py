"""`/users`: Cloud66's User model, as far as it makes sense here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from stacksafe.api.convert import page_of, plain_time
from stacksafe.api.deps import Caller, VaultDep
from stacksafe.api.schemas import Envelope, ListEnvelope, UserOut
from stacksafe.core.principals import UserView, list_users
from stacksafe.errors import NotFound
from stacksafe.model import iso8601

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
    vault: VaultDep,
    actor: Caller,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 30,
) -> ListEnvelope[UserOut]:
    """Users of the accounts the caller administers (all of them for the owner), and itself."""
    items, pagination = page_of(list_users(vault, actor), page, per_page)
    return ListEnvelope[UserOut](
        response=[_out(u) for u in items], count=pagination.count, pagination=pagination
    )


@router.get("/users/{user_id}", response_model=Envelope[UserOut])
def user(user_id: int, vault: VaultDep, actor: Caller) -> Envelope[UserOut]:
    for found in list_users(vault, actor):
        if found.id == user_id:
            return Envelope[UserOut](response=_out(found))
    raise NotFound(f"user {user_id} does not exist")
