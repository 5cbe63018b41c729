"""Envelope encryption: master keys wrap per-scope data keys, data keys seal values (AES-256-GCM).

The only package that imports ``cryptography.hazmat``.
"""

from __future__ import annotations

from stacksafe.crypto.envelope import (
    DATA_KEY_SEAL_LIMIT as DATA_KEY_SEAL_LIMIT,
)
from stacksafe.crypto.envelope import (
    Binding as Binding,
)
from stacksafe.crypto.envelope import (
    DataKey as DataKey,
)
from stacksafe.crypto.envelope import (
    DataKeyCache as DataKeyCache,
)
from stacksafe.crypto.envelope import (
    Scope as Scope,
)
from stacksafe.crypto.envelope import (
    ScopeKeys as ScopeKeys,
)
from stacksafe.crypto.format import Envelope as Envelope
from stacksafe.crypto.format import decode_value as decode_value
from stacksafe.crypto.format import encode_value as encode_value
from stacksafe.crypto.keyed_hash import KeyedHash as KeyedHash
from stacksafe.crypto.keyed_hash import unwrap_keyed_hash as unwrap_keyed_hash
from stacksafe.crypto.keyed_hash import wrap_new_keyed_hash as wrap_new_keyed_hash
from stacksafe.crypto.keyring import Keyring as Keyring
from stacksafe.crypto.keyring import MasterKey as MasterKey
from stacksafe.crypto.keyring import generate_master_key as generate_master_key
from stacksafe.crypto.keyring import keyring_from_file as keyring_from_file
from stacksafe.crypto.keyring import keyring_from_text as keyring_from_text
from stacksafe.crypto.keyring import write_key_file as write_key_file

__all__ = [
    "DATA_KEY_SEAL_LIMIT",
    "Binding",
    "DataKey",
    "DataKeyCache",
    "Envelope",
    "KeyedHash",
    "Keyring",
    "MasterKey",
    "Scope",
    "ScopeKeys",
    "decode_value",
    "encode_value",
    "generate_master_key",
    "keyring_from_file",
    "keyring_from_text",
    "unwrap_keyed_hash",
    "wrap_new_keyed_hash",
    "write_key_file",
]
