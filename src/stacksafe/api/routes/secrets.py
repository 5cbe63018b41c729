"""`/accounts/{id}/secrets` and `/stacks/{uid}/secrets`: the same operations at two levels.

No ``from __future__ import annotations`` here: the path parameter's name is chosen per level
at route-definition time, so the annotations must be evaluated then.
"""

import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response

from stacksafe.api.convert import Page, PerPage, page_of, secret_out, secrets_page_json
from stacksafe.api.deps import Caller, InstallationDep, StateDep
from stacksafe.api.list_query import SecretsPage
from stacksafe.api.pages import RenderedPages
from stacksafe.api.routes import API_PREFIX
from stacksafe.api.schemas import (
    Deleted,
    DestroyedOut,
    Envelope,
    ImportReportOut,
    ListEnvelope,
    RollbackKey,
    RollbackLevel,
    RollbackOut,
    SecretCreate,
    SecretListEnvelope,
    SecretOut,
    SecretPolicy,
    SecretsImport,
    SecretUpdate,
    VersionOut,
)
from stacksafe.core import retention, rotation, secrets, versions
from stacksafe.core.access import Principal
from stacksafe.core.installation import Installation
from stacksafe.core.reveal import AccountRef, Revealed, StackRef
from stacksafe.core.reveal import reveal as core_reveal
from stacksafe.core.tenancy import Target, visible_target
from stacksafe.core.version_writes import ANY_VERSION, Expected
from stacksafe.errors import Conflict, InvalidInput, PreconditionFailed
from stacksafe.model import PURPOSE_MAX_CHARS, PURPOSE_PATTERN, Secret, SecretValue, iso8601
from stacksafe.paging import DEFAULT_PER_PAGE

__all__ = [
    "WRITE_RESOLVERS",
    "SecretsPage",
    "etag",
    "page_body",
    "put_one",
    "put_one_later",
    "router",
    "where_of",
    "written_answer",
]

router = APIRouter(prefix=API_PREFIX, tags=["secrets"])

Reveal = Annotated[bool, Query(description="Include raw_value (needs reveal permission).")]
Resolve = Annotated[
    bool,
    Query(
        alias="resolve",
        description="Resolve ${KEY} and ${account.KEY} references in revealed values.",
    ),
]
Label = Annotated[
    str | None,
    Query(max_length=16, description="current, previous or pending (a rotation in progress)."),
]
Purpose = Annotated[
    str | None,
    Query(
        max_length=PURPOSE_MAX_CHARS,
        pattern=PURPOSE_PATTERN,
        description="What the values are for (e.g. `run node`), written into the reveal's audit "
        "event as the client states it.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(
        description="Write only if the key is at this ETag's version as a read of this URL "
        "shows it (a stack's inherited key: the account's version); \"0\": no value of this "
        "level's own yet; *: any current value, own or inherited."
    ),
]
Resolver = Callable[[Installation, Principal, str], Target]


def _account(installation: Installation, actor: Principal, ref: str) -> Target:
    return visible_target(installation, actor, account_ref=ref)


def _stack(installation: Installation, actor: Principal, ref: str) -> Target:
    return visible_target(installation, actor, stack_uid=ref)


def _stack_for_reading(installation: Installation, actor: Principal, ref: str) -> Target:
    return visible_target(installation, actor, stack_uid=ref, for_reading=True)


def _expected(if_match: str | None) -> Expected:
    if if_match is None:
        return None
    if if_match.strip() == "*":
        return ANY_VERSION
    text = if_match.strip().removeprefix("W/").strip('"')
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise InvalidInput('If-Match must be a version as sent in the ETag, e.g. "3", or *')
    return int(text)


def etag(version: int) -> str:
    """The ``ETag`` of a key at ``version`` (what ``If-Match`` gives back)."""
    return f'"{version}"'


def _single(response: Response, secret: SecretOut, version: int) -> Envelope[SecretOut]:
    response.headers["ETag"] = etag(version)
    return Envelope[SecretOut](response=secret)


