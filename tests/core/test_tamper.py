"""Tampered, moved or corrupted rows are reported as integrity errors, never returned as values."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, list_secrets, set_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.errors import ConfigurationError, IntegrityError
from stacksafe.model import SecretValue
from stacksafe.store.keys import register_master_key
from stacksafe.store.schema import data_keys, secret_versions, secrets
from tests.actors import LOCAL


def put(installation: Installation, target: Target, key: str, value: str) -> None:
    set_secret(installation, LOCAL, target, key, SecretValue(value))


def envelope_of(installation: Installation, key: str) -> tuple[int, bytes]:
    with installation.store.read() as conn:
        row = conn.execute(
            select(secret_versions.c.id, secret_versions.c.envelope)
            .join(secrets, secrets.c.id == secret_versions.c.secret_id)
            .where(secrets.c.key == key, secret_versions.c.version == secrets.c.current_version)
        ).one()
    return row.id, bytes(row.envelope)


def store_envelope(installation: Installation, version_id: int, envelope: bytes) -> None:
    with installation.store.write() as conn:
        conn.execute(
            update(secret_versions)
            .where(secret_versions.c.id == version_id)
            .values(envelope=envelope)
        )


def fresh(installation: Installation) -> None:
    """Forget cached data keys, as a new process would."""
    installation.data_keys._entries.clear()


@pytest.mark.parametrize("reveal", [False, True])
def test_flipped_bit_in_stored_ciphertext_is_an_integrity_error(
    installation: Installation, stack_target: Target, reveal: bool
) -> None:
    put(installation, stack_target, "K", "secret-value")
    version_id, envelope = envelope_of(installation, "K")
    tampered = bytearray(envelope)
    tampered[-1] ^= 0x01
    store_envelope(installation, version_id, bytes(tampered))
    with pytest.raises(IntegrityError, match="'K'") as caught:
        list_secrets(installation, LOCAL, stack_target, reveal=reveal)
    assert "secret-value" not in str(caught.value)


def test_ciphertext_copied_from_another_key_fails(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "A", "value-of-a")
    put(installation, stack_target, "B", "value-of-b")
    _, envelope_a = envelope_of(installation, "A")
    version_b, _ = envelope_of(installation, "B")
    store_envelope(installation, version_b, envelope_a)
    with pytest.raises(IntegrityError, match="'B'"):
        get_secret(installation, LOCAL, stack_target, "B", reveal=True)
    assert get_secret(installation, LOCAL, stack_target, "A", reveal=True).raw_value == SecretValue(
        "value-of-a"
    )


def test_ciphertext_copied_from_an_older_version_fails(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "old")
    _, old_envelope = envelope_of(installation, "K")
    put(installation, stack_target, "K", "new")
    current, _ = envelope_of(installation, "K")
    store_envelope(installation, current, old_envelope)
    with pytest.raises(IntegrityError):
        get_secret(installation, LOCAL, stack_target, "K")


def test_secret_moved_to_another_stack_fails(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    other = Target(
        account_target.account, create_stack(installation, LOCAL, "acme", "other", "staging")
    )
    put(installation, other, "FILLER", "makes a data key for the other stack")
    put(installation, stack_target, "K", "belongs-to-web")
    assert stack_target.stack is not None
    assert other.stack is not None
    with installation.store.write() as conn:
        conn.execute(update(secrets).where(secrets.c.key == "K").values(stack_id=other.stack.id))
    with pytest.raises(IntegrityError):
        list_secrets(installation, LOCAL, other, reveal=True)


def test_account_secret_moved_into_a_stack_fails(
    installation: Installation, account_target: Target, stack_target: Target
) -> None:
    put(installation, stack_target, "FILLER", "x")
    put(installation, account_target, "K", "account-level")
    assert stack_target.stack is not None
    with installation.store.write() as conn:
        conn.execute(
            update(secrets).where(secrets.c.key == "K").values(stack_id=stack_target.stack.id)
        )
    with pytest.raises(IntegrityError):
        list_secrets(installation, LOCAL, stack_target)


def test_tampered_wrapped_data_key_fails(installation: Installation, stack_target: Target) -> None:
    put(installation, stack_target, "K", "v")
    with installation.store.write() as conn:
        wrapped = bytearray(conn.execute(select(data_keys.c.wrapped_key)).scalar_one())
        wrapped[20] ^= 0x80
        conn.execute(update(data_keys).values(wrapped_key=bytes(wrapped)))
    fresh(installation)
    with pytest.raises(IntegrityError, match="data key"):
        list_secrets(installation, LOCAL, stack_target)


def test_data_key_renumbered_in_the_database_fails(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "v")
    with installation.store.write() as conn:
        conn.execute(update(data_keys).values(version=2))
    fresh(installation)
    with pytest.raises(IntegrityError, match="wrapped data key"):
        list_secrets(installation, LOCAL, stack_target)


def test_data_key_with_unknown_master_key_version_is_reported(
    installation: Installation, stack_target: Target
) -> None:
    put(installation, stack_target, "K", "v")
    with installation.store.write() as conn:
        register_master_key(conn, 9, b"\x00" * 32, installation.clock())
        conn.execute(update(data_keys).values(master_key_version=9))
    fresh(installation)
    with pytest.raises(ConfigurationError, match="master key version 9"):
        list_secrets(installation, LOCAL, stack_target)


def test_truncated_envelope_fails(installation: Installation, stack_target: Target) -> None:
    put(installation, stack_target, "K", "v")
    version_id, envelope = envelope_of(installation, "K")
    store_envelope(installation, version_id, envelope[:10])
    with pytest.raises(IntegrityError, match="truncated"):
        list_secrets(installation, LOCAL, stack_target)
