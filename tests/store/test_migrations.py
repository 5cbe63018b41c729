"""Migrations: a database made by an older revision upgrades in place, data intact."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect

from stacksafe.core.installation import open_installation
from stacksafe.core.tenancy import list_accounts
from stacksafe.crypto import generate_master_key, write_key_file
from stacksafe.settings import Settings
from stacksafe.store import Store
from stacksafe.store import keys as key_queries
from stacksafe.store import tenancy as tenancy_queries
from stacksafe.store.migrate import HEAD_REVISION, current_revision
from tests.actors import LOCAL


def test_revision_0001_database_upgrades_to_head_on_open(settings: Settings) -> None:
    if settings.sqlite_path is not None:
        settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    store = Store.from_url(settings.database_url)
    config = Config()
    config.set_main_option("script_location", "stacksafe.store:migrations")
    with store.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    key = generate_master_key()
    write_key_file(settings.master_key_file, [key])
    from stacksafe.core.installation import utc_now

    with store.write() as conn:
        key_queries.register_master_key(conn, 1, key.check_value(), utc_now())
        tenancy_queries.insert_account(conn, "uid-old", "old-account", utc_now())
        assert not inspect(conn).has_table("audit_events")
    store.close()

    installation = open_installation(settings)
    try:
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION
            assert inspect(conn).has_table("audit_events")
        assert [a.name for a in list_accounts(installation, LOCAL)] == ["old-account"]
        assert sorted(installation.server_keys) == [
            "audit-chain",
            "audit-stream",
            "fingerprint",
            "settings-seal",
            "token-hash",
        ]
    finally:
        installation.close()


def test_the_migrations_build_exactly_the_schema_the_code_declares(settings: Settings) -> None:
    """Alembic's autogenerate comparison of the migrated database with ``store.schema``."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from stacksafe.core.installation import initialise
    from stacksafe.store.schema import metadata

    installation, _ = initialise(settings)
    try:
        with installation.store.read() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    finally:
        installation.close()
    assert differences == []


def test_downgrading_0011_puts_every_shared_detail_back_inline(settings: Settings) -> None:
    """0010 reads only ``audit_events.detail``: a downgrade must not leave shared events empty."""
    import json

    from sqlalchemy import select

    from stacksafe.core.audit_chain import verify_chain
    from stacksafe.core.audit_events import list_events
    from stacksafe.core.installation import initialise
    from stacksafe.core.secrets import import_secrets, list_secrets
    from stacksafe.core.tenancy import Target, create_account, create_stack
    from stacksafe.model import SecretValue
    from stacksafe.store.schema import audit_events

    installation, _ = initialise(settings)
    try:
        account = create_account(installation, LOCAL, "acme")
        stack = create_stack(installation, LOCAL, "acme", "web", "production")
        target = Target(account, stack)
        import_secrets(
            installation, LOCAL, target, {f"K{n:03}": SecretValue("v") for n in range(40)}
        )
        for _ in range(3):
            list_secrets(installation, LOCAL, target, reveal=True)
        expected = {e.seq: e.detail for e in list_events(installation, limit=100)}
        assert verify_chain(installation).intact
        config = Config()
        config.set_main_option("script_location", "stacksafe.store:migrations")
        with installation.store.write() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0010")
        with installation.store.read() as conn:
            assert current_revision(conn) == "0010"
            rows = conn.execute(select(audit_events.c.seq, audit_events.c.detail)).all()
        assert {seq: json.loads(detail) for seq, detail in rows} == expected
    finally:
        installation.close()


def test_0012_keeps_failure_counts_and_downgrades_to_0011_without_them(
    settings: Settings,
) -> None:
    """The counts of failed guesses (core.guessing) are a table of their own: a downgrade
    drops it and leaves everything else, an upgrade brings it back empty."""
    from sqlalchemy import select

    from stacksafe.core.guessing import FailureCounts, Limit
    from stacksafe.core.installation import initialise
    from stacksafe.store.schema import failures

    installation, _ = initialise(settings)
    try:
        counts = FailureCounts(installation, Limit("test", 5, 60))
        assert counts.failed("198.51.100.1").failures == 1
        with installation.store.read() as conn:
            (row,) = conn.execute(select(failures)).all()
        assert b"198.51.100.1" not in row.target  # a keyed hash, not the address
        config = Config()
        config.set_main_option("script_location", "stacksafe.store:migrations")
        with installation.store.write() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0011")
        with installation.store.read() as conn:
            assert current_revision(conn) == "0011"
            assert not inspect(conn).has_table("failures")
            assert inspect(conn).has_table("audit_details")
        with installation.store.write() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        with installation.store.read() as conn:
            assert current_revision(conn) == HEAD_REVISION == "0019"
            assert conn.execute(select(failures)).all() == []
    finally:
        installation.close()