def _json(response: Response, body: bytes, status_code: int = 200) -> Response:
    """``body`` as FastAPI sends a response model: the headers dependencies set come after."""
    sent = Response(body, status_code=status_code, media_type="application/json")
    sent.headers.raw.extend(response.headers.raw)
    return sent


def written_answer(response: Response, written: Secret, status_code: int = 200) -> Response:
    """The answer to a write: ``Envelope[SecretOut]`` (the declared response model) dumped
    once by pydantic, with its ETag. Returned as the model, FastAPI would validate it again
    and encode it on the event loop, a tenth of a write's CPU there."""
    response.headers["ETag"] = f'"{written.version}"'
    body = Envelope[SecretOut](response=secret_out(written)).model_dump_json()
    return _json(response, body.encode(), status_code)


# For requests that write: a level as it is to be written (core.tenancy.visible_target).
WRITE_RESOLVERS: dict[str, Resolver] = {"accounts": _account, "stacks": _stack}


def put_one(
    installation: Installation,
    actor: Principal,
    target: Target,
    key: str,
    body: SecretUpdate,
    if_match: str | None,
    response: Response,
) -> Response:
    """``PUT .../secrets/{key}``'s work once the body is read, the caller known and the level
    found (``WRITE_RESOLVERS``): the route's, and api.fast_write's for a plain value
    (``response``: the headers set so far)."""
    written = secrets.set_secret(
        installation,
        actor,
        target,
        key,
        SecretValue(body.raw_value),
        expected_version=_expected(if_match),
        environments=body.environments,
    )
    return written_answer(response, written)


def put_one_later(
    installation: Installation, actor: Principal, target: Target, key: str, body: SecretUpdate
) -> Future[Secret] | None:
    """``put_one``'s write of a plain value (no ``If-Match``, no ``environments``) without a
    thread, for api.fast_write on the event loop: a future of the secret as stored, answered
    with ``written_answer``; None, having done nothing, where ``put_one`` must do it in a
    thread (core.secrets.set_secret_later)."""
    return secrets.set_secret_later(installation, actor, target, key, SecretValue(body.raw_value))


def where_of(level: str, ref: str) -> StackRef | AccountRef:
    """The level a list at ``/{level}/{ref}/secrets`` reads (``level``: stacks or accounts)."""
    return StackRef(ref) if level == "stacks" else AccountRef(ref)


def page_body(pages: RenderedPages, revealed: Revealed, query: SecretsPage) -> bytes:
    """The body of the list ``query`` asks of what was revealed (kept per level revision)."""
    return pages.body(
        revealed,
        (query.reveal, query.resolve, query.page, query.per_page),
        lambda found: _page_body(found, query),
    )


def _page_body(found: Sequence[Secret], query: SecretsPage) -> bytes:
    items, pagination = page_of(found, query.page, query.per_page)
    # The body of SecretListEnvelope (the declared response model, so the OpenAPI document
    # describes it), serialised directly: see secrets_page_json.
    return secrets_page_json(items, pagination)


# For requests that only read (the lists, one key, api.fast_path): a stack comes with its secrets'
# revision (core.tenancy.visible_target). Routes that write use ``_stack``.
RESOLVERS: dict[str, Resolver] = {"accounts": _account, "stacks": _stack_for_reading}


