"""Values assigned to names that say they are secret: ``password = "..."`` in any language.

One grammar covers the ways code and configuration give a name a value: Python, JS/TS, Go
(``:=``), Java/Kotlin/Scala (``val password: String = ...``), C# and C (``#define``), PHP and
Ruby (``=>``), shell ``export`` and ``.env``, INI, ``.properties``, YAML, JSON, TOML, Terraform
``.tfvars``, comparisons (``password == "..."``) and XML elements and ``key``/``value``
attributes. The name is where the keyword is; the value follows within a few characters.

What is not a secret is told by the value's shape: a quoted value without spaces, or an
unquoted one holding a digit or a symbol (an unquoted bare word is a variable: ``password =
passwd``); never a call (``getpass()``, an environment lookup), a reference (``${DB_PASSWORD}``,
``$1``, ``%(pw)s``) or a dotted attribute (``config.password``); and never a placeholder
(``placeholders.is_placeholder``). The non-password names (token, api key, secret...) also need
a value that looks generated (length and entropy), because their names are common words.
"""

from __future__ import annotations

import re

from stacksafe.scan.placeholders import is_placeholder
from stacksafe.scan.rules.jwt import decode_part
from stacksafe.scan.rules.model import Rule

__all__ = ["RULES", "is_random_uuid", "plausible", "value_after"]

# After the name: the end of a key (a quote, a bracket: ``["password"]``), an optional type
# (``passwd: str =``, ``val password: String =``, Go's ``var token string =``), the operator.
_KEY_END = r"""(?:\\?["'`])?\]?(?:\[\d{0,4}\])?"""
_TYPE = (
    r"(?::\s{0,3}[A-Za-z][\w\[\]<>.]{0,20}\s{0,3}(?==)"
    r"|[ \t]{1,3}[A-Za-z][\w\[\]<>.]{0,20}[ \t]{0,3}(?==))?"
)
_OPERATOR = (
    r"""(?:\s{0,5}(?:!==|===|!=|==|:::=|::=|:=|\?\?=|\?=|\|\|=|\.=|\+=|=>|->|=|:)\s{0,5}@?"""
    # A space alone separates a name from a quoted value only: C's #define, RPM %define,
    # batch SET, Apache/nginx directives.
    r"""|[ \t]{1,5}(?=\\?["'])"""
    # A literal given to a constructor or a setter: C++ secret("..."), s.assign("...").
    r"""|(?:\.assign)?\((?=\s{0,3}["'])\s{0,3})"""
)


def _quoted(least: int) -> str:
    """A value between two quotes of the same kind: no whitespace, no backslash."""
    return "|".join(rf"(?<={q})[^{q}\s\\]{{{least},256}}(?=\\?{q})" for q in ('"', "'", "`"))


# The end of an assigned bare value: a delimiter, the end of the line, a comment, a next
# option or assignment; not more words (prose: "passphrase: Argon2id (RFC 9106) with ...").
_BARE_END = (
    r"""(?=[;,&<)\]}"'`\\]|[ \t]*(?:\r?\n|$)"""
    r"""|[ \t]+(?:[#;&|)\\]|//|--|/\*|<!--|[A-Za-z_][\w.\-]*[ \t]?[:=]))"""
)


def _bare(least: int, *, words_after: bool = False) -> str:
    """An unquoted value up to the end of its token. Not a reference (``$X``, ``%X%``), not a
    dotted attribute, not a word of letters only (a variable's name): it holds a digit or a
    symbol; a call's parentheses or a subscript's brackets end it (and fail the match), and so
    do words after it."""
    return (
        r"""(?<![\w"'`\\])(?![$%])"""
        # The look-aheads are bounded as the value is (256): unbounded, each occurrence of a
        # name in a long run without whitespace scanned to the run's end (quadratic).
        r"""(?![A-Za-z_][A-Za-z_\-]{0,256}\d{0,2}(?:\.[A-Za-z_][A-Za-z_\-]{0,256}\d{0,2})+"""
        r"""(?:[\s;,&)\]}]|$))"""
        r"""(?=[^\s"'`]{0,256}[0-9!#*+/?~@^])(?![A-Za-z_][A-Za-z_\-]{0,256}(?:[\s;,&<)\]}]|$))"""
        rf"""[^\s"'`;,&<>(){{}}\[\]\\]{{{least},256}}"""
        + (r"""(?=[\s;,&<)\]}"'`\\]|$)""" if words_after else _BARE_END)
    )


