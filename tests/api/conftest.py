"""Fixtures of the API tests: ``world`` runs on SQLite and PostgreSQL (via ``installation``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stacksafe.core.installation import Installation
from tests.api.helpers import World, build_world


@pytest.fixture
def world(installation: Installation) -> Iterator[World]:
    """Account ``acme``, stack ``web`` and an administrator's client (see ``World``)."""
    built = build_world(installation)
    with built.client:  # one event-loop thread for the test, not one per request
        yield built
