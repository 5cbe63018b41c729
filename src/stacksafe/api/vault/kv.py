"""KV v2 on the one mount: data, metadata, delete/undelete/destroy, config (vault-compat.md)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from anyio import to_thread
from starlette.responses import Response

from stacksafe.api.deps import ApiState, counted
from stacksafe.api.durable import durable
from stacksafe.api.vault.app import Asked, AtHand, Call, Handler, error_response
from stacksafe.api.vault.envelope import answer, errors, no_content, vault_time, version_metadata
from stacksafe.core.access import Principal
from stacksafe.core.kv import metadata as kv_metadata
from stacksafe.core.kv.deletes import (
    delete_versions,
    destroy_versions,
    forget_path,
    undelete_versions,
)
from stacksafe.core.kv.paths import known_stack_uid, kv_path, kv_target
from stacksafe.core.kv.reads import (
    KV_QUERY,
    KvLatest,
    latest_facts,
    read_latest,
    read_version,
    revealed_data,
)
from stacksafe.core.kv.versions import PathVersion
from stacksafe.core.kv.writes import write_path
from stacksafe.core.reveal import Credential, Revealed, StackRef, reveal_on_loop
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput, StacksafeError

__all__ = ["at_hand", "kv_handler"]

MERGE_PATCH = "application/merge-patch+json"


def _target(call: Call, path: str, *, for_reading: bool = False) -> Target:
    return kv_target(
        call.state.installation, call.principal, kv_path(path), for_reading=for_reading
    )


def _version_param(call: Call) -> int | None:
    text = call.query.get("version")
    if text in (None, ""):
        return None
    try:
        number = int(text)
    except ValueError:
        raise InvalidInput(f"version {text!r} is not a number") from None
    if number < 0:
        raise InvalidInput("versions start at 1")
    return number


KV_SHAPE = ("vault-kv-latest",)
_ENVELOPE_HEAD = b'{"request_id":'
_ENVELOPE_MIDDLE = b',"lease_id":"","renewable":false,"lease_duration":0,"data":'
_ENVELOPE_TAIL = b',"wrap_info":null,"warnings":null,"auth":null}'


def _enveloped(request_id: str, inner: bytes, limits: Mapping[str, str] | None = None) -> Response:
    """Vault's envelope around ``inner`` (the ``data`` member, rendered once per snapshot)."""
    body = _ENVELOPE_HEAD + json.dumps(request_id).encode() + _ENVELOPE_MIDDLE + inner
    return Response(body + _ENVELOPE_TAIL, media_type="application/json", headers=limits)


def _latest_inner(state: ApiState, latest: KvLatest, revealed: Revealed) -> bytes:
    """``data`` of a latest read: kept per snapshot when the facts were read at its revision."""

    def render(_: object) -> bytes:
        read = revealed_data(latest.facts, revealed)
        inner = {
            "data": read.data,
            "metadata": version_metadata(read.version, read.custom_metadata),
        }
        return json.dumps(inner, separators=(",", ":")).encode()

    snapshot = revealed.snapshot
    if snapshot is not None and snapshot.revision == latest.facts.revision:
        return state.pages.body(revealed, KV_SHAPE, render)
    return render(None)


def _read_data(call: Call, path: str) -> Response:
    target = _target(call, path, for_reading=True)
    installation, principal = call.state.installation, call.principal
    version = _version_param(call)
    if version:
        read = read_version(installation, principal, target, version)
        metadata = version_metadata(read.version, read.custom_metadata)
        return answer(call.request_id, {"data": read.data, "metadata": metadata})
    latest = read_latest(installation, principal, target)
    revealed = latest.revealed
    assert revealed is not None  # noqa: S101 - read_latest reveals or raises
    revealed.result()
    return _enveloped(call.request_id, _latest_inner(call.state, latest, revealed))


