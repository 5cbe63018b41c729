"""An installation whose master key is derived from a passphrase, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from stacksafe.core.data_key_rotation import rotate_data_keys
from stacksafe.core.installation import initialise, open_installation
from stacksafe.core.master_key_rotation import key_status, rotate_master_key
from stacksafe.core.secrets import get_secret, set_secret
from stacksafe.core.tenancy import Target, create_account
from stacksafe.errors import ConfigurationError
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from tests.actors import LOCAL

PASSPHRASE = "tangerine orbit velvet canyon"
VALUE = "value-that-must-not-leak"


def with_passphrase(settings: Settings, passphrase: str = PASSPHRASE) -> Settings:
    return replace(settings, master_key_passphrase=SecretValue(passphrase))


def test_init_then_reopen_with_the_passphrase(settings: Settings) -> None:
    chosen = with_passphrase(settings)
    installation, created = initialise(chosen)
    try:
        assert created == chosen.key_params_file == settings.data_dir / "master.key.params"
        assert not settings.master_key_file.exists()  # no key file: the passphrase is the key
        target = Target(create_account(installation, LOCAL, "acme"))
        set_secret(installation, LOCAL, target, "DB_PASSWORD", SecretValue(VALUE))
    finally:
        installation.close()
    params = json.loads(chosen.key_params_file.read_text())
    assert params["kdf"] == "argon2id"
    assert PASSPHRASE not in chosen.key_params_file.read_text()

    reopened = open_installation(chosen)
    try:
        found = get_secret(reopened, LOCAL, target, "DB_PASSWORD", reveal=True).raw_value
        assert found == SecretValue(VALUE)
        assert reopened.data_keys.keyring.source == (
            "the passphrase in environment variable STACKSAFE_MASTER_KEY_PASSPHRASE"
        )
        # Data keys rotate as with any provider; the master key itself does not.
        assert rotate_data_keys(reopened, LOCAL).resealed == 1
        with pytest.raises(ConfigurationError, match="does not rotate it") as refused:
            rotate_master_key(reopened, LOCAL, chosen)
        assert "STACKSAFE_MASTER_KEY_PASSPHRASE" in refused.value.message
        assert key_status(reopened).versions == [1]
    finally:
        reopened.close()


def test_a_passphrase_file_works_like_the_variable(settings: Settings, tmp_path: Path) -> None:
    installation, _ = initialise(with_passphrase(settings))
    installation.close()
    path = tmp_path / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")  # the final line break is not part of it
    path.chmod(0o600)  # its owner's only, as a key file (tests/crypto/test_private_file.py)
    from_file = replace(settings, master_key_passphrase_file=path)
    open_installation(from_file).close()
    missing = replace(settings, master_key_passphrase_file=tmp_path / "nope.txt")
    with pytest.raises(ConfigurationError, match=r"passphrase file .*nope\.txt.* does not exist"):
        open_installation(missing)


def test_a_wrong_passphrase_is_refused_naming_the_problem(settings: Settings) -> None:
    installation, _ = initialise(with_passphrase(settings))
    try:
        target = Target(create_account(installation, LOCAL, "acme"))
        set_secret(installation, LOCAL, target, "DB_PASSWORD", SecretValue(VALUE))
    finally:
        installation.close()
    wrong = with_passphrase(settings, "tangerine orbit velvet canyonX")
    with pytest.raises(ConfigurationError) as refused:
        open_installation(wrong)
    message = refused.value.message
    assert "key check value mismatch" in message
    assert "the passphrase is wrong" in message
    assert "STACKSAFE_MASTER_KEY_PASSPHRASE" in message
    assert PASSPHRASE not in message
    assert "canyonX" not in message
    assert VALUE not in message


def test_a_missing_or_corrupt_parameters_file_is_a_clear_error(settings: Settings) -> None:
    chosen = with_passphrase(settings)
    initialise(chosen)[0].close()
    saved = chosen.key_params_file.read_text()
    chosen.key_params_file.unlink()
    with pytest.raises(ConfigurationError, match=r"master\.key\.params does not exist"):
        open_installation(chosen)
    chosen.key_params_file.write_text(saved.replace('"argon2id"', '"argon2i"'))
    with pytest.raises(ConfigurationError, match="unsupported kdf 'argon2i'"):
        open_installation(chosen)
    # Another installation's parameters (another salt) derive another key: refused by the
    # key check value, not by the file.
    data = json.loads(saved)
    data["salt"] = "AAAAAAAAAAAAAAAAAAAAAA=="
    chosen.key_params_file.write_text(json.dumps(data))
    with pytest.raises(ConfigurationError, match="key check value mismatch"):
        open_installation(chosen)
    chosen.key_params_file.write_text(saved)
    open_installation(chosen).close()


def test_init_refuses_a_short_passphrase_and_an_existing_parameters_file(
    settings: Settings,
) -> None:
    with pytest.raises(ConfigurationError, match="at least 12"):
        initialise(with_passphrase(settings, "short"))
    assert not settings.key_params_file.exists()
    settings.key_params_file.write_text("{}")
    with pytest.raises(ConfigurationError, match="already exists; refusing to overwrite"):
        initialise(with_passphrase(settings))
    assert settings.key_params_file.read_text() == "{}"


def test_an_unusable_passphrase_is_refused_and_leaves_no_parameters_file(
    settings: Settings,
) -> None:
    # Bytes that are not UTF-8 in the environment reach Python as lone surrogates.
    with pytest.raises(ConfigurationError, match="is not valid UTF-8 text"):
        initialise(with_passphrase(settings, "correct horse \udcff battery staple"))
    assert not settings.key_params_file.exists()
    installation, _ = initialise(with_passphrase(settings))  # a retry with a good one just works
    installation.close()
