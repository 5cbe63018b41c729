"""`/accounts/{id}/secrets` and `/stacks/{uid}/secrets`: the same operations at two levels.

No ``from __future__ import annotations`` here: the path parameter's name is chosen per level
at route-definition time, so the annotations must be evaluated then.
"""

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from stacksafe.api.convert import page_of, secret_out, secrets_page_json
from stacksafe.api.deps import Caller, VaultDep
from stacksafe.api.schemas import (
    Deleted,
    Envelope,
    ImportReportOut,
    ListEnvelope,
    SecretCreate,
    SecretOut,
    SecretsImport,
    SecretUpdate,
)
from stacksafe.core import secrets
from stacksafe.core.access import Principal
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.core.vault import Vault
from stacksafe.errors import Conflict, InvalidInput, PreconditionFailed
from stacksafe.model import SecretValue

__all__ = ["router"]

router = APIRouter(tags=["secrets"])

Reveal = Annotated[bool, Query(description="Include raw_value (needs reveal permission).")]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=1000)]
IfMatch = Annotated[
    str | None, Header(description="Write only if the current version is this ETag.")
]
Resolver = Callable[[Vault, Principal, str], Target]


def _account(vault: Vault, actor: Principal, ref: str) -> Target:
    return visible_target(vault, actor, account_ref=ref)


def _stack(vault: Vault, actor: Principal, ref: str) -> Target:
    return visible_target(vault, actor, stack_uid=ref)


def _expected(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise InvalidInput('If-Match must be a version as sent in the ETag, e.g. "3"')
    return int(text)


def _single(response: Response, secret: SecretOut, version: int) -> Envelope[SecretOut]:
    response.headers["ETag"] = f'"{version}"'
    return Envelope[SecretOut](response=secret)


def _json(response: Response, body: bytes) -> Response:
    """``body`` as FastAPI sends a response model: the headers dependencies set come after."""
    sent = Response(body, media_type="application/json")
    sent.headers.raw.extend(response.headers.raw)
    return sent


def _register(prefix: str, param: str, resolve: Resolver, level: str) -> None:
    path = f"/{prefix}/{{{param}}}/secrets"

    @router.get(path, response_model=ListEnvelope[SecretOut], name=f"list_{level}_secrets")
    def list_(
        ref: Annotated[str, Path(alias=param)],
        vault: VaultDep,
        actor: Caller,
        response: Response,
        reveal: Reveal = False,
        page: Page = 1,
        per_page: PerPage = 30,
    ) -> Response:
        found = secrets.list_secrets(vault, actor, resolve(vault, actor, ref), reveal=reveal)
        items, pagination = page_of(found, page, per_page)
        # The body of ListEnvelope[SecretOut] (still the declared response model, so the OpenAPI
        # document is unchanged), serialised directly: see secrets_page_json.
        return _json(response, secrets_page_json(items, pagination))

    @router.post(
        path, response_model=Envelope[SecretOut], status_code=201, name=f"create_{level}_secret"
    )
    def create(
        ref: Annotated[str, Path(alias=param)],
        body: SecretCreate,
        vault: VaultDep,
        actor: Caller,
        response: Response,
    ) -> Envelope[SecretOut]:
        """Create a secret; 409 if the key already exists at this level (use PUT to replace)."""
        try:
            written = secrets.set_secret(
                vault,
                actor,
                resolve(vault, actor, ref),
                body.key,
                SecretValue(body.raw_value),
                expected_version=0,
            )
        except PreconditionFailed:
            raise Conflict(
                f"secret {body.key!r} already exists here; PUT .../secrets/{body.key} replaces it"
            ) from None
        return _single(response, secret_out(written), written.version)

    @router.put(path, response_model=Envelope[ImportReportOut], name=f"import_{level}_secrets")
    def import_(
        ref: Annotated[str, Path(alias=param)],
        body: SecretsImport,
        vault: VaultDep,
        actor: Caller,
    ) -> Envelope[ImportReportOut]:
        """Set many secrets in one transaction (all or nothing); reports what changed."""
        entries = {k: SecretValue(v) for k, v in body.secrets.items()}
        report = secrets.import_secrets(vault, actor, resolve(vault, actor, ref), entries)
        return Envelope[ImportReportOut](
            response=ImportReportOut(
                added=report.added, changed=report.changed, unchanged=report.unchanged
            )
        )

    @router.get(f"{path}/{{key}}", response_model=Envelope[SecretOut], name=f"get_{level}_secret")
    def get(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        vault: VaultDep,
        actor: Caller,
        response: Response,
        reveal: Reveal = False,
    ) -> Envelope[SecretOut]:
        found = secrets.get_secret(vault, actor, resolve(vault, actor, ref), key, reveal=reveal)
        return _single(response, secret_out(found), found.version)

    @router.put(f"{path}/{{key}}", response_model=Envelope[SecretOut], name=f"put_{level}_secret")
    def put(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        body: SecretUpdate,
        vault: VaultDep,
        actor: Caller,
        response: Response,
        if_match: IfMatch = None,
    ) -> Envelope[SecretOut]:
        """Create or replace; on a stack, a key it only inherits becomes a stack override."""
        written = secrets.set_secret(
            vault,
            actor,
            resolve(vault, actor, ref),
            key,
            SecretValue(body.raw_value),
            expected_version=_expected(if_match),
        )
        return _single(response, secret_out(written), written.version)

    @router.delete(
        f"{path}/{{key}}", response_model=Envelope[Deleted], name=f"delete_{level}_secret"
    )
    def delete(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        vault: VaultDep,
        actor: Caller,
        if_match: IfMatch = None,
    ) -> Envelope[Deleted]:
        """Delete at this level; deleting a key a stack only inherits is 409."""
        secrets.unset_secret(
            vault, actor, resolve(vault, actor, ref), key, expected_version=_expected(if_match)
        )
        return Envelope[Deleted](response=Deleted(key=key, deleted=True))


_register("accounts", "account_id", _account, "account")
_register("stacks", "stack_uid", _stack, "stack")
