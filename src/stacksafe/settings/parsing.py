"""Reading ``STACKSAFE_*`` values: whole numbers and seconds within bounds, absolute paths, IP
networks, a database URL's hosts; each bad value is one ``ConfigurationError`` naming the
variable."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from stacksafe.errors import ConfigurationError

__all__ = [
    "MAX_BYTES",
    "MAX_CONNECTIONS",
    "MAX_EXPANDED_BYTES",
    "MAX_JWT_LEEWAY",
    "MAX_RATE",
    "MAX_SECONDS",
    "MAX_THREADS",
    "MAX_WAITING",
    "absolute_path",
    "database_hosts",
    "networks",
    "private_listener",
    "seconds",
    "whole",
]


def absolute_path(env: Mapping[str, str], name: str) -> Path | None:
    """The path in ``name`` (``~`` expanded), which must be absolute: a relative one would
    depend on the directory each process happens to start in. None when unset or empty."""
    text = env.get(name)
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ConfigurationError(f"{name} must be an absolute path, not {text[:200]!r}")
    return path


# Generous upper bounds: a typo (an extra zero or three) is an error, not a server that opens
# a million connections or waits a day.
MAX_CONNECTIONS = 10_000
MAX_SECONDS = 3600
# A read that builds more than this much text is a memory problem whatever the operator meant.
MAX_EXPANDED_BYTES = 1 << 30
MAX_BYTES = 1 << 40
MAX_JWT_LEEWAY = 600  # more is not clock skew but a token valid for longer than its issuer said
MAX_THREADS = 256  # password checks: each takes a core's worth of Argon2
MAX_WAITING = 10_000
MAX_RATE = 10**12  # requests per hour, or seconds between rotation looks: unbounded in practice


def whole(
    env: Mapping[str, str],
    name: str,
    default: int,
    least: int,
    unit: str,
    most: int | None = None,
) -> int:
    text = env.get(name)
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):
        raise ConfigurationError(f"{name} must be a whole number of {unit}, not {text!r}")
    value = int(text)
    if most is None:
        most = {"seconds": MAX_SECONDS, "bytes": MAX_BYTES}.get(unit, MAX_CONNECTIONS)
    if not least <= value <= most:
        raise ConfigurationError(f"{name} must be between {least} and {most} {unit}, not {value}")
    return value


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = float(text) if text.isascii() else float("nan")
    except ValueError:
        value = float("nan")
    if not 0 < value <= MAX_SECONDS:  # also refuses nan and inf
        raise ConfigurationError(
            f"{name} must be a number of seconds above 0 and at most {MAX_SECONDS} "
            f"(e.g. 10 or 2.5), not {text!r}"
        )
    return value


def networks(
    env: Mapping[str, str], name: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    found = []
    for entry in (part.strip() for part in env.get(name, "").split(",")):
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{name} entry {entry!r} is not an IP address or network (e.g. 10.0.0.0/8, "
                "127.0.0.1, fd00::/8); host names are not accepted: they may resolve elsewhere"
            ) from None
    return tuple(found)


def private_listener(text: str, name: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[V6]:PORT``) of a listener that answers without credentials: HOST is
    ``localhost`` or an IP address of loopback or a private network (RFC 1918, fc00::/7), never
    a name (it may resolve elsewhere) nor all interfaces (0.0.0.0, ::: public ones too)."""
    host, colon, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not (port.isascii() and port.isdigit()):
        raise ConfigurationError(f"{name} must be HOST:PORT (e.g. 127.0.0.1:9464), not {text!r}")
    number = int(port)
    if not 1 <= number <= 65535:
        raise ConfigurationError(f"{name}: port {number} is not between 1 and 65535")
    if host == "localhost":
        return host, number
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigurationError(
            f"{name}: {host!r} is not an IP address (a host name may resolve elsewhere)"
        ) from None
    if address.is_unspecified or not (address.is_loopback or address.is_private):
        raise ConfigurationError(
            f"{name}: {host} is not a loopback or private address; the metrics listener "
            "answers anyone who reaches it, without a token"
        )
    return str(address), number


def database_hosts(url: str, env: Mapping[str, str]) -> tuple[str, ...]:
    """The TCP hosts of a PostgreSQL ``url`` (its netloc, ``?host=``/``?hostaddr=``, else
    libpq's PGHOST/PGHOSTADDR, which it falls back to); none for SQLite or a local socket."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # a malformed URL: opening the database reports it, naming the problem
        return ()
    if not parts.scheme.startswith("postgres"):
        return ()
    query = parse_qs(parts.query)
    named = [hostname or ""]
    for key in ("host", "hostaddr"):
        named += [h for value in query.get(key, []) for h in value.split(",")]
    if not any(named):
        named = [h for key in ("PGHOST", "PGHOSTADDR") for h in env.get(key, "").split(",")]
    if not any(named):
        named = ["localhost"]  # libpq's default: a local socket, i.e. this machine
    return tuple(dict.fromkeys(h for h in named if h and not h.startswith(("/", "@"))))
