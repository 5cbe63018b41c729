"""Moving an installation's database to a revision with Alembic, as ``init`` and an upgrade do,
for the tests of one migration (test_migration_00NN.py)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from stacksafe.core.installation import Installation

__all__ = ["migrate"]


def migrate(installation: Installation, revision: str, *, down: bool) -> None:
    config = Config()
    config.set_main_option("script_location", "stacksafe.store:migrations")
    with installation.store.write() as conn:
        config.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(config, revision)