def _finish_at_hand(state: ApiState, revealed: Revealed) -> bytes:
    """In a thread: the facts of a reveal answered at hand, and its ``data`` rendered; a full
    read again if a write came between the reveal and the facts (rare: two audit events)."""
    facts = latest_facts(state.installation, revealed.target)
    snapshot = revealed.snapshot
    if snapshot is not None and snapshot.revision == facts.revision:
        return _latest_inner(state, KvLatest(facts, revealed), revealed)
    latest = read_latest(state.installation, revealed.actor, revealed.target)
    again = latest.revealed
    assert again is not None  # noqa: S101 - read_latest reveals or raises
    again.result()
    return _latest_inner(state, latest, again)


def at_hand(mount: str) -> AtHand:
    """The latest version of a stack path, answered as api.fast_path answers the native list:
    on the event loop when the token, the stack and the level are kept (core.reveal), with the
    body rendered once per snapshot (api.pages); else None, having counted nothing."""
    prefix = f"{mount}/data/"

    async def answer_at_hand(state: ApiState, asked: Asked) -> Response | None:
        if asked.method != "GET" or not asked.path.startswith(prefix):
            return None
        if asked.query.get("version") not in (None, "", "0"):
            return None
        try:
            path = kv_path(asked.path[len(prefix) :])
        except StacksafeError:
            return None  # the usual way answers it, after the token is checked
        uid = known_stack_uid(state.installation, path)
        if uid is None:
            return None
        limits: dict[str, str] = {}

        def admit(actor: Principal) -> None:
            limits.update(counted(state, actor))

        credential = Credential(asked.token, asked.source_ip, asked.request_id)
        try:
            # At hand: nothing refused or counted unless answered here (a bad token is the
            # usual way's, which counts it); the one read awaited on the loop on PostgreSQL.
            revealed = await reveal_on_loop(
                state.installation, credential, StackRef(uid), KV_QUERY, admit=admit
            )
            if revealed is None:
                return None
            snapshot = revealed.snapshot
            inner = None if snapshot is None else state.pages.kept(snapshot, KV_SHAPE)
            if inner is None:
                inner = await to_thread.run_sync(_finish_at_hand, state, revealed)
            await durable(revealed.receipt)
            revealed.result()
        except StacksafeError as exc:
            return error_response(exc, asked.request_id)
        return _enveloped(asked.request_id, inner, limits)

    return answer_at_hand


def _options_cas(body: Mapping[str, Any]) -> int | None:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise InvalidInput("options must be an object")
    cas = options.get("cas")
    if cas is None:
        return None
    if isinstance(cas, bool):
        raise InvalidInput("error parsing check-and-set parameter")
    try:
        return int(cas)
    except (TypeError, ValueError):
        raise InvalidInput("error parsing check-and-set parameter") from None


def _write_data(call: Call, path: str, patch: bool) -> Response:
    if patch and call.content_type.split(";")[0].strip().lower() != MERGE_PATCH:
        return errors(415, [f"PATCH needs Content-Type: {MERGE_PATCH}"])
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise InvalidInput('no data provided: send {"data": {...}}')
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidInput('no data provided: send {"data": {...}}')
    target = _target(call, path)
    written = write_path(
        call.state.installation,
        call.principal,
        target,
        data,
        cas=_options_cas(body),
        patch=patch,
    )
    # One read for what the answer shows: the version written is the latest (a concurrent
    # write may have come since: then the written number with the time of this answer).
    facts = latest_facts(call.state.installation, target)
    found = facts.version
    if found is None or found.number != written.version:
        found = PathVersion(written.version, 0, call.state.installation.clock(), None, False)
    metadata = version_metadata(found, facts.custom_metadata)
    return answer(call.request_id, metadata, warnings=written.warnings)


def _versions_body(call: Call) -> list[object]:
    body = call.body if isinstance(call.body, dict) else {}
    versions = body.get("versions")
    if versions is None:
        return []
    if not isinstance(versions, list):
        return [versions]
    return versions


