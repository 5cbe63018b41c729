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
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from stacksafe.core.generate import CHARSETS, MAX_LENGTH, generate_value
from stacksafe.core.validation import validate_key
from stacksafe.errors import InvalidInput
from stacksafe.model import SecretValue

__all__ = [
    "AUTOMATIC",
    "ROTATORS",
    "RotationFailed",
    "Rotator",
    "rotator_for",
    "validate_config",
]

ROTATORS = ("manual", "generate", "webhook", "postgres")
AUTOMATIC = frozenset(ROTATORS) - {"manual"}
_ROLE = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,62}")
WEBHOOK_TIMEOUT = 10.0


class RotationFailed(Exception):
    """The new value could not be put in place; the message names why and holds no value."""


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
        return rotated

    def public_config(self) -> dict[str, Any]:
        """The settings as shown to people and written to the audit log: a webhook URL only as
        scheme and host (chat webhooks carry their secret in the path)."""
        shown = dict(self.config)
        if "url" in shown:
            shown["url"] = f"{_host_of(str(shown['url']))}/…"
        return shown

    def apply(self, pending: SecretValue, event: Mapping[str, Any], lookup: Lookup) -> None:
        if self.kind == "webhook":
            _call_webhook(self.config, event, lookup)
        elif self.kind == "postgres":
            _set_role_password(pending, lookup(str(self.config["admin_key"])))


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
    return url


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _call_webhook(config: Mapping[str, Any], event: Mapping[str, Any], lookup: Lookup) -> None:
    import httpx

    body = json.dumps(event, sort_keys=True).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Stacksafe-Event": "secret.rotation"}
    if config.get("signing_key"):
        key = lookup(str(config["signing_key"])).reveal().encode("utf-8")
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        headers["X-Stacksafe-Signature"] = f"sha256={digest}"
    url = str(config["url"])
    try:
        reply = httpx.post(
            url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT, follow_redirects=False
        )
    except httpx.HTTPError as exc:
        raise RotationFailed(
            f"the webhook {_host_of(url)} could not be called ({type(exc).__name__})"
        ) from None
    if not 200 <= reply.status_code < 300:
        raise RotationFailed(
            f"the webhook {_host_of(url)} answered {reply.status_code}, not 2xx; "
            "the current value stays"
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


def _libpq(value: SecretValue) -> str:
    from psycopg.conninfo import make_conninfo

    params = _conninfo(value)
    params.setdefault("connect_timeout", 10)
    return make_conninfo(**params)


def _scrubbed(exc: BaseException, *values: SecretValue) -> str:
    """The first line of a driver error, with any of ``values`` (should one appear) hidden."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    for value in values:
        for part in (value.reveal(), quote(value.reveal(), safe="")):
            if part:
                text = text.replace(part, "**********")
    return text


def _set_role_password(pending: SecretValue, admin: SecretValue) -> None:
    """ALTER ROLE the pending value's user to its password, then connect with it.

    The password travels as a SCRAM-SHA-256 verifier computed here (libpq's
    ``PQencryptPasswordConn``), so the plaintext never reaches the server's logs, as a plain
    ``ALTER ROLE ... PASSWORD 'text'`` would with statement logging on.
    """
    import psycopg
    from psycopg import sql

    params = _conninfo(pending)
    user, password = str(params["user"]), str(params.get("password", ""))
    try:
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
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
        raise RotationFailed(
            f"setting the password of role {user!r} failed: {_scrubbed(exc, pending, admin)}"
        ) from None
    try:
        with psycopg.connect(_libpq(pending), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise RotationFailed(
            f"connecting as {user!r} with the new password failed: {_scrubbed(exc, pending)}"
        ) from None
