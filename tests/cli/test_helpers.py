"""The console-script drivers' environments: a ``measured=False`` call is not traced by coverage."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.helpers import Cli, parent_environ
from tests.e2e.conftest import RemoteCli

# What pyproject's patch = ["subprocess"] sets for the processes the tests start (a stand-in
# value: a run without --cov has none).
COVERAGE = {"COVERAGE_PROCESS_CONFIG": '{"run:branch": true}', "COVERAGE_FILE": "/tmp/x/.coverage"}


@pytest.fixture(autouse=True)
def _environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in COVERAGE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("STACKSAFE_TOKEN", "ssk_from_the_test_runner")


def _coverage(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k.startswith("COVERAGE_")}


def test_a_measured_call_keeps_coverages_settings_and_an_unmeasured_one_has_none() -> None:
    assert _coverage(parent_environ()) == COVERAGE
    assert _coverage(parent_environ(measured=False)) == {}
    for environ in (parent_environ(), parent_environ(measured=False)):
        assert "STACKSAFE_TOKEN" not in environ  # either way, nothing of the runner's leaks in
        assert environ["PATH"]


@pytest.mark.parametrize("measured", [True, False])
def test_the_cli_and_the_remote_cli_pass_the_switch_on(tmp_path: Path, measured: bool) -> None:
    local = Cli(tmp_path / "data")
    remote = RemoteCli(tmp_path / "remote", address="https://127.0.0.1:1", token="ssk_owner")
    for cli in (local, remote):
        environ = cli.env({"EXTRA": "1"}, measured=measured)
        assert _coverage(environ) == (COVERAGE if measured else {})
        assert environ["STACKSAFE_DATA_DIR"] == str(cli.data_dir)
        assert environ["EXTRA"] == "1"
    assert remote.env(measured=measured)["STACKSAFE_TOKEN"] == "ssk_owner"