def value_after(least: int, *, words_after: bool = False) -> str:
    """The value grammar (a ``secret`` group) of at least ``least`` characters, quoted or bare,
    after an opening quote if any: callers put their name and operator before it. A bare value
    may be followed by words only if ``words_after`` (a command line's next arguments)."""
    bare = _bare(least, words_after=words_after)
    return rf"""(?!//)\\?["'`]?(?P<secret>{_quoted(least)}|{bare})"""


# A value that cannot be a credential whatever its name: a number or a version, a boolean word,
# a path, a type name, a hex colour, a URL; checked on the secret alone.
_NOT_A_VALUE = re.compile(
    r"^(?:[+-]?\d+(?:\.\d+)*[a-z]{0,2}|0x[0-9a-f]+|#[0-9a-f]{3,8}|(?:true|false|none|null|nil|"
    r"undefined|empty|string|str|bytes|required|optional|hidden|secret|password|token)"
    r"|\.{0,2}/[\w./\-]*|[\w\-]+\.(?:txt|json|ya?ml|pem|key|crt|cer|p12|pfx|jks|env|conf|cfg|"
    r"ini|properties|xml|html|js|py|sh)|[a-z]+://\S*|\W+)$",
    re.IGNORECASE,
)
# A value that names another value: a variable ($DB_PASS, ${x}, $(cmd), %VAR%), a call or a
# wrapper (ENC(...) is jasypt's encrypted value), a dotted attribute or message key
# (config.db.password), an optional chain (options?.token), a CONSTANT_NAME.
_REFERENCE = re.compile(
    r"^(?:\$[\w{(]|%\w+%$|[\w.]+\(.*\)?$|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$"
    # Dotted words (a token's dotted parts mix letters and digits: "pat.r9im84s.x2k").
    r"|\.?[A-Za-z_][A-Za-z_\-]*\d{0,2}(?:\.[A-Za-z_][A-Za-z_\-]*\d{0,2})+$"
    # a lower-case snake_case identifier of short words (v4auth_header): a variable (a
    # token's random part is longer: npm_4f9dk2...)
    r"|[a-z][a-z0-9]{0,11}(?:_[a-z][a-z0-9]{0,11})+$)"
)
_SYMBOLS = frozenset("!@#$%^&*+=/?~{}()[]<>|;:,.")


def plausible(value: str) -> bool:
    """Whether a value may be a credential (the placeholder filter runs after this)."""
    return (
        not _NOT_A_VALUE.match(value)
        and not _REFERENCE.match(value)
        and "?." not in value
        and any(c.isalnum() for c in value)
    )


# "master/s3cr3t": a user and a password written as one value (a document's "ID/PW:").
_USER_SLASH = re.compile(r"^[a-z]+/")


# A version or a range of them ("3.0-", "3.0-3.12": typeshed's VERSIONS file names ``pwd``).
_VERSION_RANGE = re.compile(r"^\d+(?:\.\d+)+-?(?:\d+(?:\.\d+)+)?$")


def _password_like(value: str) -> bool:
    """A password holds a digit, a symbol, or both cases: "real_key" is an identifier."""
    return (
        plausible(value)
        and not _USER_SLASH.match(value)
        and not _VERSION_RANGE.match(value)
        and (
            any(c.isdigit() or c in _SYMBOLS for c in value)
            or (any(c.isupper() for c in value) and any(c.islower() for c in value))
        )
    )


