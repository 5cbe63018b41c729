"""Vault's response shapes: the envelope every answer carries, and its error body.

``Content-Type`` is exactly ``application/json`` (hvac ignores a body otherwise); errors are
``{"errors": [...]}``; an empty 404 is ``{"errors": []}`` (hvac and the CLI read it as "no
secret here").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from starlette.responses import JSONResponse, Response

from stacksafe.core.kv.reads import VersionGone
from stacksafe.core.kv.versions import PathVersion

__all__ = ["answer", "errors", "gone_response", "no_content", "vault_time", "version_metadata"]


def vault_time(moment: datetime | None) -> str:
    """RFC 3339 with nanosecond digits as Vault writes them; "" for none."""
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def answer(
    request_id: str,
    data: Mapping[str, object] | None,
    *,
    warnings: Sequence[str] = (),
    auth: Mapping[str, object] | None = None,
    status: int = 200,
) -> JSONResponse:
    body = {
        "request_id": request_id,
        "lease_id": "",
        "renewable": False,
        "lease_duration": 0,
        "data": data,
        "wrap_info": None,
        "warnings": list(warnings) or None,
        "auth": auth,
    }
    return JSONResponse(body, status_code=status)


def errors(
    status: int, messages: Sequence[str], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"errors": list(messages)}, status_code=status, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)


def version_metadata(version: PathVersion, custom: Mapping[str, str] | None) -> dict[str, object]:
    return {
        "created_time": vault_time(version.created_time),
        "custom_metadata": dict(custom) if custom else None,
        "deletion_time": vault_time(version.deletion_time),
        "destroyed": version.destroyed,
        "version": version.number,
    }


def gone_response(exc: VersionGone, request_id: str) -> Response:
    """404 for a version without data: with its metadata when it has a number, in Vault's
    envelope (the CLI then prints it and exits 0; hvac's ``raise_on_deleted_version=False``
    returns it)."""
    if exc.version is None:
        return errors(404, [])
    data = {"data": None, "metadata": version_metadata(exc.version, None)}
    return answer(request_id, data, status=404)
