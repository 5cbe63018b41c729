"""Which handler answers a ``/v1`` request (None: Vault's ``no handler for route``)."""

from __future__ import annotations

from collections.abc import Callable

from stacksafe.api.vault import system
from stacksafe.api.vault.app import Call, Handler
from stacksafe.api.vault.kv import kv_handler

__all__ = ["router"]

_MOUNT_PREFLIGHT = ("sys/internal/ui/mounts/", "sys/mounts-all/")


def router(mount: str, *, echo_token: bool = False) -> Callable[[Call], Handler | None]:
    def route(call: Call) -> Handler | None:
        path, method = call.path, call.method
        if path.startswith(f"{mount}/"):
            return kv_handler(call, path[len(mount) + 1 :])
        for prefix in _MOUNT_PREFLIGHT:
            if path.startswith(prefix) and method == "GET":
                rest = path[len(prefix) :]
                return lambda c: system.mount_of(c, mount, rest)
        if path in ("sys/mounts", "sys/mounts/") and method == "GET":
            return lambda c: system.mounts(c, mount)
        if path == "auth/token/lookup-self" and method in ("GET", "POST"):
            return lambda c: system.lookup_self(c, echo_token=echo_token)
        if path == "auth/token/renew-self" and method in ("POST", "PUT"):
            return system.renew_self
        if path == "auth/token/revoke-self" and method in ("POST", "PUT"):
            return system.revoke_self
        return None

    return route