_EMAIL = re.compile(r"^[^@\s]+@[\w\-]+\.[\w.\-]+$")
_HOST = re.compile(r"^[\w\-]+(?:\.[\w\-]+)*\.(?:com|org|net|io|dev|local|internal|[a-z]{2})$", re.I)
# Words joined by separators, numbered at most: "Control+Shift+T", "libsecret-1-0",
# "io.example/related-task".
_WORDS_ONLY = re.compile(r"[a-z]+(?:[_\-+./][a-z]+)*\d{0,4}(?:[_\-.]\d{1,4})*", re.IGNORECASE)
# "a=b": a query or an option list (base64's "=" is padding, at the end or before a separator).
_OPTION = re.compile(r"[A-Za-z]\w*=[^=]")
_FILE_PATH = re.compile(r"^[\w\-.]+(?:/[\w\-.]+)+\.\w{1,5}$")
_VERSION_END = re.compile(r"\d+\.\d+(?:\.\d+)?$")
_BASE64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
# A UUID is random (so may be a credential: npm's legacy tokens, Heroku's keys) only in
# version 4; the other versions are made of a time, a name or a counter: identifiers.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-([0-9a-f])[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def is_random_uuid(value: str) -> bool | None:
    """For a UUID, whether it is a random one (version 4); None for anything else."""
    uuid = _UUID.fullmatch(value)
    return None if uuid is None else uuid.group(1) == "4"


# A class or type name (a type annotation, ``private_key: Ed25519PrivateKey``): CamelCase words
# ending in a word that names a kind of thing. A drawn token ends in such a word by chance only.
_TYPE_NAME = re.compile(
    r"^(?:[a-z_][a-z0-9_]*\.)*_?[A-Z][A-Za-z0-9]*(?:Key|Keys|Type|Types|Token|Tokens|Secret|Password|Credentials?|"
    r"Error|Exception|Config|Options|Params|Provider|Manager|Base|Class|Info|Data|Spec)$"
)


