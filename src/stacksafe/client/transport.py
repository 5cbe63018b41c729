"""The SDK's HTTP side over httpx: one request with errors mapped back, pages, the envelope.

The rules are client/wire.py's, which `run`'s light reader follows too: certificates are
verified (``ca_bundle`` for a private CA); plain HTTP is refused unless the host is a loopback
address. An error answer becomes the class the server raised (``NotFound``, ``Forbidden``,
``Conflict``, ``RateLimited`` ...), mapped from the error body.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from stacksafe.client.fields import Fields, array
from stacksafe.client.login import Credential, GivenToken
from stacksafe.client.wire import (
    PER_PAGE,
    USER_AGENT,
    api_base,
    bearer_header,
    error_of,
    paged,
    parsed_json,
    path_segment,
    trusting,
    unreachable,
)
from stacksafe.errors import ServerUnreachable, StacksafeError

__all__ = [
    "PER_PAGE",
    "Transport",
    "error_from_response",
    "etag_version",
    "path_segment",
    "response_of",
]

# Seconds an idle connection is kept for the next request. Under the server's keep-alive timeout
# (uvicorn's 5 s): a connection the server closes for idleness just as a request is sent on it
# fails that request ("Server disconnected without sending a response"); httpx's default is 5 s.
KEEPALIVE_EXPIRY = 2.0


def error_from_response(response: httpx.Response) -> StacksafeError:
    """The stacksafe error an error response stands for (the inverse of the server's table)."""
    return error_of(response.status_code, response.json, response.headers.get("retry-after", ""))


class Transport:
    """One authenticated HTTP connection pool to ``{address}/api/3``."""

    def __init__(
        self,
        address: str,
        token: str | Credential,
        *,
        ca_bundle: str | None,
        timeout: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.base = api_base(address)
        self.http = httpx.Client(
            base_url=self.base,
            headers={"User-Agent": USER_AGENT},
            verify=trusting(ca_bundle) if ca_bundle else True,
            timeout=timeout,
            transport=transport,
            limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY),
        )

        self.credential: Credential = GivenToken(token) if isinstance(token, str) else token

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._sent(method, path, **kwargs)
        if response.status_code == 401 and self.credential.rejected():
            # A login's token that expired early (revoked, the clock): log in once more.
            response = self._sent(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return response

    def bearer(self) -> str:
        """The token the next request carries (a JWT login logs in for it when it must)."""
        try:
            return self.credential.bearer(self.http)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _sent(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {
            **(kwargs.pop("headers", None) or {}),
            "Authorization": bearer_header(self.bearer()),
        }
        try:
            return self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: httpx.HTTPError) -> ServerUnreachable:
        return unreachable(self.base, exc)

    def answer(self, method: str, path: str, **kwargs: Any) -> object:
        """The ``response`` member of the envelope the request is answered with."""
        return response_of(self.request(method, path, **kwargs))

    def pages(self, path: str, params: Mapping[str, Any]) -> Iterator[object]:
        """Each item of a paginated list, fetched ``PER_PAGE`` at a time."""
        for body in self.envelopes(path, params):
            yield from array(body.raw("response"), "ListEnvelope.response")

    def envelopes(self, path: str, params: Mapping[str, Any]) -> Iterator[Fields]:
        """Each page's whole envelope (what a list says beside ``response``, e.g. ``meta``),
        fetched ``PER_PAGE`` at a time."""
        return paged(lambda query: _json(self.request("GET", path, params=query)), params)


def _json(response: httpx.Response) -> object:
    return parsed_json(response.json)


def response_of(response: httpx.Response) -> object:
    """The ``response`` member of an answer's envelope."""
    return Fields(_json(response), "Envelope").raw("response")


def etag_version(response: httpx.Response) -> int:
    """The version a single secret's ``ETag`` names (0: none)."""
    tag = response.headers.get("etag", "").strip('"')
    return int(tag) if tag.isdigit() else 0
