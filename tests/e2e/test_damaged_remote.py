"""Damaged stored rows against a real ``stacksafe serve``: the server answers each read with 500
``integrity_error`` (no dropped connection, no traceback, no value) and stays up; the remote CLI
exits 6 with one error line. The module's tests share one server, each damaging a stack of an
account of its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from stacksafe.store.schema import stacks
from tests.cli.helpers import error_line
from tests.damage import INHERITED, OTHER, OVERRIDE, damage, values_seeded
from tests.e2e.conftest import Served, new_account, trusting

# SQLite only (tests/conftest.py, DATABASES): a served process's answer and the remote CLI's exit
# code; finding the damage is core's (tests/core/test_damaged_rows.py) and the API's answer to it
# tests/api/test_damaged_api.py's, both on both databases.
pytestmark = pytest.mark.databases("sqlite")

INTEGRITY = 6


def _seeded(served: Served, account: str, stack: str) -> None:
    local = served.local.in_process()
    seeded = values_seeded()
    for level, option, name in (("account", "--account", account), ("stack", "--stack", stack)):
        for key, value in seeded[level].items():
            local.ok("secrets", "set", f"{key}={value}", option, name)


def _damage(served: Served, stack: str, kind: str) -> None:
    engine = create_engine(served.database_url)
    try:
        with engine.connect() as conn:
            stack_id = conn.execute(select(stacks.c.id).where(stacks.c.uid == stack)).scalar_one()
        damage(engine, stack_id, kind)
    finally:
        engine.dispose()


def _no_value(text: str) -> None:
    for value in (INHERITED, OVERRIDE, OTHER):
        assert value not in text


@pytest.mark.parametrize("kind", ["null_envelope", "text_envelope", "deleted_flag"])
def test_a_served_installation_reports_damage(served: Served, tmp_path: Path, kind: str) -> None:
    account = "damaged-" + kind.replace("_", "-")
    dev = new_account(served.local, account, "development")
    url = f"{served.address}/api/3/stacks/{dev}/secrets"
    with httpx.Client(
        headers={"Authorization": f"Bearer {served.token}"},
        verify=trusting(served.ca),
        timeout=10,
    ) as http:
        _seeded(served, account, dev)
        # Warm first: the server keeps the revealed page, which the damage must not hide.
        assert http.get(url, params={"reveal": "true"}).json()["response"]
        _damage(served, dev, kind)
        for answer in (
            http.get(url, params={"reveal": "true"}),
            http.get(f"{url}/K", params={"reveal": "true"}),
            http.get(f"{url}/K/versions"),
        ):
            assert answer.status_code == 500, answer.text
            assert answer.json()["error"] == "integrity_error"
            assert "Traceback" not in answer.text
            _no_value(answer.text)

    empty = tmp_path / "empty"
    empty.mkdir()
    remote = served.remote(None, empty)
    listed = remote.fails(INTEGRITY, "secrets", "list", "--stack", dev, "--reveal")
    assert "'K'" in error_line(listed.stderr)
    _no_value(listed.stderr)
    fast = remote.in_process()
    for args in (
        ("secrets", "get", "K", "--stack", dev, "--reveal"),
        ("secrets", "history", "K", "--stack", dev),
        ("export", "--stack", dev),
    ):
        _no_value(fast.fails(INTEGRITY, *args).stderr)
    assert served.process.process.poll() is None  # the server is still up
