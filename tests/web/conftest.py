"""Fixtures of the web UI's HTTP-level tests (SQLite and PostgreSQL, through ``installation``)."""

from __future__ import annotations

import pytest

from stacksafe.core.installation import Installation
from tests.web.helpers import WebWorld, build_web_world


@pytest.fixture
def web(installation: Installation) -> WebWorld:
    return build_web_world(installation)