def _register(prefix: str, param: str, resolve: Resolver, level: str) -> None:
    path = f"/{prefix}/{{{param}}}/secrets"

    @router.get(path, response_model=SecretListEnvelope, name=f"list_{level}_secrets")
    def list_(
        ref: Annotated[str, Path(alias=param)],
        installation: InstallationDep,
        state: StateDep,
        actor: Caller,
        response: Response,
        reveal: Reveal = False,
        page: Page = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
        resolve_references: Resolve = True,
        purpose: Purpose = None,
    ) -> Response:
        query = SecretsPage(reveal, page, per_page, resolve_references, purpose)
        revealed = core_reveal(installation, actor, where_of(prefix, ref), query.reveal_query())
        body = page_body(state.pages, revealed, query)
        revealed.result()  # nothing is sent before the reveal's audit event is durable
        return _json(response, body)

    @router.post(
        path, response_model=Envelope[SecretOut], status_code=201, name=f"create_{level}_secret"
    )
    def create(
        ref: Annotated[str, Path(alias=param)],
        body: SecretCreate,
        installation: InstallationDep,
        actor: Caller,
        response: Response,
    ) -> Response:
        """Create a secret; 409 if the key already exists at this level (use PUT to replace)."""
        try:
            written = secrets.set_secret(
                installation,
                actor,
                resolve(installation, actor, ref),
                body.key,
                SecretValue(body.raw_value),
                expected_version=0,
                environments=body.environments,
            )
        except PreconditionFailed:
            raise Conflict(
                f"secret {body.key!r} already exists here; PUT .../secrets/{body.key} replaces it"
            ) from None
        return written_answer(response, written, 201)

    @router.put(path, response_model=Envelope[ImportReportOut], name=f"import_{level}_secrets")
    def import_(
        ref: Annotated[str, Path(alias=param)],
        body: SecretsImport,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[ImportReportOut]:
        """Set many secrets in one transaction (all or nothing); reports what changed."""
        entries = {k: SecretValue(v) for k, v in body.secrets.items()}
        report = secrets.import_secrets(
            installation, actor, resolve(installation, actor, ref), entries, raw=body.raw
        )
        return Envelope[ImportReportOut](
            response=ImportReportOut(
                added=report.added, changed=report.changed, unchanged=report.unchanged
            )
        )

    @router.get(f"{path}/{{key}}", response_model=Envelope[SecretOut], name=f"get_{level}_secret")
    def get(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
        response: Response,
        reveal: Reveal = False,
        resolve_references: Resolve = True,
        label: Label = None,
    ) -> Envelope[SecretOut]:
        """The key as this level sees it; with ``label``, the version of this level's own key
        that the label names (current, previous, or pending during a rotation), unresolved."""
        target = RESOLVERS[prefix](installation, actor, ref)
        if label is not None:
            found = rotation.labelled_secret(installation, actor, target, key, label, reveal=reveal)
        else:
            found = secrets.get_secret(
                installation, actor, target, key, reveal=reveal, resolve=resolve_references
            )
        return _single(response, secret_out(found), found.version)

    @router.put(f"{path}/{{key}}", response_model=Envelope[SecretOut], name=f"put_{level}_secret")
    def put(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        body: SecretUpdate,
        installation: InstallationDep,
        actor: Caller,
        response: Response,
        if_match: IfMatch = None,
    ) -> Response:
        """Create or replace; on a stack, a key it only inherits becomes a stack override."""
        target = resolve(installation, actor, ref)
        return put_one(installation, actor, target, key, body, if_match, response)

    @router.delete(
        f"{path}/{{key}}", response_model=Envelope[Deleted], name=f"delete_{level}_secret"
    )
    def delete(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
        if_match: IfMatch = None,
    ) -> Envelope[Deleted]:
        """Delete at this level; deleting a key a stack only inherits is 409."""
        secrets.unset_secret(
            installation,
            actor,
            resolve(installation, actor, ref),
            key,
            expected_version=_expected(if_match),
        )
        return Envelope[Deleted](response=Deleted(key=key, deleted=True))


def _current(
    installation: Installation, actor: Principal, target: Target, key: str, response: Response
) -> Envelope[SecretOut]:
    found = secrets.get_secret(installation, actor, target, key)
    return _single(response, secret_out(found), found.version)


def _register_versions(prefix: str, param: str, resolve: Resolver, level: str) -> None:
    path = f"/{prefix}/{{{param}}}/secrets"

    @router.get(
        f"{path}/{{key}}/versions",
        response_model=ListEnvelope[VersionOut],
        name=f"{level}_secret_history",
        tags=["versions"],
    )
    def history(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
        reveal: Reveal = False,
        page: Page = 1,
        per_page: PerPage = DEFAULT_PER_PAGE,
    ) -> ListEnvelope[VersionOut]:
        """Every version of a key at this level, newest first; values with ?reveal=true."""
        found = versions.history(
            installation, actor, resolve(installation, actor, ref), key, reveal=reveal
        )
        items, pagination = page_of(found, page, per_page)
        return ListEnvelope[VersionOut](
            response=[VersionOut.model_validate(e.to_json()) for e in items],
            count=pagination.count,
            pagination=pagination,
        )

    @router.post(
        f"{path}/{{key}}/rollback",
        response_model=Envelope[SecretOut],
        name=f"rollback_{level}_secret",
        tags=["versions"],
    )
    def rollback_key(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        body: RollbackKey,
        installation: InstallationDep,
        actor: Caller,
        response: Response,
        if_match: IfMatch = None,
    ) -> Envelope[SecretOut]:
        """Make an earlier version's value current again, as a new version."""
        target = resolve(installation, actor, ref)
        versions.rollback_key(
            installation, actor, target, key, body.to_version, expected_version=_expected(if_match)
        )
        return _current(installation, actor, target, key, response)

    @router.post(
        f"{path}/{{key}}/undelete",
        response_model=Envelope[SecretOut],
        name=f"undelete_{level}_secret",
        tags=["versions"],
    )
    def undelete(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        installation: InstallationDep,
        actor: Caller,
        response: Response,
    ) -> Envelope[SecretOut]:
        """Restore a deleted key's last value, as a new version."""
        target = resolve(installation, actor, ref)
        versions.undelete(installation, actor, target, key)
        return _current(installation, actor, target, key, response)

    @router.delete(
        f"{path}/{{key}}/versions/{{version}}",
        response_model=Envelope[DestroyedOut],
        name=f"destroy_{level}_secret_version",
        tags=["versions"],
    )
    def destroy(
        ref: Annotated[str, Path(alias=param)],
        key: str,
        version: Annotated[int, Path(ge=1, le=2**31 - 1)],
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[DestroyedOut]:
        """Remove one version's ciphertext for good (not the current one); its row stays."""
        versions.destroy_version(
            installation, actor, resolve(installation, actor, ref), key, version
        )
        return Envelope[DestroyedOut](
            response=DestroyedOut(key=key, version=version, destroyed=True)
        )

    @router.post(
        f"{path}/rollback",
        response_model=Envelope[RollbackOut],
        name=f"rollback_{level}_secrets",
        tags=["versions"],
    )
    def rollback_level(
        ref: Annotated[str, Path(alias=param)],
        body: RollbackLevel,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[RollbackOut]:
        """Every key of this level as it was at ``to``, in one transaction (new versions)."""
        report = versions.rollback_level(
            installation, actor, resolve(installation, actor, ref), body.to
        )
        return Envelope[RollbackOut](
            response=RollbackOut(
                to_iso=iso8601(report.to),
                restored=report.restored,
                deleted=report.deleted,
                unchanged=report.unchanged,
            )
        )

    policy_path = f"/{prefix}/{{{param}}}/secret_policy"

    @router.get(
        policy_path,
        response_model=Envelope[SecretPolicy],
        name=f"{level}_secret_policy",
        tags=["versions"],
    )
    def get_policy(
        ref: Annotated[str, Path(alias=param)], installation: InstallationDep, actor: Caller
    ) -> Envelope[SecretPolicy]:
        limit = retention.max_versions(installation, actor, resolve(installation, actor, ref))
        return Envelope[SecretPolicy](response=SecretPolicy(max_versions=limit))

    @router.put(
        policy_path,
        response_model=Envelope[SecretPolicy],
        name=f"put_{level}_secret_policy",
        tags=["versions"],
    )
    def put_policy(
        ref: Annotated[str, Path(alias=param)],
        body: SecretPolicy,
        installation: InstallationDep,
        actor: Caller,
    ) -> Envelope[SecretPolicy]:
        """How many versions each secret of this level keeps (null: all); older versions'
        values are destroyed on the next write of each key, never the current or previous."""
        retention.set_max_versions(
            installation, actor, resolve(installation, actor, ref), body.max_versions
        )
        return Envelope[SecretPolicy](response=body)


_register("accounts", "account_id", _account, "account")
_register("stacks", "stack_uid", _stack, "stack")
_register_versions("accounts", "account_id", _account, "account")
_register_versions("stacks", "stack_uid", _stack, "stack")
