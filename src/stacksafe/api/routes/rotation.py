"""Rotation: a secret's policy, rotating it now, and what is due in an account.

No ``from __future__ import annotations`` here: the path parameter's name is chosen per level
at route-definition time, so the annotations must be evaluated then.
"""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Path, Query

from stacksafe.api.convert import Page, PerPage, page_of
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import (
    Deleted,
    Envelope,
    ListEnvelope,
    RotationOutcomeOut,
    RotationPolicyIn,
    RotationPolicyOut,
    RotationStatusOut,
)
from stacksafe.core import rotation
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.core.validation import parse_duration
from stacksafe.paging import ROTATION_PER_PAGE

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["rotation"])
Resolver = Callable[[Installation, Principal, str], Target]


def _policy_out(policy: rotation.RotationPolicy) -> RotationPolicyOut:
    return RotationPolicyOut.model_validate(policy.to_json())


def _register(prefix: str, param: str, resolve: Resolver, level: str) -> None:
    path = f"/{prefix}/{{{param}}}/secrets/{{key}}"

    @router.get(
        f"{path}/rotation",
        response_model=Envelope[RotationPolicyOut],
        name=f"{level}_secret_rotation",
    )
    def get_policy(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[RotationPolicyOut]:
        """The secret's rotation policy and the state of its rotations."""
        found = rotation.get_policy(installation, actor, resolve(installation, actor, ref), key)
        return Envelope[RotationPolicyOut](response=_policy_out(found))

    @router.put(
        f"{path}/rotation",
        response_model=Envelope[RotationPolicyOut],
        name=f"put_{level}_secret_rotation",
    )
    def put_policy(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        body: RotationPolicyIn,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[RotationPolicyOut]:
        """Give the secret a rotation policy, replacing any it had."""
        target = resolve(installation, actor, ref)
        every = (
            None if body.rotate_every is None else parse_duration(body.rotate_every, "rotate_every")
        )
        found = rotation.set_policy(
            installation,
            actor,
            target,
            key,
            rotate_every=every,
            expires_at=body.expires_at,
            rotator=body.rotator,
            config=body.config,
        )
        return Envelope[RotationPolicyOut](response=_policy_out(found))

    @router.delete(
        f"{path}/rotation",
        response_model=Envelope[Deleted],
        name=f"delete_{level}_secret_rotation",
    )
    def delete_policy(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[Deleted]:
        """Remove the secret's rotation policy (the secret itself stays)."""
        rotation.clear_policy(installation, actor, resolve(installation, actor, ref), key)
        return Envelope[Deleted](response=Deleted(key=key, deleted=True))

    @router.post(
        f"{path}/rotate",
        response_model=Envelope[RotationOutcomeOut],
        name=f"rotate_{level}_secret",
    )
    def rotate(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[RotationOutcomeOut]:
        """Rotate now with the policy's rotator. A failed rotation leaves the current value in
        place and says why (``outcome: failed``, ``error``)."""
        done = rotation.rotate_secret(installation, actor, resolve(installation, actor, ref), key)
        return Envelope[RotationOutcomeOut](
            response=RotationOutcomeOut.model_validate(done.to_json())
        )


def _account(installation: Installation, actor: Principal, ref: str) -> Target:
    return visible_target(installation, actor, account_ref=ref)


def _stack(installation: Installation, actor: Principal, ref: str) -> Target:
    return visible_target(installation, actor, stack_uid=ref)


_register("accounts", "account_id", _account, "account")
_register("stacks", "stack_uid", _stack, "stack")


@router.get(
    "/accounts/{account_id}/rotation_status",
    response_model=ListEnvelope[RotationStatusOut],
)
def rotation_status(
    account_id: Annotated[str, Path(description="Account uid or name.")],
    installation: InstallationDep,
    actor: Caller,
    within: Annotated[
        str, Query(max_length=32, description="Window for due and expiring, e.g. 7d.")
    ] = "7d",
    include_ok: Annotated[bool, Query(alias="all", description="Include ok ones too.")] = False,
    page: Page = 1,
    per_page: PerPage = ROTATION_PER_PAGE,
) -> ListEnvelope[RotationStatusOut]:
    """Secrets with a rotation policy that are expired, overdue, expiring or due, most urgent
    first; only those the caller may see."""
    target = visible_target(installation, actor, account_ref=account_id)
    found = rotation.rotation_status(
        installation,
        actor,
        target.account,
        within=parse_duration(within, "within"),
        include_ok=include_ok,
    )
    items, pagination = page_of(found, page, per_page)
    return ListEnvelope[RotationStatusOut](
        response=[RotationStatusOut.model_validate(e.to_json()) for e in items],
        count=pagination.count,
        pagination=pagination,
    )
