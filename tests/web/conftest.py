"""Fixtures of the web UI's HTTP-level tests (SQLite and PostgreSQL, through ``vault``)."""

from __future__ import annotations

import pytest

from stacksafe.core.vault import Vault
from tests.web.helpers import WebWorld, build_web_world


@pytest.fixture
def web(vault: Vault) -> WebWorld:
    return build_web_world(vault)
