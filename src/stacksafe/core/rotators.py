"""Rotators: how a secret's next value is made, and how the system that uses it learns it.

- ``manual``: nothing is rotated automatically; the policy only drives reminders (status).
- ``generate``: a new random value, written directly (nothing outside stacksafe to tell).
- ``webhook``: a new random value is kept *pending*; the user's URL is called with its version
  (never the value: the receiver reads it with its own token, ``?label=pending``). A 2xx reply
  makes it current; anything else leaves the current value in place and reports the failure.
- ``postgres``: two database roles alternate (AWS's "alternating users", Infisical's
  "dual-phase"). The value is a connection string for one role; a rotation sets a new password
  on the *other* role, tests a connection with it, then makes it current. The role that was
  current keeps its password until the rotation after, so every client holding the previous
  value keeps working for a whole rotation period.

A rotator's settings are JSON and never hold a credential: the PostgreSQL admin connection and
the webhook signing key are other secrets, named by key and read (audited) at rotation time.

Every connection a rotator makes is on behalf of whoever wrote the policy, to a host they chose:
it goes only where ``core.outbound`` allows, to the address that was checked, and with nothing
but what the secrets say (no password, user or certificate from the server's environment, home
directory or service files). What a failed connection found is told to the server log, not to
the user: "could not connect" or "authentication failed", never the driver's text.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from stacksafe.core.generate import CHARSETS, MAX_LENGTH, generate_value
from stacksafe.core.outbound import Address, OutboundPolicy, OutboundRefused, Unresolvable
from stacksafe.core.validation import validate_key
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = [
    "AUTOMATIC",
    "ROTATORS",
    "RotationFailed",
    "Rotator",
    "check_literal_host",
    "rotator_for",
    "validate_config",
]

ROTATORS = ("manual", "generate", "webhook", "postgres")
AUTOMATIC = frozenset(ROTATORS) - {"manual"}
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
WEBHOOK_TIMEOUT = 10.0

log = logging.getLogger(__name__)


class RotationFailed(Exception):
    """The new value could not be put in place; the message names why and holds no value.

    ``audit``: more for the audit event's detail than the user is told (e.g. a webhook's status).
    """

    def __init__(self, message: str, audit: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.audit: dict[str, Any] = dict(audit or {})


Lookup = Callable[[str], SecretValue]  # another secret of the same target, by key


@dataclass(frozen=True)
class Rotator:
    """One policy's rotator: ``new_value`` makes the next value from the current one;
    ``apply`` (None for ``generate``) puts a pending value in place and tests it."""

    kind: str
    config: Mapping[str, Any]

    @property
    def pending(self) -> bool:
        """Whether the new value waits as pending until ``apply`` succeeds."""
        return self.kind in ("webhook", "postgres")

    def _generated(self) -> SecretValue:
        return generate_value(int(self.config["length"]), str(self.config["charset"]))

    def new_value(self, current: SecretValue | None) -> SecretValue:
        if self.kind != "postgres":
            return self._generated()
        if current is None:
            raise RotationFailed("the secret has no current value to rotate from")
        user = _connection_user(current)
        roles = list(self.config["roles"])
        if user not in roles:
            raise RotationFailed(
                f"the current value connects as {user!r}, which is not one of the alternating "
                f"roles {roles}"
            )
        other = roles[1 - roles.index(user)]
        password = self._generated()
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

    def public_config(self) -> dict[str, Any]:
        """The settings as shown to people and written to the audit log: a webhook URL only as
        scheme and host (chat webhooks carry their secret in the path)."""
        shown = dict(self.config)
        if "url" in shown:
            shown["url"] = f"{_host_of(str(shown['url']))}/…"
        return shown

    def apply(
        self,
        pending: SecretValue,
        event: Mapping[str, Any],
        lookup: Lookup,
        outbound: OutboundPolicy,
    ) -> None:
        try:
            if self.kind == "webhook":
                _call_webhook(self.config, event, lookup, outbound)
            elif self.kind == "postgres":
                _set_role_password(pending, lookup(str(self.config["admin_key"])), outbound)
        except ValueError as exc:
            # Settings stored before a check existed: a failed rotation (its claim released),
            # never an error of the server; the text may quote the settings, so log the type.
            log.warning("a %s rotation failed: %s", self.kind, type(exc).__name__)
            raise RotationFailed(f"the {self.kind} rotator's settings could not be used") from None


def rotator_for(kind: str, config_text: str) -> Rotator:
    return Rotator(kind, json.loads(config_text))


def _length_and_charset(config: Mapping[str, Any], out: dict[str, Any]) -> None:
    length = config.get("length", 32)
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= MAX_LENGTH:
        raise InvalidInput(f"length must be a whole number between 1 and {MAX_LENGTH}")
    charset = config.get("charset", "alnum")
    if charset not in CHARSETS:
        raise InvalidInput(f"charset {charset!r} is not one of {', '.join(CHARSETS)}")
    out["length"], out["charset"] = length, charset


def validate_config(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The rotator's settings, checked and with defaults filled in; ``InvalidInput`` naming the
    first problem otherwise."""
    if kind not in ROTATORS:
        raise InvalidInput(f"rotator {kind!r} is not one of {', '.join(ROTATORS)}")
    allowed = {
        "manual": set(),
        "generate": {"length", "charset"},
        "webhook": {"length", "charset", "url", "signing_key"},
        "postgres": {"length", "charset", "admin_key", "roles"},
    }[kind]
    unknown = sorted(set(config) - allowed)
    if unknown:
        shown = ", ".join(sorted(allowed)) or "none"
        raise InvalidInput(f"the {kind} rotator has no setting {unknown[0]!r} (settings: {shown})")
    out: dict[str, Any] = {}
    if kind == "manual":
        return out
    _length_and_charset(config, out)
    if kind == "webhook":
        out["url"] = _webhook_url(config.get("url"))
        if config.get("signing_key") is not None:
            out["signing_key"] = validate_key(str(config["signing_key"]))
    elif kind == "postgres":
        if not config.get("admin_key"):
            raise InvalidInput(
                "the postgres rotator needs admin_key: the key of a secret holding a connection "
                "string for a role that may ALTER ROLE the two alternating roles"
            )
        out["admin_key"] = validate_key(str(config["admin_key"]))
        roles = config.get("roles")
        if (
            not isinstance(roles, list | tuple)
            or len(roles) != 2
            or not all(isinstance(r, str) and _ROLE.fullmatch(r) for r in roles)
            or roles[0] == roles[1]
        ):
            raise InvalidInput(
                "the postgres rotator needs roles: two different PostgreSQL role names "
                "(letters, digits, _ and $; at most 63 characters), e.g. app_a,app_b"
            )
        out["roles"] = list(roles)
    return out


