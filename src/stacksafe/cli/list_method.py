"""Vault's ``LIST`` method through uvicorn's fast HTTP parser.

uvicorn parses requests with httptools (llhttp), which refuses any method it does not know
("Invalid HTTP request received.", 400) before the application sees the request, and Vault's
``LIST`` is one: hvac and node-vault send it for every listing (the Go clients send
``GET ?list=true`` instead). The pure-Python parser (h11) accepts it but costs every request
more CPU. So `stacksafe serve` runs httptools with this protocol, which rewrites a request line
``LIST /v1/<path>`` into ``GET /v1/<path>?list=true`` (what the Go clients send, and what the
Vault API reads as LIST, api.vault.app) before the parser sees it. Only at the start of a
request's bytes: a LIST pipelined behind another request in the same packet is still refused
(no Vault client pipelines).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["VaultListProtocol", "as_get_list"]

_LIST = b"LIST /v1/"


def as_get_list(data: bytes) -> bytes:
    """``data`` with a leading ``LIST /v1/...`` request line made ``GET /v1/...?list=true``."""
    if not data.startswith(_LIST):
        return data
    line_end = data.find(b"\r\n")
    version = data.find(b" HTTP/", len(_LIST))
    if version < 0 or (0 <= line_end < version):
        return data  # the request line is not all here: left to the parser, which refuses it
    target = data[len(b"LIST ") : version]
    joiner = b"&" if b"?" in target else b"?"
    return b"GET " + target + joiner + b"list=true" + data[version:]


class VaultListProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with ``as_get_list`` applied where a request starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._request_starts = True

    def data_received(self, data: bytes) -> None:
        if self._request_starts:
            data = as_get_list(data)
        self._request_starts = False
        super().data_received(data)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._request_starts = True  # the next bytes of this connection begin a request
