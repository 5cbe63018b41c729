"""core.server_keys: the installation's HMAC keys, one per purpose, and none made up on demand."""

from __future__ import annotations

import pytest

from stacksafe.core.installation import Installation
from stacksafe.core.server_keys import AUDIT_CHAIN, FINGERPRINT, TOKEN_HASH, keyed_hash
from stacksafe.errors import ConfigurationError


def test_each_purpose_has_its_own_key(installation: Installation) -> None:
    digests = {
        purpose: keyed_hash(installation, purpose).digest(b"the same input")
        for purpose in (AUDIT_CHAIN, FINGERPRINT, TOKEN_HASH)
    }
    assert len(set(digests.values())) == 3  # a fingerprint never equals a token hash
    assert keyed_hash(installation, FINGERPRINT).digest(b"the same input") == digests[FINGERPRINT]


def test_a_purpose_without_a_loaded_key_is_a_configuration_error(
    installation: Installation,
) -> None:
    with pytest.raises(ConfigurationError, match="the server key 'backup-signing' is not loaded"):
        keyed_hash(installation, "backup-signing")