def _metadata_body(call: Call, merge: bool) -> kv_metadata.MetadataChange:
    body = call.body if isinstance(call.body, dict) else {}
    after = body.get("delete_version_after")
    if after not in (None, "", "0", "0s", 0):
        raise InvalidInput(
            "delete_version_after is not supported; set max_versions per account or stack"
        )
    limit = body.get("max_versions")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        raise InvalidInput("max_versions must be a number")
    cas_required = body.get("cas_required")
    if cas_required is not None and not isinstance(cas_required, bool):
        raise InvalidInput("cas_required must be true or false")
    custom = body.get("custom_metadata")
    if custom is not None and not isinstance(custom, dict):
        raise InvalidInput("custom_metadata must be an object of strings")
    return kv_metadata.MetadataChange(limit, cas_required, custom, merge)


def _read_metadata(call: Call, path: str) -> Response:
    target = _target(call, path)
    found = kv_metadata.read_metadata(call.state.installation, call.principal, target)
    versions = found.history.visible
    shown = versions[-max(10, found.max_versions) :]
    data = {
        "cas_required": found.cas_required,
        "created_time": vault_time(found.created_time),
        "current_version": found.history.current,
        "custom_metadata": found.custom_metadata,
        "delete_version_after": "0s",
        "max_versions": found.max_versions,
        # Vault: 0 until versions are removed for good; here, until DELETE metadata.
        "oldest_version": found.history.forgotten + 1 if found.history.forgotten else 0,
        "updated_time": vault_time(found.updated_time),
        "versions": {
            str(v.number): {
                "created_time": vault_time(v.created_time),
                "deletion_time": vault_time(v.deletion_time),
                "destroyed": v.destroyed,
            }
            for v in shown
        },
    }
    return answer(call.request_id, data)


def _list(call: Call, path: str) -> Response:
    keys = kv_metadata.list_folder(call.state.installation, call.principal, path)
    return answer(call.request_id, {"keys": keys})


def _config(call: Call) -> Response:
    if call.method == "GET":
        data = {"cas_required": False, "delete_version_after": "0s", "max_versions": 0}
        return answer(call.request_id, data)
    raise InvalidInput("not supported; set max_versions per account or stack")


def kv_handler(call: Call, rest: str) -> Handler | None:
    """The handler of ``rest`` (the path after the mount), or None: no such route."""
    section, _, path = rest.partition("/")
    method = call.method
    installation, principal = call.state.installation, call.principal
    if section == "config" and not path and method in ("GET", "POST", "PUT"):
        return _config
    if section == "data" and path.strip("/"):
        if method == "GET":
            return lambda c: _read_data(c, path)
        if method in ("POST", "PUT", "PATCH"):
            return lambda c: _write_data(c, path, method == "PATCH")
        if method == "DELETE":

            def delete(c: Call) -> Response:
                delete_versions(installation, principal, _target(c, path))
                return no_content()

            return delete
        return None
    if section == "metadata":
        if method == "LIST":
            return lambda c: _list(c, path)
        if not path.strip("/"):
            return None
        if method == "GET":
            return lambda c: _read_metadata(c, path)
        if method in ("POST", "PUT", "PATCH"):

            def write(c: Call) -> Response:
                change = _metadata_body(c, method == "PATCH")
                warnings = kv_metadata.write_metadata(
                    installation, principal, _target(c, path), change
                )
                if warnings:
                    return answer(c.request_id, None, warnings=warnings)
                return no_content()

            return write
        if method == "DELETE":

            def forget(c: Call) -> Response:
                forget_path(installation, principal, _target(c, path))
                return no_content()

            return forget
        return None
    if section in ("delete", "undelete", "destroy") and path.strip("/"):
        if method not in ("POST", "PUT"):
            return None

        def versions(c: Call) -> Response:
            target = _target(c, path)
            numbers = kv_metadata.version_numbers(_versions_body(c))
            if section == "destroy":
                destroy_versions(installation, principal, target, numbers)
            elif section == "undelete":
                undelete_versions(installation, principal, target, numbers)
            else:
                delete_versions(installation, principal, target, numbers)
            return no_content()

        return versions
    return None
