"""`/tokens`: API tokens. A token's value is in the response that creates it, and nowhere else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from stacksafe.api.convert import Page, PerPage, page_of
from stacksafe.api.deps import Caller, InstallationDep
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import Envelope, ListEnvelope, TokenCreate, TokenCreated, TokenOut
from stacksafe.core import principals
from stacksafe.core.principals import StoredToken
from stacksafe.core.validation import parse_duration
from stacksafe.errors import NotFound
from stacksafe.model import iso8601
from stacksafe.paging import DEFAULT_PER_PAGE

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["tokens"])


def _out(token: StoredToken, email: str) -> TokenOut:
    return TokenOut(
        id=token.uid,
        user=email,
        scopes=list(token.scopes),
        stacks=None if token.stack_uids is None else list(token.stack_uids),
        environments=None if token.environments is None else list(token.environments),
        created_at_iso=iso8601(token.created_at),
        expires_at_iso=None if token.expires_at is None else iso8601(token.expires_at),
        revoked_at_iso=None if token.revoked_at is None else iso8601(token.revoked_at),
    )


def _find(installation: InstallationDep, actor: Caller, uid: str) -> TokenOut:
    for token, email in principals.list_tokens(installation, actor):
        if token.uid == uid:
            return _out(token, email)
    raise NotFound(f"token {uid!r} does not exist")


@router.get("/tokens", response_model=ListEnvelope[TokenOut])
def list_tokens(
    installation: InstallationDep,
    actor: Caller,
    user: Annotated[str | None, Query(description="Only this user's (owner only).")] = None,
    page: Page = 1,
    per_page: PerPage = DEFAULT_PER_PAGE,
) -> ListEnvelope[TokenOut]:
    """Tokens the caller may see: every token for the owner, else the caller's own."""
    found = [_out(t, email) for t, email in principals.list_tokens(installation, actor, user)]
    items, pagination = page_of(found, page, per_page)
    return ListEnvelope[TokenOut](response=items, count=pagination.count, pagination=pagination)


@router.post("/tokens", response_model=Envelope[TokenCreated], status_code=201)
def create_token(
    body: TokenCreate, installation: InstallationDep, actor: Caller
) -> Envelope[TokenCreated]:
    """Create a token for a user (the owner, or the user itself); its value is shown once.

    A token can only create tokens with no more scopes, stacks or environments than it has.
    """
    lifetime = None if body.expires_in is None else parse_duration(body.expires_in, "expires_in")
    created = principals.create_token(
        installation,
        actor,
        body.user,
        scopes=body.scopes,
        stacks=body.stacks,
        environments=body.environments,
        expires_in=lifetime,
    )
    shown = _find(installation, actor, created.uid)
    return Envelope[TokenCreated](response=TokenCreated(**shown.model_dump(), token=created.token))


@router.delete("/tokens/{token_id}", response_model=Envelope[TokenOut])
def revoke_token(
    token_id: Annotated[str, Path(max_length=64)], installation: InstallationDep, actor: Caller
) -> Envelope[TokenOut]:
    """Revoke a token (the owner any, a user their own); it stops working at once."""
    principals.revoke_token(installation, actor, token_id)
    return Envelope[TokenOut](response=_find(installation, actor, token_id))
