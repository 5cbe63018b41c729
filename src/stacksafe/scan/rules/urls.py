"""Credentials for a remote service written where a client reads them: URLs with a password,
HTTP ``Authorization`` headers, and the client files (``.netrc``, ``.npmrc``, docker
``config.json``) that hold a login.

(Connection strings' ``Password=...;`` and ``.pypirc``'s ``password =`` are assignments: the
generic-password rule's.)
"""

from __future__ import annotations

import re

from stacksafe.scan.placeholders import is_placeholder
from stacksafe.scan.rules.assignments import is_random_uuid
from stacksafe.scan.rules.jwt import decode_part
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES", "is_login"]

# Passwords that documentation writes for "a password goes here".
_STAND_INS = re.compile(
    r"^(?:pass|passw|pwd|pw|secret|user|username|login|test|admin|root|guest|demo|sample|"
    r"foo|bar|baz|x+|y+|\*+|token|key|apikey)$",
    re.IGNORECASE,
)


def _password(value: str) -> bool:
    """A URL's or a login's password that is not a reference or a stand-in."""
    return (
        not value.startswith(("$", "{", "[", "<", "%"))
        and not value.endswith((">", "]", "}"))
        and not _STAND_INS.match(value)
        and not is_placeholder(value)
    )


def _header_value(value: str) -> bool:
    """A header's credential: holds a digit, is no reference (``$TOKEN``) and no stand-in."""
    return any(c.isdigit() for c in value) and _password(value)


def is_login(encoded: str) -> bool:
    """Whether base64 decodes to ``user:password`` with a real-looking password (HTTP Basic,
    docker's ``auth``, npm's ``_auth``)."""
    decoded = decode_part(encoded.replace("+", "-").replace("/", "_").rstrip("="))
    if decoded is None:
        return False
    text = decoded.decode("utf-8", errors="replace")
    user, colon, password = text.partition(":")
    # A JSON object is no login (a JWT sent as Basic, say: the JWT rule's).
    return (
        bool(colon)
        and user.isprintable()
        and not user.startswith("{")
        and len(password) >= 3
        and _password(password)
    )


def _npm_credential(value: str) -> bool:
    """npm's legacy tokens are random (version 4) UUIDs; another UUID is an example."""
    return is_random_uuid(value) is not False


RULES: tuple[Rule, ...] = (
    Rule(
        id="basic-auth-credentials",
        description="Password in a URL",
        keywords=("://",),
        # scheme://user:password@host; the user part may be empty (redis://:pw@host).
        # A password equal to its user (postgres:postgres) is a local default.
        pattern=re.compile(
            r"\b[A-Za-z][A-Za-z0-9+.\-]{1,20}://(?P<user>[^\s:@/\"'<>`]{0,64}):"
            r"(?!(?P=user)@)(?P<secret>[^\s:@/\"'<>`]{4,128})@[A-Za-z0-9\[]"
        ),
        check=_password,
    ),
    Rule(
        id="http-basic-auth",
        description="HTTP Basic authorization header",
        keywords=("basic ",),
        pattern=re.compile(
            r"(?i:authorization[\"']?\s{0,3}[:=,]\s{0,3}[\"']?basic)\s{1,3}"
            r"(?P<secret>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"
        ),
        check=is_login,
        placeholders=False,
    ),
    Rule(
        id="http-bearer-token",
        description="HTTP Bearer authorization header",
        keywords=("bearer ",),
        pattern=re.compile(
            r"(?i:(?:authorization|auth)[\"']?\s{0,3}[:=,]\s{0,3}[\"']?bearer)\s{1,3}"
            r"(?P<secret>[A-Za-z0-9_\-.~+/]{16,}={0,2})(?![A-Za-z0-9_\-.~+/=])"
        ),
        min_entropy=3.2,
        generic=True,
    ),
    Rule(
        id="http-auth-header",
        description="Credential in an HTTP header given on a command line",
        keywords=('-h "', "-h '", "--header"),
        # curl/httpie/wget -H 'Authorization: [Token|Api-Token|Bearer] v', -H 'X-Api-Key: v',
        # -H 'Token: v' (Basic is the http-basic-auth rule's).
        pattern=re.compile(
            r"(?:-H|--header)(?:=|[ \t]{1,3})[\"']"
            r"(?i:authorization:[ \t]{0,5}(?:(?:token|api-token|bearer|bot)[ \t]+)?"
            r"|(?:x-)?[\w\-]{0,20}(?:api-?key|token|secret|auth-key)[\w\-]{0,10}:[ \t]{0,5})"
            r"(?P<secret>[\w=~@.+/\-]{8,512})[\"']"
        ),
        check=_header_value,
        min_entropy=2.8,
    ),
    Rule(
        id="curl-user-password",
        description="Password given to curl with -u/--user",
        keywords=("curl",),
        # The -u option may come lines later, after backslash continuations of the command.
        pattern=re.compile(
            r"\bcurl\b(?:[^\n]|\\\r?\n){0,400}?\s(?:-u|--user)(?:=|[ \t]{1,5})"
            r"[\"']?[^\s:\"']{0,64}[\"']?:[\"']?(?P<secret>[^\s\"']{3,128})"
        ),
        check=_password,
        lines=6,
    ),
    Rule(
        id="netrc-password",
        description="Password in a .netrc file",
        keywords=("machine",),
        pattern=re.compile(r"\bmachine\s+\S+\s+login\s+\S+\s+password\s+(?P<secret>\S{4,128})"),
        check=_password,
        lines=3,
    ),
    Rule(
        id="npmrc-auth",
        description="Registry credential in an .npmrc file",
        keywords=("_authtoken", "_auth", "_password"),
        # //registry/:_authToken=..., _auth=base64(user:pass), _password=base64(pass).
        pattern=re.compile(
            r"(?:^|:)[ \t]*(?i:_auth(?:Token)?|_password)\s{0,3}=\s{0,3}[\"']?"
            r"(?P<secret>[A-Za-z0-9_\-+/.=]{12,})",
            re.MULTILINE,
        ),
        check=_npm_credential,
        min_entropy=3.0,
    ),
    Rule(
        id="docker-config-auth",
        description="Registry login in a docker config.json",
        keywords=('"auth"',),
        pattern=re.compile(r'"auth"\s{0,3}:\s{0,3}"(?P<secret>[A-Za-z0-9+/]{8,}={0,2})"'),
        check=is_login,
        placeholders=False,
    ),
)