def _webhook_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise InvalidInput("the webhook rotator needs url: the http(s) address to call")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the webhook url must be an http:// or https:// address with a host")
    if parts.username or parts.password:
        raise InvalidInput(
            "the webhook url must not hold credentials; use signing_key (a secret's key) so the "
            "receiver can verify calls"
        )
    try:
        port = parts.port  # ValueError: not a number, or above 65535
    except ValueError:
        port = 0
    if port is not None and not 0 < port < 65536:
        raise InvalidInput("the webhook url's port must be a number 1-65535")
    return url


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _refusal_text(host: str, port: int) -> str:
    return (
        f"{host}:{port} is not a host stacksafe may connect to (the operator's "
        "STACKSAFE_OUTBOUND_ALLOW decides: loopback, link-local and the server's own database "
        "are refused unless allowed)"
    )


def _refused(host: str, port: int) -> RotationFailed:
    return RotationFailed(_refusal_text(host, port))


def _port_of(url: str) -> int:
    """The url's port (ValueError if it is not a number 1-65535)."""
    parts = urlsplit(url)
    port = parts.port
    if port == 0:
        raise ValueError("port 0")
    return port or (443 if parts.scheme == "https" else 80)


def check_literal_host(kind: str, config: Mapping[str, Any], outbound: OutboundPolicy) -> None:
    """Refuse (``InvalidInput``) a webhook url whose host is an IP address the policy refuses,
    when the policy is written: http://169.254.169.254/ can never work. A host *name* is checked
    when the rotation runs, on what it resolves to then (it is not looked up here)."""
    if kind != "webhook":
        return
    url = str(config["url"])
    host = str(urlsplit(url).hostname)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if outbound.refusal(address) is not None:
        raise InvalidInput(f"the webhook url's host {_refusal_text(host, _port_of(url))}")


def _url_host(address: Address) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


def _call_webhook(
    config: Mapping[str, Any], event: Mapping[str, Any], lookup: Lookup, outbound: OutboundPolicy
) -> None:
    import httpx

    body = json.dumps(event, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Stacksafe-Event": "secret.rotation"}
    if config.get("signing_key"):
        key = lookup(str(config["signing_key"])).reveal().encode("utf-8")
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers["X-Stacksafe-Signature"] = f"sha256={digest}"
    url = str(config["url"])
    parts = urlsplit(url)
    host = str(parts.hostname)
    shown = _host_of(url)
    try:
        # A policy written before ports were checked may hold one that is not 1-65535: a failed
        # rotation (its claim released), never an error of the server.
        port = _port_of(url)
    except ValueError:
        raise RotationFailed(
            f"the webhook {shown} could not be called: its port is not a number 1-65535"
        ) from None
    try:
        address = outbound.resolve(host, port)
    except OutboundRefused:
        raise _refused(host, port) from None
    except Unresolvable as exc:
        log.warning("the webhook %s could not be called: %s", shown, exc)
        raise RotationFailed(f"the webhook {shown} could not be called") from None
    # To the address just checked, not to the name again (it may resolve elsewhere by now); the
    # Host header and TLS (SNI, certificate check) still use the name. No proxy (nor netrc)
    # from the server's environment (trust_env=False); the certificate authorities are still
    # httpx's usual ones, SSL_CERT_FILE / SSL_CERT_DIR included: trust, not a credential.
    checked = urlunsplit(parts._replace(netloc=f"{_url_host(address)}:{port}"))
    headers["Host"] = parts.netloc
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with httpx.Client(
            verify=httpx.create_ssl_context(),
            timeout=WEBHOOK_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
        ) as client:
            reply = client.post(checked, content=body, headers=headers, extensions=extensions)
    except httpx.HTTPError as exc:
        # Which error (refused, reset, timeout, not HTTP) says what listens there: log only.
        log.warning("the webhook %s could not be called (%s)", shown, type(exc).__name__)
        raise RotationFailed(f"the webhook {shown} could not be called") from None
    if not 200 <= reply.status_code < 300:
        # Which status (404, 401, 405...) maps the HTTP services on internal hosts: the user is
        # told only that the call was not accepted; the status goes to the log and the audit.
        log.warning("the webhook %s answered %s, not 2xx", shown, reply.status_code)
        raise RotationFailed(
            f"the webhook {shown} did not accept the rotation; the current value stays",
            audit={"webhook_status": reply.status_code},
        )


# --- PostgreSQL ---

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
        raise _refused(endpoint.host, endpoint.port) from None
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


def _set_role_password(pending: SecretValue, admin: SecretValue, outbound: OutboundPolicy) -> None:
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
