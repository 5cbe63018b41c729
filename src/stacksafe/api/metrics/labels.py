"""Label values of the metrics, each from a fixed set: never a key name, a path, or user text.

A label's every distinct value is a series kept for the life of the process. Whatever a
client can choose (a path, a method, a purpose, a claim name) is mapped here onto a short,
fixed list, anything else onto one catch-all value, so a client can neither grow the
server's memory nor put a key name or other data into a scrape.
"""

from __future__ import annotations

__all__ = [
    "FAST_ROUTES",
    "LOGIN_METHODS",
    "METHODS",
    "OTHER",
    "PURPOSES",
    "UNMATCHED",
    "VAULT_LOGIN_MOUNTS",
    "check_label",
    "login_method_label",
    "method_label",
    "purpose_label",
    "status_label",
    "vault_route",
]

OTHER = "other"
# Requests no route answers (a 404 of FastAPI, a path Vault has no handler for): one label.
UNMATCHED = "unmatched"

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "LIST"})

# The secret lists and keys api.fast_path answers in front of FastAPI, by level and whether
# one key: the route templates FastAPI would have matched (api.routes.secrets), so both ways
# count under one label.
FAST_ROUTES = {
    ("stacks", False): "/api/3/stacks/{stack_uid}/secrets",
    ("accounts", False): "/api/3/accounts/{account_id}/secrets",
    ("stacks", True): "/api/3/stacks/{stack_uid}/secrets/{key}",
    ("accounts", True): "/api/3/accounts/{account_id}/secrets/{key}",
}

# A reveal's purpose is the client's text (`run node`, `export dotenv`): its first word when it
# is one stacksafe's own clients and faces send, else "other".
PURPOSES = frozenset(
    {
        "list",  # the API's default
        "get",  # one key (core.secrets.get_secret)
        "deliver",  # core.secrets.deliver
        "run",
        "export",
        "materialize",
        "scan",
        "web",
        "kv",  # the Vault-compatible API
        "diff",
        "copy",
        "history",
        "rotate",
        "label",  # a labelled version (core.rotation.labels)
    }
)

# The checks a login is refused by (core.workload.login, core.oidc, crypto.jwt): their
# names, never their detail. "claim NAME" (a bound claim the role names) is "claim".
CHECKS = frozenset(
    {
        "algorithm",
        "audience",
        "azp",
        "claim",
        "code",
        "domain",
        "email",
        "email not verified",
        "expired",
        "expiry",
        "groups",
        "iat",
        "issued in the future",
        "issuer",
        "jti",
        "malformed token",
        "nonce",
        "not configured",
        "not yet valid",
        "provider",
        "removed",
        "replayed token",
        "role",
        "signature",
        "state",
        "token",
        "token endpoint",
        "unknown key",
    }
)

LOGIN_METHODS = frozenset({"jwt", "kubernetes", "sso"})
# The Vault face's login mounts (api.vault.auth.LOGIN_MOUNTS, which a test holds this to): not
# imported, so that this module needs nothing of the API and every part of it may use it.
VAULT_LOGIN_MOUNTS = frozenset({"jwt", "oidc", "kubernetes"})

_VAULT_FIXED = {
    "sys/health": "/v1/sys/health",
    "sys/mounts": "/v1/sys/mounts",
    "auth/token/lookup-self": "/v1/auth/token/lookup-self",
    "auth/token/renew-self": "/v1/auth/token/renew-self",
    "auth/token/revoke-self": "/v1/auth/token/revoke-self",
}
_VAULT_PREFIXES = (
    ("sys/internal/ui/mounts/", "/v1/sys/internal/ui/mounts/{path}"),
    ("sys/mounts-all/", "/v1/sys/mounts-all/{path}"),
)
_KV_SECTIONS = frozenset({"data", "metadata", "delete", "undelete", "destroy"})


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def status_label(status: int) -> str:
    """The status code (a bounded set: three digits)."""
    return str(status) if 100 <= status <= 599 else OTHER


def purpose_label(purpose: str) -> str:
    first = purpose.partition(" ")[0]
    return first if first in PURPOSES else OTHER


def check_label(check: str | None) -> str:
    """The refusal's check, bounded; "" for a login that was not refused."""
    if check is None:
        return ""
    if check.startswith("claim "):
        return "claim"
    return check if check in CHECKS else OTHER


def login_method_label(method: str) -> str:
    return method if method in LOGIN_METHODS else OTHER


def vault_route(path: str, mount: str) -> str:
    """The template of a ``/v1`` path (``path`` after ``/v1/``): the KV mount is ``{mount}``
    and everything after a section (a secret's path: account, stack, key) is ``{path}``."""
    bare = path.rstrip("/")
    fixed = _VAULT_FIXED.get(bare)
    if fixed is not None:
        return fixed
    for prefix, template in _VAULT_PREFIXES:
        if path.startswith(prefix):
            return template
    parts = bare.split("/")
    if len(parts) == 3 and parts[0] == "auth" and parts[2] == "login":
        return f"/v1/auth/{parts[1]}/login" if parts[1] in VAULT_LOGIN_MOUNTS else UNMATCHED
    if parts[0] == mount and len(parts) >= 2:
        section = parts[1]
        if section == "config" and len(parts) == 2:
            return "/v1/{mount}/config"
        if section in _KV_SECTIONS:
            return f"/v1/{{mount}}/{section}/{{path}}"
    return UNMATCHED
