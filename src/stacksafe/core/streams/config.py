"""A sink's configuration: its options checked per type (file, syslog, http), the ones that
are credentials (an HTTP sink's HMAC secret and headers) sealed at rest and never shown.

What a sink's factory (core.streams.types) is given is a ``SinkConfig``: the options, and the
credentials opened. Bad options are refused here, with one line naming the problem, before
anything is stored.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import SETTINGS_SEAL, keyed_hash
from stacksafe.core.streams.http_config import HttpConfig
from stacksafe.core.streams.syslog_sink import SyslogConfig, Transport
from stacksafe.crypto.sealed_setting import open_setting, seal_setting
from stacksafe.errors import InvalidInput
from stacksafe.loopback import is_loopback
from stacksafe.model import SecretValue

__all__ = [
    "DEFAULT_KEEP",
    "DEFAULT_MAX_BYTES",
    "TYPES",
    "SinkConfig",
    "SinkOptions",
    "check_options",
    "checked_url",
    "http_config",
    "open_config",
    "open_named",
    "seal_credentials",
    "seal_named",
    "syslog_config",
]

TYPES = ("file", "syslog", "http")
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_KEEP = 5
_MIN_MAX_BYTES = 64 * 1024
_MAX_KEEP = 1000
_MAX_SECRET_BYTES = 4096
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}")
# Headers the HTTP sink sets itself: one given twice would make the request ambiguous.
_OWN_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection"}
_MAX_PORT_DIGITS = 5  # int() of thousands of digits is refused by Python itself (a crash)


@dataclass(frozen=True)
class SinkOptions:
    """What ``audit sinks add`` was given, before it is checked (a CLI's options)."""

    path: Path | None = None
    max_bytes: int | None = None
    keep: int | None = None
    address: str | None = None
    tls: bool = False
    ca: Path | None = None
    udp: bool = False
    url: str | None = None
    hmac_secret: bytes | None = field(default=None, repr=False)
    headers: Sequence[str] = field(default=(), repr=False)


@dataclass(frozen=True)
class SinkConfig:
    """A sink as its factory gets it: ``options`` (JSON-able, shown by ``list``) and
    ``credentials`` (opened; never logged, printed or audited)."""

    name: str
    type: str
    options: Mapping[str, Any]
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)


