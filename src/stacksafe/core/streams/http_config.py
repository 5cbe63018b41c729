"""Where an HTTPS POST goes, checked: its URL, headers, HMAC secret, CA and timeout.

The audit stream's HTTPS sink (core.streams.http_sink) and the change events' webhooks
(core.webhooks.sink) POST so. Apart from the POST itself, which needs httpx: a server checks and
keeps these when its sinks are configured, and imports httpx only when one delivers
(bench/README.md, "Start-up")."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from stacksafe.core.streams import signature
from stacksafe.errors import InvalidInput
from stacksafe.loopback import is_loopback
from stacksafe.model import SecretValue

__all__ = ["CONTENT_TYPE", "HttpConfig"]

CONTENT_TYPE = "application/x-ndjson"
# Headers stacksafe sets itself: a custom one may not replace them.
_RESERVED = frozenset(
    {
        "host",
        "content-type",
        "content-length",
        "content-encoding",
        "transfer-encoding",
        "connection",
        signature.HEADER.lower(),
    }
)
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _checked_url(url: str) -> str:
    # Printable ASCII only: a NUL, a line break or a lone surrogate would reach the request
    # line or the audit record (orjson refuses a surrogate); anything else is percent-encoded.
    if not all("!" <= c <= "~" for c in url):
        raise InvalidInput("the HTTPS sink's url must be printable ASCII (percent-encoded)")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("the HTTPS sink's url must be an https:// address with a host")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise InvalidInput("the HTTPS sink's url must be https:// (plain http only on loopback)")
    if parts.username or parts.password:
        raise InvalidInput("the HTTPS sink's url must not hold credentials; use a header")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or parts.fragment:
        raise InvalidInput("the HTTPS sink's url needs a port 1-65535 (if any) and no #fragment")
    return url


def _checked_header(name: str, value: str) -> None:
    # Names only in messages: a value is often a credential.
    if not name or not set(name) <= _TOKEN:
        raise InvalidInput(f"{name[:40]!r} is not an HTTP header name")
    if name.lower() in _RESERVED:
        raise InvalidInput(f"the header {name} is set by stacksafe itself")
    if not all(c == "\t" or " " <= c <= "~" for c in value):
        raise InvalidInput(f"the value of the header {name} must be printable ASCII")


@dataclass(frozen=True, repr=False)
class HttpConfig:
    """Where to POST. ``headers``: sent with every POST (e.g. an ``Authorization`` the
    receiver wants); ``hmac_secret``: sign each POST with it; ``ca_file``: trust only this CA
    (PEM) for the receiver's certificate; ``timeout``: seconds for a whole POST."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    hmac_secret: SecretValue | None = field(default=None)
    ca_file: Path | None = None
    timeout: float = 10.0
    # What is POSTed, who posts it and how messages name it (a webhook POSTs JSON).
    content_type: str = CONTENT_TYPE
    user_agent: str = "stacksafe-audit-sink"
    label: str = "the HTTPS sink"

    def __post_init__(self) -> None:
        _checked_url(self.url)
        for name, value in self.headers:
            _checked_header(name, value)
        if self.hmac_secret is not None and not self.hmac_secret.reveal():
            raise InvalidInput("the HTTPS sink's HMAC secret is empty")
        if not 0 < self.timeout <= 300:
            raise InvalidInput("the HTTPS sink's timeout must be 0-300 seconds")

    @property
    def where(self) -> str:
        """The URL's scheme and authority: its path and query may hold a receiver's token."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    def __repr__(self) -> str:
        return (
            f"HttpConfig(url={self.where + '/…'!r}, headers={[n for n, _ in self.headers]!r}, "
            f"hmac_secret={'set' if self.hmac_secret else None}, ca_file={self.ca_file!r}, "
            f"timeout={self.timeout!r})"
        )
