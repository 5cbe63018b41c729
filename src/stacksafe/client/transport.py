"""The SDK's HTTP side: TLS rules, one request with errors mapped back, pages, the envelope.

Certificates are verified (``ca_bundle`` for a private CA); plain HTTP is refused unless the
host is a loopback address. An error answer becomes the class the server raised (``NotFound``,
``Forbidden``, ``Conflict``, ``RateLimited`` ...), mapped from the error body.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from stacksafe.client.fields import Fields, MalformedResponse, array
from stacksafe.client.login import Credential, GivenToken
from stacksafe.errors import (
    AuditUnavailable,
    ConfigurationError,
    Conflict,
    ExpansionTooLarge,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServerUnreachable,
    StacksafeError,
    StorageUnavailable,
    Throttled,
    Unauthenticated,
)
from stacksafe.loopback import is_loopback
from stacksafe.paging import MAX_PER_PAGE

__all__ = [
    "PER_PAGE",
    "Transport",
    "error_from_response",
    "etag_version",
    "path_segment",
    "response_of",
]

_ERRORS: Mapping[str, type[StacksafeError]] = {
    "bad_request": InvalidInput,
    "expansion_too_large": ExpansionTooLarge,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "conflict": Conflict,
    "precondition_failed": PreconditionFailed,
    "throttled": Throttled,
    "integrity_error": IntegrityError,
    "configuration_error": ConfigurationError,
    "audit_unavailable": AuditUnavailable,
    "storage_unavailable": StorageUnavailable,
}
_BY_STATUS: Mapping[int, type[StacksafeError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    429: Throttled,
    503: Throttled,
}
PER_PAGE = MAX_PER_PAGE  # the largest page the server gives: the fewest requests

# Seconds an idle connection is kept for the next request. Under the server's keep-alive timeout
# (uvicorn's 5 s): a connection the server closes for idleness just as a request is sent on it
# fails that request ("Server disconnected without sending a response"); httpx's default is 5 s.
KEEPALIVE_EXPIRY = 2.0


def error_from_response(response: httpx.Response) -> StacksafeError:
    """The stacksafe error an error response stands for (the inverse of the server's table)."""
    try:
        body = response.json()
        code, message = str(body.get("error", "")), str(body.get("error_description", ""))
    except ValueError:
        code, message = "", ""
    cls = _ERRORS.get(code) or _BY_STATUS.get(response.status_code, StacksafeError)
    message = message or f"the server answered HTTP {response.status_code}"
    if issubclass(cls, Throttled):
        # The wait the server asked for, so a client can back off exactly (None: not said).
        # ASCII digits only, and few: ``isdigit`` takes "²" (which ``int`` refuses), and a
        # number past 4,300 digits is refused by ``int`` too (a hostile proxy's Retry-After).
        wait = response.headers.get("retry-after", "").strip()
        plain = wait.isascii() and wait.isdigit() and len(wait) <= 9
        return cls(message, retry_after=int(wait) if plain else None)
    return cls(message)


def _trusting(ca_bundle: str) -> ssl.SSLContext:
    """A context trusting the CAs in ``ca_bundle``; a file that cannot be used is one line."""
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except FileNotFoundError:
        problem = "does not exist"
    except PermissionError:
        problem = "cannot be read (permission denied)"
    except IsADirectoryError:
        problem = "is a directory, not a PEM file"
    except (ssl.SSLError, OSError, ValueError):
        problem = "holds no PEM certificate"
    raise ConfigurationError(f"CA bundle {ca_bundle} (STACKSAFE_CA_BUNDLE) {problem}")


def _certificate_failure(exc: BaseException) -> str | None:
    """What the TLS verification said, if that is why ``exc`` happened (None: another reason)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or "not trusted"
        seen = seen.__cause__ or seen.__context__
    return None


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
        parts = urlsplit(address)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"server address {address!r} must be https://HOST[:PORT]")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigurationError(
                f"refusing plain HTTP to {parts.hostname}: tokens and secrets would cross the "
                "network unencrypted; use https://"
            )
        self.http = httpx.Client(
            base_url=address.rstrip("/") + "/api/3",
            headers={"User-Agent": "stacksafe-sdk"},
            verify=_trusting(ca_bundle) if ca_bundle else True,
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
            "Authorization": f"Bearer {self.bearer()}",
        }
        try:
            return self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: httpx.HTTPError) -> ServerUnreachable:
        failed = _certificate_failure(exc)
        if failed is not None:
            # Not "cannot reach": the server answered, and its certificate is the problem.
            return ServerUnreachable(
                f"the stacksafe server at {self.http.base_url} presented a certificate that "
                f"failed verification ({failed}); if it is signed by a private CA, set "
                "STACKSAFE_CA_BUNDLE (the SDK: ca_bundle=) to that CA's PEM file"
            )
        return ServerUnreachable(
            f"cannot reach the stacksafe server at {self.http.base_url}: {type(exc).__name__}"
        )

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
        page = 1
        while True:
            response = self.request(
                "GET", path, params={**params, "page": page, "per_page": PER_PAGE}
            )
            body = Fields(_json(response), "ListEnvelope")
            yield body
            following = body.nested("pagination").integer_or_none("next")
            if following is None:
                return
            page = following


def path_segment(value: str) -> str:
    """``value`` as one segment of a URL path. "." and ".." are refused: no quoting keeps them
    from being read as "this" and "the parent" segment, which would send the request to
    another route."""
    if value in (".", ".."):
        raise InvalidInput(f"{value!r} cannot be named in a URL: use the uid")
    return quote(value, safe="")


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        raise MalformedResponse("the body", "not JSON") from None


def response_of(response: httpx.Response) -> object:
    """The ``response`` member of an answer's envelope."""
    return Fields(_json(response), "Envelope").raw("response")


def etag_version(response: httpx.Response) -> int:
    """The version a single secret's ``ETag`` names (0: none)."""
    tag = response.headers.get("etag", "").strip('"')
    return int(tag) if tag.isdigit() else 0
