"""Concurrent writers lose no update and never share a version number (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.secrets import get_secret, list_secrets, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import data_keys, secret_versions
from tests.actors import LOCAL

THREADS = 6
WRITES = 8


def hammer(settings: Settings, target: Target, keys: list[str]) -> None:
    # One installation per worker, like separate server processes sharing a database.
    installation = open_installation(settings)
    try:
        for n in range(WRITES):
            for key in keys:
                set_secret(installation, LOCAL, target, key, SecretValue(f"{key}-{n}"))
    finally:
        installation.close()


def test_concurrent_writes_to_one_key_lose_nothing(
    installation: Installation, settings: Settings, stack_target: Target
) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [
            pool.submit(hammer, settings, stack_target, ["SHARED"]) for _ in range(THREADS)
        ]:
            future.result()
    final = get_secret(installation, LOCAL, stack_target, "SHARED")
    assert final.version == THREADS * WRITES
    with installation.store.read() as conn:
        versions = sorted(conn.execute(select(secret_versions.c.version)).scalars())
    assert versions == list(range(1, THREADS * WRITES + 1))


def test_concurrent_first_writes_of_many_keys_all_land(
    installation: Installation, settings: Settings, stack_target: Target
) -> None:
    groups = [[f"K{t}_{i}" for i in range(3)] for t in range(THREADS)]
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(hammer, settings, stack_target, g) for g in groups]:
            future.result()
    found = {s.key: s for s in list_secrets(installation, LOCAL, stack_target, reveal=True)}
    assert sorted(found) == sorted(k for g in groups for k in g)
    assert all(s.version == WRITES for s in found.values())
    with installation.store.read() as conn:
        # All writers of one scope agreed on a single data key.
        assert len(conn.execute(select(data_keys.c.id)).all()) == 1
