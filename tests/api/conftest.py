"""Fixtures of the API tests: ``world`` runs on SQLite and on PostgreSQL (through ``vault``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stacksafe.core.vault import Vault
from tests.api.helpers import World, build_world


@pytest.fixture
def world(vault: Vault) -> Iterator[World]:
    """Account ``acme``, stack ``web`` and an administrator's client (see ``World``)."""
    built = build_world(vault)
    with built.client:  # one event-loop thread for the test, not one per request
        yield built
