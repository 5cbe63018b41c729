"""The Vault-compatible API under ``/v1`` (docs/vault-compat.md)."""

from __future__ import annotations

from stacksafe.api.deps import ApiState
from stacksafe.api.vault.app import VaultApi
from stacksafe.api.vault.routes import router

__all__ = ["DEFAULT_MOUNT", "vault_api"]

DEFAULT_MOUNT = "secret"


def vault_api(state: ApiState, mount: str = DEFAULT_MOUNT) -> VaultApi:
    return VaultApi(state, router(mount))
