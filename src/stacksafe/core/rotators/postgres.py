"""The postgres rotator: two database roles that alternate.

The value is a connection string for one role; a rotation sets a new password on the *other*
role, tests a connection with it, then makes it current. The role that was current keeps its
password until the rotation after, so every client holding the previous value keeps working for
a whole rotation period. Every connection goes only where ``core.outbound`` allows, with nothing
but what the secrets say (no password, user or certificate of the server's own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from stacksafe.core.outbound import Address, OutboundPolicy, OutboundRefused, Unresolvable
from stacksafe.core.rotators.failure import RotationFailed, refused
from stacksafe.model import SecretValue

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "MAX_CONNECT_TIMEOUT",
    "MIN_LIBPQ",
    "fixed_options",
    "libpq_version_text",
    "next_connection_string",
    "set_role_password",
]

log = logging.getLogger(__name__)

_URL_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")


def _is_url(value: str) -> bool:
    return urlsplit(value).scheme in _URL_SCHEMES


def _conninfo(value: SecretValue) -> dict[str, Any]:
    """The connection parameters of a URL or a key=value string (libpq's own parser)."""
    from psycopg.conninfo import conninfo_to_dict

    text = value.reveal()
    if _is_url(text):
        # libpq knows postgres:// and postgresql:// but not SQLAlchemy's +driver suffix.
        text = "postgresql" + text[text.index(":") :]
    try:
        return conninfo_to_dict(text)
    except Exception:  # psycopg's parse errors quote the text: never show it
        raise RotationFailed("the value is not a PostgreSQL connection string or URL") from None


def _connection_user(value: SecretValue) -> str:
    user = _conninfo(value).get("user")
    if not user:
        raise RotationFailed("the connection string names no user")
    return str(user)


def _with_credentials(value: SecretValue, user: str, password: SecretValue) -> SecretValue:
    """``value`` (a URL or key=value string) connecting as ``user`` with ``password``."""
    text = value.reveal()
    if _is_url(text):
        parts = urlsplit(text)
        host = parts.netloc.rsplit("@", 1)[-1]
        userinfo = f"{quote(user, safe='')}:{quote(password.reveal(), safe='')}"
        return SecretValue(urlunsplit(parts._replace(netloc=f"{userinfo}@{host}")))
    from psycopg.conninfo import make_conninfo

    return SecretValue(make_conninfo(text, user=user, password=password.reveal()))


# What a rotated connection string may say. The rest of libpq's parameters name files on the
# server (passfile, sslcert, sslkey, service...), hand over its ambient credentials (Kerberos,
# OAuth, SCRAM keys) or bypass the address check (hostaddr): a user's secret must not set them.
_USER_PARAMS = frozenset(
    {
        "host",
        "port",
        "dbname",
        "user",
        "password",
        "options",
        "application_name",
        "fallback_application_name",
        "client_encoding",
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "target_session_attrs",
        "channel_binding",
        "sslmode",
        "sslnegotiation",
        "sslsni",
        "sslrootcert",  # "system" only (the operating system's CAs): a path is a server file
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "min_protocol_version",
        "max_protocol_version",
    }
)
# A path that can never exist (nothing can be created under a device file): where libpq would
# otherwise look for ~/.pgpass or ~/.postgresql/root.crt of the account the server runs as.
_NO_FILE = "/dev/null/stacksafe-none"
# Set on every rotator connection, whatever the environment says (see ``fixed_options``).
_FIXED = {
    "passfile": _NO_FILE,
    "sslcertmode": "disable",  # never present the server's own client certificate
    "sslrootcert": _NO_FILE,
    "gssencmode": "disable",
    # No Kerberos/SSPI/OAuth exchange with the server's ambient tickets or tokens, and no
    # server that lets anyone in ("trust"): only the password the secret holds, which the server
    # must ask for.
    "require_auth": "password,md5,scram-sha-256",
    "min_protocol_version": "3.0",
    "max_protocol_version": "3.0",
}
# What _FIXED needs: sslcertmode and require_auth (the no-ambient-credentials guarantee) came
# with libpq 16; the protocol version bounds with libpq 18 (before it, 3.0 is the only version,
# so leaving them out changes nothing).
MIN_LIBPQ = 160000
_PROTOCOL_BOUNDS = ("min_protocol_version", "max_protocol_version")


def libpq_version_text(version: int) -> str:
    """libpq's version number (``PQlibVersion``) as people write it: 180006 -> 18.6."""
    if version >= 100000:
        return f"{version // 10000}.{version % 10000}"
    return f"{version // 10000}.{version // 100 % 100}.{version % 100}"


def fixed_options(version: int) -> dict[str, str]:
    """The parameters set on every rotator connection for a libpq of ``version``; a libpq too
    old to keep the server's own credentials out (no ``require_auth``, no ``sslcertmode``) is
    refused (``RotationFailed`` naming its version), never used without them."""
    if version < MIN_LIBPQ:
        raise RotationFailed(
            f"the postgres rotator needs libpq {libpq_version_text(MIN_LIBPQ)} or newer and this "
            f"server's psycopg uses libpq {libpq_version_text(version)}: older versions cannot "
            "keep the server's own certificates and Kerberos tickets out of the connection "
            "(the operator must upgrade psycopg[binary], or the system libpq)"
        )
    if version < 180000:
        return {k: v for k, v in _FIXED.items() if k not in _PROTOCOL_BOUNDS}
    return dict(_FIXED)


def _fixed() -> dict[str, str]:
    from psycopg import pq

    try:
        return fixed_options(pq.version())
    except RotationFailed as exc:
        log.error("%s", exc)
        raise


DEFAULT_CONNECT_TIMEOUT = 10
MAX_CONNECT_TIMEOUT = 30


def _unset_defaults() -> dict[str, str]:
    """Every libpq parameter that an environment variable could fill, at libpq's compiled-in
    default (or empty): given explicitly, libpq reads neither the variable nor a service file
    for it. From libpq itself, so a parameter added by a newer libpq is covered too."""
    from psycopg.pq import Conninfo

    explicit = {}
    for option in Conninfo.get_defaults():
        keyword = option.keyword.decode()
        # service: an empty one is an error, and with every other parameter explicit a service
        # file (only read when PGSERVICE is set) has nothing left to fill in.
        if option.envvar is None or keyword == "service":
            continue
        explicit[keyword] = "" if option.compiled is None else option.compiled.decode()
    return explicit


@dataclass(frozen=True)
class _Endpoint:
    """A connection string checked for a rotator: where it goes, and the libpq parameters."""

    host: str
    port: int
    user: str
    params: dict[str, Any]

    @property
    def shown(self) -> str:
        return f"{self.host}:{self.port}"


def _endpoint(value: SecretValue, what: str) -> _Endpoint:
    """``value``'s parameters, refused (``RotationFailed`` naming the problem, never a value)
    unless it names one TCP host, a user and a password, and nothing outside ``_USER_PARAMS``."""
    params = _conninfo(value)
    extra = sorted(set(params) - _USER_PARAMS)
    if extra:
        raise RotationFailed(
            f"the {what} connection string may not set {extra[0]!r}: stacksafe connects with "
            "what the secret says and nothing of the server's own (files, tickets, addresses)"
        )
    if params.get("sslrootcert", "system") != "system":
        raise RotationFailed(
            f"the {what} connection string's sslrootcert may only be 'system' (the operating "
            "system's certificate authorities), not a file of the server"
        )
    host = str(params.get("host") or "")
    if not host or host.startswith(("/", "@")):
        raise RotationFailed(
            f"the {what} connection string must name a TCP host "
            "(postgresql://user:password@host:5432/db); local sockets are not used"
        )
    port_text = str(params.get("port") or "5432")
    if "," in host or "," in port_text:
        raise RotationFailed(f"the {what} connection string must name one host, not a list")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise RotationFailed(f"the {what} connection string's port must be a number 1-65535")
    if not params.get("user") or not params.get("password"):
        raise RotationFailed(
            f"the {what} connection string must hold its own user and password "
            "(postgresql://user:password@host/db): none is taken from the server's environment"
        )
    timeout_text = str(params.get("connect_timeout") or DEFAULT_CONNECT_TIMEOUT)
    timeout = int(timeout_text) if timeout_text.isdigit() else DEFAULT_CONNECT_TIMEOUT
    params["connect_timeout"] = str(min(max(timeout, 1), MAX_CONNECT_TIMEOUT))
    return _Endpoint(host, int(port_text), str(params["user"]), params)


def _libpq(endpoint: _Endpoint, address: Address) -> str:
    """The connection string for libpq: every parameter explicit, to the checked address."""
    from psycopg.conninfo import make_conninfo

    explicit = _unset_defaults() | _fixed() | endpoint.params
    if endpoint.params.get("sslrootcert") != "system":
        explicit["sslrootcert"] = _NO_FILE
    explicit["hostaddr"] = str(address)  # libpq connects here; host names the server for TLS
    explicit["port"] = str(endpoint.port)
    return make_conninfo(**explicit)


def _scrubbed(exc: BaseException, *values: SecretValue) -> str:
    """The first line of a driver error, with any of ``values`` (should one appear) hidden."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for value in values:
        for part in (value.reveal(), quote(value.reveal(), safe="")):
            if part:
                text = text.replace(part, "**********")
    return text


def _connect(endpoint: _Endpoint, outbound: OutboundPolicy, what: str, *values: SecretValue) -> Any:
    """An autocommit connection to ``endpoint`` if the policy allows its address; a failure is
    one generic line for the user (what the attempt found goes to the server log)."""
    import psycopg

    try:
        address = outbound.resolve(endpoint.host, endpoint.port)
    except OutboundRefused:
        raise refused(endpoint.host, endpoint.port) from None
    except Unresolvable as exc:
        log.warning("the %s at %s: %s", what, endpoint.shown, exc)
        raise RotationFailed(f"could not connect to the {what} at {endpoint.shown}") from None
    try:
        return psycopg.connect(_libpq(endpoint, address), autocommit=True)
    except psycopg.Error as exc:
        detail = _scrubbed(exc, *values)
        log.warning("connecting to the %s at %s failed: %s", what, endpoint.shown, detail)
        if "authentication" in detail or "password" in detail:
            raise RotationFailed(
                f"authentication as {endpoint.user!r} failed at the {what} at {endpoint.shown}"
            ) from None
        raise RotationFailed(f"could not connect to the {what} at {endpoint.shown}") from None


def set_role_password(pending: SecretValue, admin: SecretValue, outbound: OutboundPolicy) -> None:
    """ALTER ROLE the pending value's user to its password, then connect with it.

    The password travels as a SCRAM-SHA-256 verifier computed here (libpq's
    ``PQencryptPasswordConn``), so the plaintext never reaches the server's logs, as a plain
    ``ALTER ROLE ... PASSWORD 'text'`` would with statement logging on.
    """
    import psycopg
    from psycopg import sql

    target = _endpoint(pending, "rotated")
    source = _endpoint(admin, "admin")
    user, password = target.user, str(target.params["password"])
    with _connect(source, outbound, "admin database", pending, admin) as conn:
        try:
            # A lock on the role must not hold the rotation (and its claim) for ever.
            conn.execute("SET statement_timeout = '30s'")
            verifier = conn.pgconn.encrypt_password(
                password.encode("utf-8"), user.encode("utf-8"), b"scram-sha-256"
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(verifier.decode("ascii"))
                )
            )
        except psycopg.Error as exc:
            # An authenticated session's own answer (no role, no permission): the user's
            # credentials earned it, so it is theirs to read.
            raise RotationFailed(
                f"setting the password of role {user!r} failed: {_scrubbed(exc, pending, admin)}"
            ) from None
    with _connect(target, outbound, "database of the rotated role", pending) as conn:
        try:
            conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise RotationFailed(
                f"connecting as {user!r} with the new password failed: {_scrubbed(exc, pending)}"
            ) from None


def next_connection_string(
    current: SecretValue | None, roles: list[str], new_password: Callable[[], SecretValue]
) -> SecretValue:
    """The value a postgres rotation makes current: ``current``'s connection string for the
    other of the two alternating ``roles``, with ``new_password()``; ``RotationFailed`` when
    it cannot be made or could not be used."""
    if current is None:
        raise RotationFailed("the secret has no current value to rotate from")
    user = _connection_user(current)
    if user not in roles:
        raise RotationFailed(
            f"the current value connects as {user!r}, which is not one of the alternating "
            f"roles {roles}"
        )
    other = roles[1 - roles.index(user)]
    password = new_password()
    rotated = _with_credentials(current, other, password)
    params = _conninfo(rotated)
    if params.get("user") != other or params.get("password") != password.reveal():
        # e.g. ?user= or ?password= in a URL's query, which libpq prefers to the userinfo:
        # rotating would change nothing, or the current role's password.
        raise RotationFailed(
            "the connection string's user and password belong in the userinfo part "
            "(postgresql://user:password@host/db), not in its query"
        )
    _endpoint(rotated, "rotated")  # refused now, before a rotation is claimed
    _fixed()  # so is a libpq too old to connect safely
    return rotated
