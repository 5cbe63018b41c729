"""KV v2 on the one mount: data, metadata, delete/undelete/destroy, config (vault-compat.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from stacksafe.api.vault.app import Call, Handler
from stacksafe.api.vault.envelope import answer, errors, no_content, vault_time
from stacksafe.core.kv import metadata as kv_metadata
from stacksafe.core.kv.paths import kv_path, kv_target
from stacksafe.core.kv.reads import VersionGone, read_path
from stacksafe.core.kv.versions import PathVersion, history_of
from stacksafe.core.kv.writes import delete_latest, write_path
from stacksafe.core.tenancy import Target
from stacksafe.errors import InvalidInput

__all__ = ["gone_response", "kv_handler"]

MERGE_PATCH = "application/merge-patch+json"


def _target(call: Call, path: str) -> Target:
    return kv_target(call.state.installation, call.principal, kv_path(path))


def _version_metadata(version: PathVersion, custom: Mapping[str, str] | None) -> dict[str, object]:
    return {
        "created_time": vault_time(version.created_time),
        "custom_metadata": dict(custom) if custom else None,
        "deletion_time": vault_time(version.deletion_time),
        "destroyed": version.destroyed,
        "version": version.number,
    }


def gone_response(exc: VersionGone) -> Response:
    """404 for a version without data: with its metadata when it has a number (the CLI then
    prints it and exits 0; hvac's ``raise_on_deleted_version=False`` returns it)."""
    if exc.version is None:
        return errors(404, [])
    body = {"data": {"data": None, "metadata": _version_metadata(exc.version, None)}}
    return JSONResponse(body, status_code=404)


def _custom(call: Call, target: Target) -> dict[str, str] | None:
    try:
        found = kv_metadata.read_metadata(call.state.installation, call.principal, target)
    except VersionGone:
        return None
    except Exception:
        return None
    return found.custom_metadata


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


def _read_data(call: Call, path: str) -> Response:
    target = _target(call, path)
    read = read_path(call.state.installation, call.principal, target, _version_param(call))
    metadata = _version_metadata(read.version, _custom(call, target))
    return answer(call.request_id, {"data": read.data, "metadata": metadata})


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
    history = history_of(call.state.installation, target)
    found = history.get(written.version)
    if found is None:  # an empty path written with nothing: Vault's version 0 shape
        found = PathVersion(0, 0, call.state.installation.clock(), None, False)
    metadata = _version_metadata(found, _custom(call, target))
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
    versions = found.history.versions
    shown = versions[-max(10, found.max_versions) :]
    data = {
        "cas_required": found.cas_required,
        "created_time": vault_time(found.created_time),
        "current_version": found.history.current,
        "custom_metadata": found.custom_metadata,
        "delete_version_after": "0s",
        "max_versions": found.max_versions,
        "oldest_version": shown[0].number if shown else 0,
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


def _is_latest(call: Call, target: Target, numbers: list[object]) -> bool:
    current = history_of(call.state.installation, target).current
    return current > 0 and (current in numbers or str(current) in numbers)


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
                delete_latest(installation, principal, _target(c, path))
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
        return None
    if section in ("delete", "undelete", "destroy") and path.strip("/"):
        if method not in ("POST", "PUT"):
            return None

        def versions(c: Call) -> Response:
            target = _target(c, path)
            numbers = _versions_body(c)
            if section == "destroy":
                kv_metadata.destroy_versions(installation, principal, target, numbers)
            elif section == "delete" and _is_latest(c, target, numbers):
                delete_latest(installation, principal, target)
                kv_metadata.set_deleted(installation, principal, target, numbers, deleted=True)
            else:
                kv_metadata.set_deleted(
                    installation, principal, target, numbers, deleted=section == "delete"
                )
            return no_content()

        return versions
    return None
