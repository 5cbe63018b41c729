"""Vault's response shapes: the envelope every answer carries, and its error body.

``Content-Type`` is exactly ``application/json`` (hvac ignores a body otherwise); errors are
``{"errors": [...]}``; an empty 404 is ``{"errors": []}`` (hvac and the CLI read it as "no
secret here").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from starlette.responses import JSONResponse, Response

__all__ = ["answer", "errors", "no_content", "vault_time"]


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
