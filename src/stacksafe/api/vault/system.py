"""Vault's system and token endpoints that clients call before or around KV reads.

``sys/health`` (load balancers, the CLI's ``status``), the mount preflight
``sys/internal/ui/mounts/<path>`` (without its answer the CLI falls back to KV v1 paths and
Vault Agent templates fail), ``sys/mounts``, and the token's ``lookup-self`` (ESO validates
every store with it; hvac's ``is_authenticated``), ``renew-self`` and ``revoke-self``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response

from stacksafe.api.vault.app import Call
from stacksafe.api.vault.auth import policies_of
from stacksafe.api.vault.envelope import answer, errors, no_content, vault_time
from stacksafe.core.principals import list_tokens, revoke_own_token

__all__ = ["lookup_self", "mount_of", "mounts", "renew_self", "revoke_self"]


def _mount_entry(mount: str) -> dict[str, object]:
    return {
        "type": "kv",
        "description": "stacksafe: <account> and <account>/<stack>",
        "accessor": f"kv_{mount}",
        "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": False},
        "options": {"version": "2"},
        "local": False,
        "seal_wrap": False,
        "external_entropy_access": False,
    }


def mount_of(call: Call, mount: str, rest: str) -> Response:
    """The preflight: which mount ``rest`` is in. Only the one KV mount exists."""
    if rest.strip("/").split("/")[0] != mount:
        return errors(403, ["permission denied"])
    return answer(call.request_id, {"path": f"{mount}/", **_mount_entry(mount)})


def mounts(call: Call, mount: str) -> Response:
    return answer(call.request_id, {f"{mount}/": _mount_entry(mount)})


def _token_data(call: Call) -> dict[str, object]:
    principal = call.principal
    created: datetime | None = None
    if principal.token_uid is not None:
        for stored, _ in list_tokens(call.state.installation, principal):
            if stored.uid == principal.token_uid:
                created = stored.created_at
    expires = principal.token_expires_at
    now = datetime.now(UTC)
    ttl = 0 if expires is None else max(0, int((expires - now).total_seconds()))
    scopes = frozenset(principal.scopes or ())
    meta: dict[str, str] = {"user": principal.name}
    if principal.token_stacks is not None:
        meta["stacks"] = ",".join(sorted(principal.token_stacks))
    if principal.token_environments is not None:
        meta["environments"] = ",".join(sorted(principal.token_environments))
    return {
        "accessor": principal.token_uid or "",
        "creation_time": int(created.timestamp()) if created else 0,
        "creation_ttl": 0,
        "display_name": principal.name,
        "entity_id": "",
        "expire_time": vault_time(expires) or None,
        "explicit_max_ttl": 0,
        "id": "",
        "issue_time": vault_time(created) or None,
        "meta": meta,
        "num_uses": 0,
        "orphan": True,
        "path": "auth/token/create",
        "policies": policies_of(scopes),
        "renewable": False,
        "ttl": ttl,
        "type": "service",
    }


def lookup_self(call: Call, *, echo_token: bool = False) -> Response:
    """The token's description. ``id`` is "" (a token's value is shown once, when it is made:
    vault-kv.md, decision 5) unless the server echoes it (``STACKSAFE_VAULT_ECHO_TOKEN``):
    Vault Agent's token_file method takes the token it uses from there and will not start
    without it. Echoed, it is the caller's own token, sent back to the caller only."""
    data = _token_data(call)
    if echo_token:
        data["id"] = call.token
    return answer(call.request_id, data)


def renew_self(call: Call) -> Response:
    data = _token_data(call)
    auth = {
        "client_token": "",
        "accessor": data["accessor"],
        "policies": data["policies"],
        "token_policies": data["policies"],
        "metadata": data["meta"],
        "lease_duration": data["ttl"],
        "renewable": False,
        "entity_id": "",
        "token_type": "service",
        "orphan": True,
    }
    return answer(call.request_id, None, auth=auth)


def revoke_self(call: Call) -> Response:
    revoke_own_token(call.state.installation, call.principal)
    return no_content()