def _generated(value: str) -> bool:
    """A token from a generator: letters with digits or symbols; not words, an address, an
    option list ("a=b"), a "user:password" pair, a version, a type's name, nor base64 of a
    placeholder."""
    if not (
        plausible(value)
        and not _TYPE_NAME.match(value)
        and any(c.isalpha() for c in value)
        and any(c.isdigit() or c in _SYMBOLS for c in value)
        and not _WORDS_ONLY.fullmatch(value)
        and not _EMAIL.match(value)
        and not _HOST.match(value)
        and not _OPTION.search(value)
        and ":" not in value
        and not _VERSION_END.search(value)
        and not _FILE_PATH.match(value)
    ):
        return False
    random_uuid = is_random_uuid(value)
    if random_uuid is not None:
        return random_uuid
    if _BASE64.fullmatch(value) and len(value) % 4 == 0:
        decoded = decode_part(value.replace("+", "-").replace("/", "_").rstrip("="))
        if decoded is not None and decoded.isascii() and decoded.decode().isprintable():
            return not is_placeholder(decoded.decode())
    return True


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
)
# Short names, only right before an operator ("pass:", "MYSQLPASS=", "db_pw:", "PW:="): as
# keywords they are short, so each is written with what must follow it.
_SHORT_PW_NAME = r"(?:(?<!by)(?<!com)(?<!sur)pass|(?<![a-z\]])pw|_pw)(?=[\"']?\s?[:=])"
_SHORT_PASSWORD_KEYWORDS = ("pass:", "pass=", "pass :", "pass =", "pw:", "pw=", 'pw":', "pw =")
# A name may continue past its keyword ("password_super_secure", "db_pass2") but not with a
# word saying it names something else than the password: "password_hash", "pwdump",
# "passwordField", "password_min_length", "PASSWORD_FILE".
_PW_NAME_TAIL = (
    r"s?\d{0,2}(?![_\-.]?(?:hash|digest|crypt|enc|field|len|min|max|regex|pattern|polic|reset|prompt|"
    r"label|id\b|file|path|env|var|cmd|command|template|key|name|hint|rule|expir|age|strength|"
    r"salt|encoder|valid|type|input|placeholder|url|uri|help|error|message|msg|format|manager|"
    r"store|changed|required|enabled|auth|dump|less|word|ed\b|ing))"
    r"(?:[_\-.][a-z0-9]{1,12}){0,3}"
)
# Token-like names: the value must also look generated (length, entropy, letters and digits).
_TOKEN_NAMES = (
    "secret",
    "secrete",
    "token",
    "api_key",
    "api_secret",
    "access_key",
    "secret_key",
    "private_key",
    "client_secret",
    "auth_key",
    "credential",
    "creds",
    "encryption_key",
    "signing_key",
    "master_key",
    "app_key",
    "auth",
    "authentication",
    "authorization",
)
# A token name may continue ("api_token_123", "todo_secret_do_not_commit") with words that
# do not name something else than the secret: "token_url", "secret_name", "token_expires".
_TOK_NAME_TAIL = (
    r"(?:s|[_\-.]?\d{1,4}|string|str|value)?(?:[_\-.](?!(?:name|url|uri|type|path|file|ref|id\b|len|count|expir|"
    r"endpoint|header|field|param|arn|version|prefix|env|var|format|label|hash|polic|manager|"
    r"store|provider|issuer|audience|scope|lifetime|ttl|cache|valid|source|dir|length|size|"
    r"usage|limit|mode|location|kind|rotation|created|updated|at\b))[a-z0-9]{1,12}){0,4}"
)
# Names holding a token word that name no secret: a public key, a CSRF token (sent to every
# browser), a database's primary or sort key, a paging token, a counter. (Lookbehinds: the
# match starts at the token word, so a name costs nothing until one occurs.)
_NOT_SECRET_PREFIXES = (
    "public",
    "pub",
    "csrf",
    "xsrf",
    "primary",
    "foreign",
    "sort",
    "partition",
    "schema",
    "cache",
    "idempotency",
    "page",
    "next",
    "continuation",
    "resumption",
    "nonmatching",
    "authenticity",
    "max",
    "min",
    "num",
    "count",
)
# "key" is a name as a word of its own (``key =``, ``$key``, ``softlayer_key:``, ``pkey``), not
# inside a longer word ("monkey") nor after a word naming a non-secret key (a public, primary,
# cache or dictionary key); the value must look generated ("some_key" = "real_secret" does
# not, by detect-secrets' measure).
_NOT_SECRET_KEYS = (
    "public",
    "pub",
    "primary",
    "foreign",
    "sort",
    "partition",
    "cache",
    "idempotency",
    "ssh",
    "gpg",
    "row",
    "hash",
    "map",
    "dict",
    "object",
    "registry",
    "lookup",
    "index",
    "group",
    "message",
    "i18n",
    "translation",
    "route",
    "redis",
    "s3",
    "storage",
    "file",
    "bucket",
)
_KEY_NAME = (
    r"(?=[a-z0-9])(?<![a-z0-9_\-.])(?:[a-z0-9]{1,30}[_\-]){0,3}(?:p|hmac|aes)?"
    + "".join(rf"(?<!{w}[_\-])" for w in _NOT_SECRET_KEYS)
    + r"key(?:[_\-]?\d{1,2})?"
    # <entry key="a.b" value="..."/>: the key attribute names the entry.
    r"""(?!\s?=\s?"[^"]*"\s+value\s?=)"""
)


# What may follow "key" in a match (a suffix's "_"/"-"/digit, a quote, a bracket, a type's ":",
# a space or an operator's first character), as keywords: never a letter, so "keys", "keyword"
# and "keyboard", most of the word's occurrences in code, open no line to the rule's regex.
_KEY_KEYWORDS = tuple("key" + c for c in "_-0123456789\\\"'`[]: \t!=?|.+")


