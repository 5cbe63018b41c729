"""The SDK's rules of the wire, whatever HTTP library sends the request: which addresses are
allowed, which CAs are trusted, what an error answer or a failed connection becomes, how a path
segment is quoted, how a paginated list is walked, and how the server's text is shown.

The SDK's ``Transport`` (httpx) and `run`'s light reader (``client/light.py``, the standard
library's http.client) both follow them, so either says the same thing for the same answer.
Nothing here imports an HTTP library.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from stacksafe.client.fields import Fields, MalformedResponse
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
    "API_PATH",
    "MAX_REASON",
    "PER_PAGE",
    "USER_AGENT",
    "api_base",
    "bearer_header",
    "error_of",
    "paged",
    "parsed_json",
    "path_segment",
    "printable",
    "trusting",
    "unreachable",
]

API_PATH = "/api/3"
# The longest text of the server's shown by default (an ``end`` event's reason: the server's
# are one short sentence).
MAX_REASON = 300
USER_AGENT = "stacksafe-sdk"
PER_PAGE = MAX_PER_PAGE  # the largest page the server gives: the fewest requests

# What an HTTP header value may hold (RFC 9110: visible ASCII and spaces), so a token is sent
# as it is or refused here; a token never holds a space, so none is allowed.
_TOKEN = re.compile(r"[\x21-\x7e]+")


def bearer_header(token: str) -> str:
    """``Bearer <token>``; a token with a character no header may carry (a newline, a space,
    a non-ASCII letter: a copy-paste gone wrong) is refused with one line, never shown."""
    if not _TOKEN.fullmatch(token):
        raise InvalidInput(
            "the token is empty or holds a character a token cannot (a space, a line break, "
            "a non-ASCII character): check how STACKSAFE_TOKEN or the token file was written"
        )
    return f"Bearer {token}"


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


def api_base(address: str) -> str:
    """``{address}/api/3``; an address that is not http(s), or plain HTTP to another machine,
    is refused."""
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"server address {address!r} must be https://HOST[:PORT]")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain HTTP to {parts.hostname}: tokens and secrets would cross the "
            "network unencrypted; use https://"
        )
    return address.rstrip("/") + API_PATH


def trusting(ca_bundle: str) -> ssl.SSLContext:
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


def parsed_json(body: Callable[[], object]) -> object:
    """``body()``, the answer's JSON; not JSON is ``MalformedResponse``."""
    try:
        return body()
    except ValueError:
        raise MalformedResponse("the body", "not JSON") from None


def error_of(status: int, body: Callable[[], object], retry_after: str) -> StacksafeError:
    """The stacksafe error an error answer stands for (the inverse of the server's table):
    ``body()`` its JSON, ``retry_after`` its Retry-After header ("" when absent)."""
    try:
        answer = body()
        fields = answer if isinstance(answer, Mapping) else {}
        code = str(fields.get("error", ""))
        message = str(fields.get("error_description", ""))
    except ValueError:
        code, message = "", ""
    cls = _ERRORS.get(code) or _BY_STATUS.get(status, StacksafeError)
    message = message or f"the server answered HTTP {status}"
    if issubclass(cls, Throttled):
        # The wait the server asked for, so a client can back off exactly (None: not said).
        # ASCII digits only, and few: ``isdigit`` takes "²" (which ``int`` refuses), and a
        # number past 4,300 digits is refused by ``int`` too (a hostile proxy's Retry-After).
        wait = retry_after.strip()
        plain = wait.isascii() and wait.isdigit() and len(wait) <= 9
        return cls(message, retry_after=int(wait) if plain else None)
    return cls(message)


def _certificate_failure(exc: BaseException) -> str | None:
    """What the TLS verification said, if that is why ``exc`` happened (None: another reason)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen.verify_message or "not trusted"
        seen = seen.__cause__ or seen.__context__
    return None


def unreachable(base: str, exc: BaseException) -> ServerUnreachable:
    """The error of a request to ``base`` that got no answer because of ``exc``."""
    failed = _certificate_failure(exc)
    if failed is not None:
        # Not "cannot reach": the server answered, and its certificate is the problem.
        return ServerUnreachable(
            f"the stacksafe server at {base} presented a certificate that "
            f"failed verification ({failed}); if it is signed by a private CA, set "
            "STACKSAFE_CA_BUNDLE (the SDK: ca_bundle=) to that CA's PEM file"
        )
    return ServerUnreachable(f"cannot reach the stacksafe server at {base}: {type(exc).__name__}")


def printable(text: str, limit: int = MAX_REASON) -> str:
    """``text`` (the server's, or a proxy's) as it may be shown on a terminal: each control or
    other unprintable character escaped (``\\x1b``, ``\\n``, ``\\u202e``), cut to ``limit``
    characters."""
    shown = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
        for c in text[: limit + 1]
    )
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def path_segment(value: str) -> str:
    """``value`` as one segment of a URL path. "." and ".." are refused: no quoting keeps them
    from being read as "this" and "the parent" segment, which would send the request to
    another route."""
    if value in (".", ".."):
        raise InvalidInput(f"{value!r} cannot be named in a URL: use the uid")
    return quote(value, safe="")


def paged(get: Callable[[dict[str, Any]], object], params: Mapping[str, Any]) -> Iterator[Fields]:
    """Each page's whole envelope of a paginated list, ``PER_PAGE`` at a time: ``get`` sends
    the query given and returns the answer's JSON."""
    page = 1
    while True:
        body = Fields(get({**params, "page": page, "per_page": PER_PAGE}), "ListEnvelope")
        yield body
        following = body.nested("pagination").integer_or_none("next")
        if following is None:
            return
        page = following
