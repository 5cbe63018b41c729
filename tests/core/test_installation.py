"""Opening an installation: the master key is checked first, and a wrong one changes nothing."""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stacksafe.core.installation import Installation, initialise, open_installation
from stacksafe.core.secrets import list_secrets, set_secret
from stacksafe.core.tenancy import Target, create_account
from stacksafe.crypto import generate_master_key, write_key_file
from stacksafe.errors import ConfigurationError
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import secret_versions
from tests.actors import LOCAL


def other_key_file(tmp_path: Path, version: int = 1) -> Path:
    path = tmp_path / f"other-{version}.key"
    write_key_file(path, [generate_master_key(version)])
    return path


def version_count(installation: Installation) -> int:
    with installation.store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(secret_versions)).scalar_one())


def test_init_writes_a_key_file_only_its_owner_can_read(settings: Settings) -> None:
    installation, key_file = initialise(settings)
    installation.close()
    assert key_file == settings.master_key_file
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_init_refuses_an_initialised_database(settings: Settings) -> None:
    initialise(settings)[0].close()
    key_before = settings.master_key_file.read_bytes()
    with pytest.raises(ConfigurationError, match="already initialised"):
        initialise(settings)
    assert settings.master_key_file.read_bytes() == key_before


def test_init_refuses_to_overwrite_an_existing_key_file(settings: Settings) -> None:
    settings.master_key_file.write_text("keep me")
    with pytest.raises(ConfigurationError, match="already exists"):
        initialise(settings)
    assert settings.master_key_file.read_text() == "keep me"


def test_init_with_a_key_from_the_environment_writes_no_key_file(settings: Settings) -> None:
    material = base64.b64encode(generate_master_key().material).decode()
    from_env = replace(settings, master_key_text=SecretValue(material))
    installation, key_file = initialise(from_env)
    installation.close()
    assert key_file is None
    assert not settings.master_key_file.exists()
    open_installation(from_env).close()


def test_wrong_master_key_is_refused_naming_its_source(settings: Settings, tmp_path: Path) -> None:
    installation, _ = initialise(settings)
    target = Target(create_account(installation, LOCAL, "acme"))
    set_secret(installation, LOCAL, target, "K", SecretValue("v"))
    before = version_count(installation)
    installation.close()
    wrong = replace(settings, master_key_file=other_key_file(tmp_path))
    with pytest.raises(ConfigurationError, match=r"other-1\.key.*wrong for this database"):
        open_installation(wrong)
    reopened = open_installation(settings)
    assert version_count(reopened) == before
    assert [s.key for s in list_secrets(reopened, LOCAL, target)] == ["K"]
    reopened.close()


def test_key_of_an_unknown_version_is_refused(settings: Settings, tmp_path: Path) -> None:
    initialise(settings)[0].close()
    wrong = replace(settings, master_key_file=other_key_file(tmp_path, version=2))
    with pytest.raises(ConfigurationError, match="does not belong to this database"):
        open_installation(wrong)


def test_missing_key_file_is_reported(settings: Settings) -> None:
    initialise(settings)[0].close()
    settings.master_key_file.unlink()
    with pytest.raises(ConfigurationError, match=r"does not exist.*stacksafe init"):
        open_installation(settings)


def test_uninitialised_database_is_reported(settings: Settings) -> None:
    if settings.sqlite_path is not None:
        with pytest.raises(ConfigurationError, match="run `stacksafe init` first"):
            open_installation(settings)
        assert not settings.sqlite_path.exists()
    else:
        with pytest.raises(ConfigurationError, match="not initialised"):
            open_installation(settings)


def test_unreachable_postgresql_is_a_clean_error_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://someone:hunter2@127.0.0.1:1/nowhere"
    settings = Settings.load({"STACKSAFE_DATABASE_URL": url}, data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match="cannot open the database") as caught:
        open_installation(settings)
    assert "hunter2" not in str(caught.value)


def test_schema_is_current_after_init(installation: Installation) -> None:
    from stacksafe.store.migrate import HEAD_REVISION, current_revision

    with installation.store.read() as conn:
        assert current_revision(conn) == HEAD_REVISION


def test_sqlite_database_and_data_dir_are_private(tmp_path: Path) -> None:
    settings = Settings.load({}, data_dir=tmp_path / "fresh")
    installation, _ = initialise(settings)
    installation.close()
    assert stat.S_IMODE(os.stat(settings.data_dir).st_mode) == 0o700
    assert settings.sqlite_path is not None
    assert stat.S_IMODE(os.stat(settings.sqlite_path).st_mode) == 0o600


def test_failed_init_leaves_no_database_file_behind(tmp_path: Path) -> None:
    settings = Settings.load({}, data_dir=tmp_path / "d")
    settings.data_dir.mkdir()
    settings.master_key_file.write_text("someone else's key")
    with pytest.raises(ConfigurationError, match="already exists"):
        initialise(settings)
    assert sorted(p.name for p in settings.data_dir.iterdir()) == ["master.key"]
