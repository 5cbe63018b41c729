"""Values assigned to names that say they are secret: ``password = "..."`` in any language.

One grammar covers the ways code and configuration give a name a value: Python, JS/TS, Go
(``:=``), Java/Kotlin/Scala (``val password: String = ...``), C# and C (``#define``), PHP and
Ruby (``=>``), shell ``export`` and ``.env``, INI, ``.properties``, YAML, JSON, TOML, Terraform
``.tfvars``, comparisons (``password == "..."``) and XML elements and ``key``/``value``
attributes. The name is where the keyword is; the value follows within a few characters.

What is not a secret is told by the value's shape: a quoted value without spaces, or an
unquoted one holding a digit or a symbol (an unquoted bare word is a variable: ``password =
passwd``); never a call (``getpass()``, ``os.environ[...]``), a reference (``${DB_PASSWORD}``,
``$1``, ``%(pw)s``) or a dotted attribute (``config.password``); and never a placeholder
(``placeholders.is_placeholder``). The non-password names (token, api key, secret...) also need
a value that looks generated (length and entropy), because their names are common words.
"""

from __future__ import annotations

import re

from stacksafe.scan.rules.model import Rule

__all__ = ["RULES", "plausible", "value_after"]

# After the name: the end of a key (a quote, a bracket: ``["password"]``), an optional type
# annotation (``passwd: str =``, ``val password: String =``), then the operator.
_KEY_END = r"""(?:\\?["'`])?\]?"""
_TYPE = r"(?::\s{0,3}[A-Za-z][\w\[\]<>.]{0,20}\s{0,3}(?==))?"
_OPERATOR = (
    r"""(?:\s{0,5}(?:!==|===|!=|==|:=|=>|->|\?\?=|\|\|=|=|:|\s=\s)\s{0,5}@?"""
    # A space alone separates a name from a quoted value only: C's #define, RPM %define,
    # batch SET, Apache/nginx directives.
    r"""|[ \t]{1,5}(?=\\?["'])"""
    # PHP define('PASSWORD', '...'), a function's (name, value) pair.
    r"""|(?<=')\s{0,3},\s{0,3}(?='))"""
)
# The value: quoted (any characters but quotes, whitespace and backslashes), or bare up to
# the end of the token. A bare value is neither a call, a reference, a dotted attribute nor a
# word of letters only (a variable's name); it holds a digit or a symbol.
_QUOTED = r"""(?<=["'`])[^"'`\s\\]{%d,256}(?=\\?["'`])"""
_BARE = (
    r"""(?<![\w"'`\\])(?![$%%])(?![A-Za-z_][\w\-]*(?:\.[A-Za-z_][\w\-]*)+(?:[\s;,&)\]}]|$))"""
    r"""(?=[^\s"'`]*[0-9!#*+/?~@^])(?![A-Za-z_][A-Za-z_\-]*(?:[\s;,&<)\]}]|$))"""
    r"""[^\s"'`;,&<>(){}\[\]\\]{%d,256}(?=[\s;,&<)\]}"'`]|$)"""
)


def value_after(least: int) -> str:
    """The value grammar (a ``secret`` group) of at least ``least`` characters, quoted or bare,
    after an opening quote if any: callers put their name and operator before it."""
    return rf"""(?!//)\\?["'`]?(?P<secret>{_QUOTED % least}|{_BARE % least})"""


# A value that cannot be a credential whatever its name: a number or a version, a boolean word,
# a path, a type name, a hex colour; checked on the secret alone.
_NOT_A_VALUE = re.compile(
    r"^(?:[+-]?\d+(?:\.\d+)*[a-z]{0,2}|0x[0-9a-f]+|#[0-9a-f]{3,8}|(?:true|false|none|null|nil|"
    r"undefined|empty|string|str|bytes|required|optional|hidden|secret|password|token)"
    r"|\.{0,2}/[\w./\-]*|[\w\-]+\.(?:txt|json|ya?ml|pem|key|crt|cer|p12|pfx|jks|env|conf|cfg|"
    r"ini|properties|xml|html|js|py|sh)|[a-z]+://\S*|\W+)$",
    re.IGNORECASE,
)


# A value that names another value: a variable ($DB_PASS, ${x}, $(cmd)), a call or a wrapper
# (ENC(...) is jasypt's encrypted value), a dotted attribute or message key (config.db.password).
_REFERENCE = re.compile(r"^(?:\$[\w{(]|[\w.]+\(.*\)?$|[A-Za-z_][\w\-]*(?:\.[A-Za-z_][\w\-]*)+$)")


