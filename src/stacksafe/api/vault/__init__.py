"""The Vault-compatible API under ``/v1`` (docs/vault-compat.md)."""

from __future__ import annotations

from stacksafe.api.deps import ApiState
from stacksafe.api.vault.app import PREFIX, VaultApi
from stacksafe.api.vault.kv import at_hand
from stacksafe.api.vault.routes import router
from stacksafe.settings import DEFAULT_VAULT_MOUNT

__all__ = ["DEFAULT_MOUNT", "PREFIX", "VaultApi", "vault_api"]

DEFAULT_MOUNT = DEFAULT_VAULT_MOUNT


def vault_api(
    state: ApiState, mount: str = DEFAULT_MOUNT, *, max_body_bytes: int, echo_token: bool = False
) -> VaultApi:
    """``/v1`` over ``state``: KV v2 at ``mount``; ``echo_token``: lookup-self's ``id`` is the
    caller's own token (Vault Agent's token_file method reads it from there), else ""."""
    return VaultApi(state, router(mount, echo_token=echo_token), max_body_bytes, at_hand(mount))
