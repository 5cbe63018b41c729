"""Vault's workload logins: ``POST /v1/auth/jwt/login`` and ``/v1/auth/kubernetes/login``
(``{"role", "jwt"}``), answered with Vault's ``auth`` block, so that vault-action
(``method: jwt``), External Secrets Operator (``auth.jwt``, ``auth.kubernetes``) and Vault
Agent's ``auto_auth`` log in unchanged (docs/identity.md).

A login comes without a token: it is answered before the face authenticates anything, with
the bad-credential throttle of its address (api.deps.login_counted). Both mounts check the JWT
the same way (core.workload.login): a Kubernetes service-account token against its cluster's
keys, as Vault's own docs recommend for short-lived tokens, with no TokenReview call back to
the cluster. Refusals are 400 with one message, as Vault answers them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.responses import Response

from stacksafe.api.deps import ApiState, login_counted
from stacksafe.api.vault.envelope import answer, errors
from stacksafe.core.workload.login import LoggedIn, LoginRefused

__all__ = ["LOGIN_MOUNTS", "Login", "auth_block", "login_handler", "policies_of"]

# The mount names clients use by default: vault-action and GitLab "jwt", ESO's kubernetes
# mountPath "kubernetes", and "oidc" for a JWT mount configured for OIDC as well.
LOGIN_MOUNTS = {"jwt": "jwt", "oidc": "jwt", "kubernetes": "kubernetes"}

Login = Callable[[ApiState, Any, str | None, str], Response]


def policies_of(scopes: tuple[str, ...] | frozenset[str]) -> list[str]:
    """What Vault calls a token's policies: "default" and one per stacksafe scope."""
    return ["default", *(f"stacksafe-{s}" for s in sorted(scopes))]


def auth_block(logged: LoggedIn) -> dict[str, object]:
    policies = policies_of(logged.scopes)
    metadata: dict[str, str] = {"role": logged.role, "account": logged.account_uid}
    if logged.subject is not None:
        metadata["sub"] = logged.subject
    if logged.stack_uids is not None:
        metadata["stacks"] = ",".join(logged.stack_uids)
    if logged.environments is not None:
        metadata["environments"] = ",".join(logged.environments)
    return {
        "client_token": logged.token,
        "accessor": logged.uid,
        "policies": policies,
        "token_policies": policies,
        "metadata": metadata,
        "lease_duration": logged.ttl_seconds,
        "renewable": False,
        "entity_id": "",
        "token_type": "service",
        "orphan": True,
        "mfa_requirement": None,
        "num_uses": 0,
    }


def _fields(body: Any) -> tuple[str, str] | str:
    if not isinstance(body, Mapping):
        return "missing role"
    role, token = body.get("role"), body.get("jwt")
    if not isinstance(role, str) or not role:
        return "missing role"
    if not isinstance(token, str) or not token:
        return "missing jwt"
    return role, token


def login_handler(path: str, method: str) -> Login | None:
    """The login at ``path`` (after ``/v1/``), or None when it is not one."""
    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "auth" or parts[2] != "login":
        return None
    kind = LOGIN_MOUNTS.get(parts[1])
    if kind is None or method not in ("POST", "PUT"):
        return None

    def handle(state: ApiState, body: Any, source_ip: str | None, request_id: str) -> Response:
        fields = _fields(body)
        if isinstance(fields, str):
            return errors(400, [fields])
        role, token = fields
        try:
            logged = login_counted(
                state, role, token, method=kind, source_ip=source_ip, request_id=request_id
            )
        except LoginRefused as refused:
            return errors(400, [refused.message])
        return answer(request_id, None, auth=auth_block(logged))

    return handle
