"""Configuration from arguments and STACKSAFE_* variables, read only when asked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacksafe.errors import ConfigurationError
from stacksafe.settings import DEFAULT_MAX_VALUE_BYTES, Settings


def test_defaults_live_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.load({}, data_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'stacksafe.db'}"
    assert settings.master_key_file == tmp_path / "master.key"
    assert settings.sqlite_path == tmp_path / "stacksafe.db"
    assert settings.max_value_bytes == DEFAULT_MAX_VALUE_BYTES
    assert settings.master_key_source == f"key file {tmp_path / 'master.key'}"


def test_environment_variables_are_honoured(tmp_path: Path) -> None:
    env = {
        "STACKSAFE_DATA_DIR": str(tmp_path / "d"),
        "STACKSAFE_DATABASE_URL": "postgresql+psycopg://u@h/db",
        "STACKSAFE_MASTER_KEY_FILE": str(tmp_path / "k"),
        "STACKSAFE_MASTER_KEY": "1:abc",
        "STACKSAFE_MAX_VALUE_BYTES": "10",
    }
    settings = Settings.load(env)
    assert settings.data_dir == tmp_path / "d"
    assert settings.sqlite_path is None
    assert settings.master_key_file == tmp_path / "k"
    assert settings.master_key_source == "environment variable STACKSAFE_MASTER_KEY"
    assert settings.max_value_bytes == 10
    assert "abc" not in repr(settings)


def test_data_dir_argument_wins_over_the_environment(tmp_path: Path) -> None:
    settings = Settings.load({"STACKSAFE_DATA_DIR": "/elsewhere"}, data_dir=tmp_path)
    assert settings.data_dir == tmp_path


def test_default_data_dir_follows_xdg(tmp_path: Path) -> None:
    settings = Settings.load({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.data_dir == tmp_path / "stacksafe"


@pytest.mark.parametrize("limit", ["ten", "0", "-5"])
def test_bad_value_limit_is_a_configuration_error(tmp_path: Path, limit: str) -> None:
    with pytest.raises(ConfigurationError, match="STACKSAFE_MAX_VALUE_BYTES"):
        Settings.load({"STACKSAFE_MAX_VALUE_BYTES": limit}, data_dir=tmp_path)


def test_the_expansion_bound_is_read_once_and_reaches_the_installation(tmp_path: Path) -> None:
    from stacksafe.core.installation import initialise, open_installation

    assert Settings.load({}, data_dir=tmp_path).max_expanded_bytes == 16 * 1024 * 1024
    settings = Settings.load({"STACKSAFE_MAX_EXPANDED_BYTES": "4096"}, data_dir=tmp_path)
    assert settings.max_expanded_bytes == 4096
    initialise(settings)[0].close()
    installation = open_installation(settings)
    try:
        assert installation.max_expanded_bytes == 4096
    finally:
        installation.close()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "between 1 and 1073741824 bytes, not 0"),
        ("16MiB", "whole number of bytes, not '16MiB'"),
        ("-1", "whole number of bytes"),
        (str(1 << 31), "between 1 and 1073741824 bytes"),
    ],
)
def test_a_bad_expansion_bound_is_a_configuration_error(
    tmp_path: Path, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as caught:
        Settings.load({"STACKSAFE_MAX_EXPANDED_BYTES": value}, data_dir=tmp_path)
    assert "STACKSAFE_MAX_EXPANDED_BYTES" in str(caught.value)


def test_a_passphrase_source_and_its_parameters_file(tmp_path: Path) -> None:
    settings = Settings.load(
        {"STACKSAFE_MASTER_KEY_PASSPHRASE": "a long enough passphrase"}, data_dir=tmp_path
    )
    assert settings.uses_passphrase
    assert settings.master_key_source == (
        "the passphrase in environment variable STACKSAFE_MASTER_KEY_PASSPHRASE"
    )
    assert settings.key_params_file == tmp_path / "master.key.params"
    assert "long enough" not in repr(settings)
    from_file = Settings.load(
        {
            "STACKSAFE_MASTER_KEY_PASSPHRASE_FILE": str(tmp_path / "pass"),
            "STACKSAFE_MASTER_KEY_PARAMS_FILE": str(tmp_path / "elsewhere.json"),
        },
        data_dir=tmp_path,
    )
    assert from_file.master_key_source == f"the passphrase in file {tmp_path / 'pass'}"
    assert from_file.key_params_file == tmp_path / "elsewhere.json"
    assert not Settings.load({}, data_dir=tmp_path).uses_passphrase


@pytest.mark.parametrize(
    "names",
    [
        ("STACKSAFE_MASTER_KEY", "STACKSAFE_MASTER_KEY_PASSPHRASE"),
        ("STACKSAFE_MASTER_KEY_PASSPHRASE", "STACKSAFE_MASTER_KEY_PASSPHRASE_FILE"),
        ("STACKSAFE_MASTER_KEY_FILE", "STACKSAFE_MASTER_KEY_PASSPHRASE"),
    ],
)
def test_two_master_key_sources_are_refused(tmp_path: Path, names: tuple[str, str]) -> None:
    env = dict.fromkeys(names, "secret material")
    with pytest.raises(ConfigurationError, match="set only one master key source") as refused:
        Settings.load(env, data_dir=tmp_path)
    assert all(name in refused.value.message for name in names)
    assert "secret material" not in refused.value.message


def test_database_pool_settings_default_and_come_from_the_environment(tmp_path: Path) -> None:
    from stacksafe.settings import (
        DEFAULT_DB_CONNECT_TIMEOUT,
        DEFAULT_DB_MAX_OVERFLOW,
        DEFAULT_DB_POOL_SIZE,
        DEFAULT_DB_POOL_TIMEOUT,
    )

    defaults = Settings.load({}, data_dir=tmp_path)
    assert (
        defaults.db_pool_size,
        defaults.db_max_overflow,
        defaults.db_pool_timeout,
        defaults.db_connect_timeout,
    ) == (
        DEFAULT_DB_POOL_SIZE,
        DEFAULT_DB_MAX_OVERFLOW,
        DEFAULT_DB_POOL_TIMEOUT,
        DEFAULT_DB_CONNECT_TIMEOUT,
    )
    chosen = Settings.load(
        {
            "STACKSAFE_DB_POOL_SIZE": "3",
            "STACKSAFE_DB_MAX_OVERFLOW": "0",
            "STACKSAFE_DB_POOL_TIMEOUT": "2.5",
            "STACKSAFE_DB_CONNECT_TIMEOUT": "7",
        },
        data_dir=tmp_path,
    )
    assert (
        chosen.db_pool_size,
        chosen.db_max_overflow,
        chosen.db_pool_timeout,
        chosen.db_connect_timeout,
    ) == (3, 0, 2.5, 7)


def test_the_password_pool_sizes_default_and_come_from_the_environment(tmp_path: Path) -> None:
    defaults = Settings.load({}, data_dir=tmp_path)
    assert (defaults.password_workers, defaults.password_queue) == (1, 8)
    chosen = Settings.load(
        {"STACKSAFE_PASSWORD_WORKERS": "3", "STACKSAFE_PASSWORD_QUEUE": "0"}, data_dir=tmp_path
    )
    assert (chosen.password_workers, chosen.password_queue) == (3, 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STACKSAFE_PASSWORD_WORKERS", "0", "between 1 and 256 threads, not 0"),
        ("STACKSAFE_PASSWORD_WORKERS", "1000", "between 1 and 256 threads, not 1000"),
        ("STACKSAFE_PASSWORD_WORKERS", "two", "whole number of threads, not 'two'"),
        ("STACKSAFE_PASSWORD_QUEUE", "-1", "whole number of sign-ins"),
        ("STACKSAFE_PASSWORD_QUEUE", "100000", "between 0 and 10000 sign-ins"),
    ],
)
def test_malformed_password_pool_sizes_are_refused(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.load({name: value}, data_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STACKSAFE_DB_POOL_SIZE", "0", "between 1 and 10000 connections, not 0"),
        ("STACKSAFE_DB_POOL_SIZE", "eight", "whole number of connections, not 'eight'"),
        ("STACKSAFE_DB_POOL_SIZE", "-1", "whole number of connections"),
        ("STACKSAFE_DB_POOL_SIZE", "100000", "between 1 and 10000"),
        ("STACKSAFE_DB_MAX_OVERFLOW", "1.5", "whole number of connections"),
        ("STACKSAFE_DB_POOL_TIMEOUT", "0", "above 0"),
        ("STACKSAFE_DB_POOL_TIMEOUT", "-3", "above 0"),
        ("STACKSAFE_DB_POOL_TIMEOUT", "nan", "above 0"),
        ("STACKSAFE_DB_POOL_TIMEOUT", "inf", "above 0"),
        ("STACKSAFE_DB_POOL_TIMEOUT", "10s", "not '10s'"),
        ("STACKSAFE_DB_CONNECT_TIMEOUT", "0", "between 1 and 3600 seconds"),
    ],
)
def test_bad_database_pool_settings_are_configuration_errors(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as caught:
        Settings.load({name: value}, data_dir=tmp_path)
    assert name in str(caught.value)


def test_the_installation_opens_its_store_with_the_pool_settings(tmp_path: Path) -> None:
    from stacksafe.core.installation import initialise, open_installation

    env = {"STACKSAFE_DB_POOL_SIZE": "3", "STACKSAFE_DB_POOL_TIMEOUT": "4"}
    settings = Settings.load(env, data_dir=tmp_path)
    initialise(settings)[0].close()
    installation = open_installation(settings)
    try:
        pool = installation.store.engine.pool
        assert pool.size() == 3  # type: ignore[attr-defined]
        assert pool.timeout() == 4  # type: ignore[attr-defined]
    finally:
        installation.close()


def test_audit_checkpoint_and_free_space_settings(tmp_path: Path) -> None:
    defaults = Settings.load({}, data_dir=tmp_path)
    assert defaults.checkpoint_file == tmp_path / "audit.checkpoint"
    assert (defaults.audit_checkpoint_seconds, defaults.audit_min_free_bytes) == (1.0, 8 << 20)
    chosen = Settings.load(
        {
            "STACKSAFE_AUDIT_CHECKPOINT_FILE": str(tmp_path / "elsewhere" / "head"),
            "STACKSAFE_AUDIT_CHECKPOINT_SECONDS": "0.5",
            "STACKSAFE_AUDIT_MIN_FREE_BYTES": "0",
        },
        data_dir=tmp_path,
    )
    assert chosen.checkpoint_file == tmp_path / "elsewhere" / "head"
    home = Settings.load(
        {"STACKSAFE_AUDIT_CHECKPOINT_FILE": "~/audit.checkpoint"}, data_dir=tmp_path
    )
    assert home.checkpoint_file == Path("~/audit.checkpoint").expanduser()
    assert (chosen.audit_checkpoint_seconds, chosen.audit_min_free_bytes) == (0.5, 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STACKSAFE_AUDIT_CHECKPOINT_SECONDS", "0", "STACKSAFE_AUDIT_CHECKPOINT_SECONDS must be"),
        ("STACKSAFE_AUDIT_CHECKPOINT_SECONDS", "soon", "STACKSAFE_AUDIT_CHECKPOINT_SECONDS must"),
        ("STACKSAFE_AUDIT_MIN_FREE_BYTES", "8M", "STACKSAFE_AUDIT_MIN_FREE_BYTES must be a whole"),
        ("STACKSAFE_AUDIT_MIN_FREE_BYTES", "-1", "STACKSAFE_AUDIT_MIN_FREE_BYTES must be a whole"),
        # Relative: it would name another file in each directory a process starts in.
        (
            "STACKSAFE_AUDIT_CHECKPOINT_FILE",
            "audit.checkpoint",
            "STACKSAFE_AUDIT_CHECKPOINT_FILE must be an absolute path, not 'audit.checkpoint'",
        ),
        ("STACKSAFE_AUDIT_CHECKPOINT_FILE", "./x/head", "STACKSAFE_AUDIT_CHECKPOINT_FILE must be"),
    ],
)
def test_bad_audit_settings_are_configuration_errors(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.load({name: value}, data_dir=tmp_path)
