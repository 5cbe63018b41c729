"""``STACKSAFE_WEB_IDLE_TIMEOUT``: read by the served app, checked by ``serve`` before it starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from stacksafe.api.app import app_from_environment
from tests.cli.helpers import Cli, error_line, seed


def test_the_served_app_takes_its_idle_timeout_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(tmp_path / "data")
    seed(cli.in_process())
    monkeypatch.setenv("STACKSAFE_DATA_DIR", str(cli.data_dir))
    monkeypatch.setenv("STACKSAFE_ROTATION_INTERVAL", "0")
    monkeypatch.setenv("STACKSAFE_WEB_IDLE_TIMEOUT", "15m")
    app = app_from_environment()
    try:
        assert app.state.web.policy.idle_timeout == timedelta(minutes=15)
    finally:
        app.state.web.installation.close()


def test_serve_refuses_a_malformed_idle_timeout_before_starting(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    done = cli.run("serve", "--port", "1", env={"STACKSAFE_WEB_IDLE_TIMEOUT": "soon"})
    assert done.returncode == 2
    assert error_line(done.stderr).startswith("Error: STACKSAFE_WEB_IDLE_TIMEOUT: duration")
    assert not (tmp_path / "data").exists()


def test_the_served_app_sizes_its_password_pool_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(tmp_path / "data")
    seed(cli.in_process())
    monkeypatch.setenv("STACKSAFE_DATA_DIR", str(cli.data_dir))
    monkeypatch.setenv("STACKSAFE_ROTATION_INTERVAL", "0")
    monkeypatch.setenv("STACKSAFE_PASSWORD_WORKERS", "2")
    monkeypatch.setenv("STACKSAFE_PASSWORD_QUEUE", "3")
    app = app_from_environment()
    try:
        assert (app.state.web.passwords.workers, app.state.web.passwords.queue) == (2, 3)
    finally:
        app.state.web.passwords.close()
        app.state.web.installation.close()


def test_serve_refuses_a_malformed_password_pool_size_before_starting(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "data")
    done = cli.run("serve", "--port", "1", env={"STACKSAFE_PASSWORD_QUEUE": "many"})
    assert done.returncode != 0
    assert "STACKSAFE_PASSWORD_QUEUE must be a whole number of sign-ins" in done.stderr