def plausible(value: str) -> bool:
    """Whether a value may be a password (the placeholder filter runs after this)."""
    return (
        not _NOT_A_VALUE.match(value)
        and not _REFERENCE.match(value)
        and any(c.isalnum() for c in value)
    )


_EMAIL = re.compile(r"^[^@\s]+@[\w\-]+\.[\w.\-]+$")


# A generated token: letters and digits both, not only one case of hex-like words.
def _generated(value: str) -> bool:
    return (
        plausible(value)
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not re.fullmatch(r"[a-z]+(?:[_\-][a-z]+)*[_\-]?\d{0,4}", value, re.IGNORECASE)
        and not _EMAIL.match(value)
    )


# Password-like names, the common abbreviations included (PSWD, PASSWD, PWD); "pw" alone is
# too short a keyword, it counts as the end of a name (``db_pw``, ``"pw":``, ``PW:=``).
_PASSWORD_NAMES = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "pswd",
    "psswd",
    "pswrd",
    "psword",
    "psswrd",
    "pssword",
    "paswd",
    "paswrd",
    "pasword",
    "passwort",
    "_pass",
    "_pw",
    '"pw"',
    "pw:=",
)
# A name may continue past its keyword only with these: "password_value", "db_pass2";
# "password_hash", "pwdump", "passwordField" name something else.
_NAME_TAIL = r"(?:[_\-.]?(?:value|str|string|plain|text|secret|\d{1,2}))?"


def _name(names: tuple[str, ...]) -> str:
    words = "|".join(re.escape(n.strip('"').rstrip(":=")) for n in names)
    return rf"(?i:(?<![a-z])(?:[a-z0-9]{{0,30}}[_\-.]?)?(?:{words}){_NAME_TAIL})"


_PASSWORD_ASSIGNMENT = (
    rf"(?:{_name(_PASSWORD_NAMES)}{_KEY_END}{_TYPE}{_OPERATOR}"
    # XML: <password>v</password>, <Password name="x">v</Password>, <add key="Password" value="v"/>
    r"|(?i:<(?:[\w\-]+:)?(?:password|passwd|pwd)(?:\s[^<>]{0,80})?>)(?=[^<\s]{4,128}</)"
    r'|(?i:key\s?=\s?"[\w.\-]{0,30}(?:password|passwd|pwd)"\s{1,5}value\s?=\s?))' + value_after(4)
)


# Token-like names: the value must also look generated (length, entropy, letters and digits).
_TOKEN_NAMES = (
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "api_secret",
    "access_key",
    "accesskey",
    "secret_key",
    "secretkey",
    "private_key",
    "privatekey",
    "client_secret",
    "auth_key",
    "authkey",
    "credential",
    "creds",
    "encryption_key",
    "signing_key",
    "master_key",
    "app_key",
    "key",
    "auth",
    "authentication",
)
_TOKEN_TAIL = r"(?:[_\-.]?(?:value|str|string|key|\d{1,2}))?"  # noqa: S105  # a regex
_TOKEN_ASSIGNMENT = (
    r"(?i:(?<![a-z])(?:[a-z0-9]{0,30}[_\-.]?)?(?:"
    + "|".join(re.escape(n) for n in _TOKEN_NAMES).replace(r"_", r"[_\-]?")
    + rf"){_TOKEN_TAIL}){_KEY_END}{_TYPE}{_OPERATOR}{value_after(12)}"
)


def _keywords(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each name as written with an underscore, a hyphen or nothing between its words."""
    spelled = {v for n in names for v in (n, n.replace("_", ""), n.replace("_", "-"))}
    return tuple(sorted(spelled))


RULES: tuple[Rule, ...] = (
    Rule(
        id="generic-password",
        description="Password assigned in code or configuration",
        keywords=_PASSWORD_NAMES,
        pattern=re.compile(_PASSWORD_ASSIGNMENT),
        check=plausible,
        min_entropy=2.0,
        generic=True,
    ),
    Rule(
        id="secret-keyword",
        description="Secret, token or API key assigned in code or configuration",
        keywords=_keywords(_TOKEN_NAMES),
        pattern=re.compile(_TOKEN_ASSIGNMENT),
        check=_generated,
        min_entropy=3.0,
        generic=True,
    ),
)