def _words(names: tuple[str, ...]) -> str:
    """Names as alternatives, each separator written "_", "-" or nothing."""
    return "|".join(
        re.escape(n.strip('"').rstrip(":=")).replace("_", r"[_\-]?")
        if n[0] != "_"
        else re.escape(n)
        for n in names
    )


def _name(names: tuple[str, ...], tail: str, exclude: tuple[str, ...] = (), short: str = "") -> str:
    """A name holding one of ``names`` (anything may come before it), not after a word of
    ``exclude``; or a ``short`` one."""
    behind = "".join(rf"(?<!{w})(?<!{w}[_\-.])" for w in exclude)
    alternatives = rf"(?:{_words(names)}){tail}" + (f"|{short}" if short else "")
    # The regex is tried at every position of a line: a lookahead for the names fails most
    # positions at once, before the lookbehinds run.
    first = {n.strip('"')[0] for n in names} | ({"p", "_"} if short else set())
    ahead = (
        rf"(?=[{re.escape(''.join(sorted(first)))}])(?={_words(names)}"
        + (r"|p|_pw" if short else "")
        + ")"
    )
    # "ID/PW: ..." is a pair's label (its value holds the user too).
    return rf"(?i:{ahead}{behind}(?<!/)(?:{alternatives}))"


def _assignment(name: str, least: int, *, xml: bool = False) -> str:
    """A name given a value: forward (``name = value``), reversed (``"value" == name``), as the
    pair of a call (``define('NAME', 'value')``, ``setProperty("NAME", "value")``) and, for
    passwords, as XML (``<password>v</password>``, ``<add key="Password" value="v"/>``)."""
    forms = [
        rf"{name}{_KEY_END}{_TYPE}{_OPERATOR}",
        rf"""(?=(?P<q>["'])[^"'\s\\]{{{least},256}}(?P=q)\s{{0,3}}(?:===|!==|==|!=)\s{{0,3}}"""
        rf"""[\w.\-]{{0,40}}?{name})""",
        rf"""\(\s{{0,3}}["'][\w.\-]{{0,40}}?{name}["']\s{{0,3}},\s{{0,3}}(?=["'])""",
    ]
    if xml:
        forms += [
            r"(?i:<(?:[\w\-]+:)?(?:password|passwd|pwd)(?:\s[^<>]{0,80})?>)(?=[^<\s]{4,128}</)",
            r'(?i:key\s?=\s?"[\w.\-]{0,30}(?:password|passwd|pwd)"\s{1,5}value\s?=\s?)',
        ]
    return "(?:" + "|".join(forms) + ")" + value_after(least)


_TOKEN_NAME = _name(_TOKEN_NAMES, _TOK_NAME_TAIL, _NOT_SECRET_PREFIXES)


def _keywords(names: tuple[str, ...]) -> tuple[str, ...]:
    """Each name as written with an underscore, a hyphen or nothing between its words."""
    spelled = {v for n in names for v in (n, n.replace("_", ""), n.replace("_", "-"))}
    return tuple(sorted(spelled))


RULES: tuple[Rule, ...] = (
    Rule(
        id="generic-password",
        description="Password assigned in code or configuration",
        keywords=(*_PASSWORD_NAMES, *_SHORT_PASSWORD_KEYWORDS),
        pattern=re.compile(
            _assignment(_name(_PASSWORD_NAMES, _PW_NAME_TAIL, short=_SHORT_PW_NAME), 4, xml=True)
        ),
        check=_password_like,
        min_entropy=2.0,
        generic=True,
    ),
    Rule(
        id="secret-keyword",
        description="Secret, token or API key assigned in code or configuration",
        keywords=(*_keywords(_TOKEN_NAMES), *_KEY_KEYWORDS),
        pattern=re.compile(_assignment(rf"(?:{_TOKEN_NAME}|(?i:{_KEY_NAME}))", 12)),
        check=_generated,
        min_entropy=3.0,
        generic=True,
    ),
)