def check_options(
    type_: str, given: SinkOptions
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(options, credentials, warnings) of a sink of ``type_``; ``InvalidInput`` if wrong."""
    if type_ not in TYPES:
        raise InvalidInput(f"--type {type_[:40]!r} must be one of {', '.join(TYPES)}")
    _refuse_foreign(type_, given)
    if type_ == "file":
        return _file(given), {}, []
    if type_ == "syslog":
        options, credentials, warnings = _syslog(given)
        syslog_config(options)  # what the sink itself would refuse, refused now
        return options, credentials, warnings
    options, credentials, warnings = _http(given)
    http_config(options, credentials)
    return options, credentials, warnings


def syslog_config(options: Mapping[str, Any]) -> SyslogConfig:
    """The syslog sink's configuration of a sink's stored ``options``."""
    transport: Transport = "udp" if options["udp"] else "tls" if options["tls"] else "tcp"
    ca = options.get("ca")
    return SyslogConfig(
        host=str(options["host"]),
        port=int(options["port"]),
        transport=transport,
        ca_file=None if ca is None else Path(ca),
    )


def http_config(options: Mapping[str, Any], credentials: Mapping[str, Any]) -> HttpConfig:
    """The HTTPS sink's configuration of a sink's stored ``options`` and ``credentials``."""
    secret = credentials.get("hmac_secret")
    ca = options.get("ca")
    return HttpConfig(
        url=str(credentials["url"]),
        headers=tuple((str(n), str(v)) for n, v in credentials.get("headers", ())),
        hmac_secret=None if secret is None else SecretValue(str(secret)),
        ca_file=None if ca is None else Path(ca),
    )


def _plain(option: str, text: str) -> None:
    """Refuse what no address or file name holds and what cannot even be audited (a lone
    surrogate from undecodable bytes, a NUL, a control character): never echoed."""
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        raise InvalidInput(f"{option} holds a control character or undecodable bytes")


_OWNED = {
    "file": {"path", "max_bytes", "keep"},
    "syslog": {"address", "tls", "ca", "udp"},
    "http": {"url", "hmac_secret", "headers", "ca"},
}


def _refuse_foreign(type_: str, given: SinkOptions) -> None:
    for name in sorted(set().union(*_OWNED.values()) - _OWNED[type_]):
        value = getattr(given, name)
        if value not in (None, False, (), []):
            option = "--" + name.replace("_", "-") + ("-file" if name == "hmac_secret" else "")
            raise InvalidInput(f"{option} does not apply to a {type_} sink")


def _file(given: SinkOptions) -> dict[str, Any]:
    if given.path is None:
        raise InvalidInput("a file sink needs --path FILE")
    _plain("--path", str(given.path))
    path = given.path.expanduser().absolute()
    if path.is_symlink():
        raise InvalidInput(f"--path {path} is a symbolic link (the sink writes only a file)")
    if not path.parent.is_dir():
        raise InvalidInput(f"--path {path}: its directory does not exist")
    if path.is_dir():
        raise InvalidInput(f"--path {path} is a directory")
    max_bytes = DEFAULT_MAX_BYTES if given.max_bytes is None else given.max_bytes
    if max_bytes < _MIN_MAX_BYTES:
        raise InvalidInput(f"--max-bytes must be at least {_MIN_MAX_BYTES}")
    keep = DEFAULT_KEEP if given.keep is None else given.keep
    if not 0 <= keep <= _MAX_KEEP:
        raise InvalidInput(f"--keep must be between 0 and {_MAX_KEEP}")
    return {"path": str(path), "max_bytes": max_bytes, "keep": keep}


def _syslog(given: SinkOptions) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    if given.address is None:
        raise InvalidInput("a syslog sink needs --address HOST:PORT")
    _plain("--address", given.address)
    host, sep, port_text = given.address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    digits = port_text.isascii() and port_text.isdigit() and len(port_text) <= _MAX_PORT_DIGITS
    if not sep or not host or not digits:
        raise InvalidInput(f"--address {given.address[:200]!r} must be HOST:PORT")
    port = int(port_text)
    if not 1 <= port <= 65535 or len(host) > 253 or any(c.isspace() for c in host):
        raise InvalidInput(f"--address {given.address[:200]!r} must be HOST:PORT")
    if given.udp and given.tls:
        raise InvalidInput("--udp and --tls do not go together (syslog over TLS is TCP)")
    if given.ca is not None and not given.tls:
        raise InvalidInput("--ca applies only with --tls")
    ca = _ca_file(given)
    warnings = []
    if given.udp:
        warnings.append(
            "syslog over UDP may lose events without anyone knowing (no delivery is "
            "confirmed): the receiver's `audit verify --stream` would show the gaps"
        )
    options = {"host": host, "port": port, "tls": given.tls, "ca": ca, "udp": given.udp}
    return options, {}, warnings


def _http(given: SinkOptions) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    if given.url is None:
        raise InvalidInput("an http sink needs --url URL")
    url = given.url
    origin = checked_url(url, "(use --header or --hmac-secret-file)")
    credentials: dict[str, Any] = {}
    if given.hmac_secret is not None:
        secret = given.hmac_secret.rstrip(b"\r\n")
        if not secret or len(secret) > _MAX_SECRET_BYTES:
            raise InvalidInput(f"the --hmac-secret-file must hold 1 to {_MAX_SECRET_BYTES} bytes")
        try:
            credentials["hmac_secret"] = secret.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("the --hmac-secret-file must hold UTF-8 text") from None
    headers = [_header(text) for text in given.headers]
    if headers:
        credentials["headers"] = headers
    # The URL's path and query may be a credential too (a collector's token in the query):
    # only its origin is shown; the whole URL is sealed with the other credentials.
    credentials["url"] = url
    return {"origin": origin, "ca": _ca_file(given)}, credentials, []


def checked_url(url: str, instead: str = "") -> str:
    """The origin (scheme and authority, what may be shown) of ``url``, an address stacksafe
    POSTs to (an HTTP sink's, a webhook's): https://, plain http only to this machine, no
    credentials in it (``instead``: where they go), no fragment; else ``InvalidInput``."""
    if not all("!" <= c <= "~" for c in url):  # never echoed: it may hold a token
        raise InvalidInput("--url must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        raise InvalidInput("--url is not a URL") from None
    if parts.username is not None or parts.password is not None:
        raise InvalidInput(f"--url must not hold credentials {instead}".rstrip())
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise InvalidInput("--url must be https:// (plain http only to this machine)")
    if not host or len(url) > 2048 or parts.fragment:
        raise InvalidInput("--url must be an absolute URL with a host and no fragment")
    return f"{parts.scheme}://{parts.netloc}"


def _ca_file(given: SinkOptions) -> str | None:
    """``--ca FILE``: the receiver's certificate authority, instead of the system's."""
    if given.ca is None:
        return None
    _plain("--ca", str(given.ca))
    ca_path = given.ca.expanduser().absolute()
    if not ca_path.is_file():
        raise InvalidInput(f"--ca {ca_path} is not a file")
    return str(ca_path)


def _header(text: str) -> list[str]:
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    # Never echo the value: it is likely a token.
    if not sep or not _HEADER_NAME.fullmatch(name):
        raise InvalidInput(f"--header {name[:80]!r}...: must be 'NAME: VALUE'")
    if any(c in value for c in "\r\n\x00"):
        raise InvalidInput(f"--header {name!r}: its value holds a line break")
    if name.lower() in _OWN_HEADERS:
        raise InvalidInput(f"--header {name!r} is set by the sink itself")
    return [name, value]


def _setting_name(sink_name: str) -> str:
    return f"audit-sink:{sink_name}"


def seal_credentials(
    installation: Installation, sink_name: str, credentials: Mapping[str, Any]
) -> bytes | None:
    if not credentials:
        return None
    plain = json.dumps(dict(credentials), sort_keys=True).encode()
    return seal_named(installation, _setting_name(sink_name), plain)


def seal_named(installation: Installation, setting: str, plain: bytes) -> bytes:
    """``plain`` sealed under the settings key, bound to the name ``setting`` (a sealed value
    moved to another row's name does not open)."""
    return seal_setting(keyed_hash(installation, SETTINGS_SEAL), setting, plain)


def open_named(installation: Installation, setting: str, sealed: bytes) -> bytes:
    """What ``seal_named`` sealed under ``setting`` (``IntegrityError`` if altered)."""
    return open_setting(keyed_hash(installation, SETTINGS_SEAL), setting, sealed)


def open_config(
    installation: Installation, name: str, type_: str, options: str, sealed: bytes | None
) -> SinkConfig:
    """A stored sink's configuration, its credentials opened (``IntegrityError`` if altered)."""
    credentials: dict[str, Any] = {}
    if sealed is not None:
        credentials = json.loads(open_named(installation, _setting_name(name), sealed))
    return SinkConfig(name, type_, json.loads(options), credentials)
