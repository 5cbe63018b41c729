"""Master-key rotation on SQLite and PostgreSQL: every data key re-wrapped, values untouched,
servers opened before the rotation keep reading and writing, interruptions resume."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from sqlalchemy import select

from stacksafe.core.audit_chain import verify_chain
from stacksafe.core.audit_events import list_events
from stacksafe.core.installation import Installation, open_installation
from stacksafe.core.master_key_rotation import key_status, rotate_master_key
from stacksafe.core.secrets import get_secret, list_secrets, set_secret
from stacksafe.core.tenancy import Target, create_stack
from stacksafe.crypto import keyring_from_file
from stacksafe.errors import ConfigurationError, Forbidden
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import secret_versions
from tests.actors import LOCAL
from tests.core.helpers_access import make_user


def seed(
    installation: Installation, account: Target, stacks: int = 3
) -> dict[tuple[str, str], str]:
    """Secrets in the account and in a few stacks: one data key per level."""
    written = {}
    for n in range(stacks):
        target = Target(
            account.account, create_stack(installation, LOCAL, "acme", f"s{n}", "staging")
        )
        for key in ("A", "B"):
            value = f"value {key} of s{n}"
            set_secret(installation, LOCAL, target, key, SecretValue(value))
            written[(f"s{n}", key)] = value
    set_secret(installation, LOCAL, account, "SHARED", SecretValue("shared value"))
    return written


def revealed(installation: Installation, account: Target) -> dict[tuple[str, str], str]:
    found = {}
    for n in range(3):
        target = Target(account.account, _stack(installation, account, f"s{n}"))
        for secret in list_secrets(installation, LOCAL, target, reveal=True):
            if not secret.inherited and secret.raw_value is not None:
                found[(f"s{n}", secret.key)] = secret.raw_value.reveal()
    return found


def _stack(installation: Installation, account: Target, name: str):  # type: ignore[no-untyped-def]
    from stacksafe.core.tenancy import find_stack

    return find_stack(installation, name, account.account.uid)


def envelopes(installation: Installation) -> list[bytes]:
    with installation.store.read() as conn:
        return [bytes(e) for e in conn.execute(select(secret_versions.c.envelope)).scalars()]


def test_rotation_rewraps_every_key_and_touches_no_value(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    written = seed(installation, account_target)
    before = envelopes(installation)
    assert key_status(installation).data_keys == {1: 4}

    report = rotate_master_key(installation, LOCAL, settings)

    assert (report.version, report.created, report.rewrapped) == (2, True, 4 + 5)
    status = key_status(installation)
    assert (status.versions, status.data_keys, status.server_keys) == ([1, 2], {2: 4}, {2: 5})
    assert status.remaining == 0
    assert envelopes(installation) == before  # values are not re-encrypted
    assert keyring_from_file(settings.master_key_file).versions == [1, 2]
    assert revealed(installation, account_target) == written
    # A fresh process with the new key file reads everything, audit chain included.
    fresh = open_installation(settings)
    try:
        assert revealed(fresh, account_target) == written
        assert verify_chain(fresh).intact
        assert any(e.action == "key.rotate" for e in list_events(fresh, limit=50))
    finally:
        fresh.close()
    # The next rotation adds version 3.
    assert rotate_master_key(installation, LOCAL, settings).version == 3


def test_a_server_opened_before_the_rotation_keeps_working(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    written = seed(installation, account_target)
    server = open_installation(settings)  # holds only master key version 1
    try:
        rotate_master_key(installation, LOCAL, settings)
        server.data_keys.clear()  # as after a restart of its cache: every key read afresh

        assert revealed(server, account_target) == written
        target = Target(account_target.account, _stack(server, account_target, "s0"))
        set_secret(server, LOCAL, target, "AFTER", SecretValue("written after"))
        assert server.data_keys.keyring.versions == [1, 2]
        found = get_secret(installation, LOCAL, target, "AFTER", reveal=True).raw_value
        assert found == SecretValue("written after")
    finally:
        server.close()


def test_a_server_that_has_not_met_the_new_key_wraps_new_data_keys_under_it(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    seed(installation, account_target)
    server = open_installation(settings)  # holds only master key version 1, its cache warm
    try:
        rotate_master_key(installation, LOCAL, settings)
        assert server.data_keys.keyring.versions == [1]
        # A new stack needs a new data key: the server must not wrap it under version 1,
        # which would leave the finished rotation with work behind it.
        fresh = create_stack(server, LOCAL, "acme", "fresh", "staging")
        set_secret(server, LOCAL, Target(account_target.account, fresh), "K", SecretValue("v"))
        assert server.data_keys.keyring.versions == [1, 2]
        status = key_status(installation)
        assert status.remaining == 0
        assert status.data_keys == {2: 5}
    finally:
        server.close()


def test_reads_and_writes_during_a_rotation_succeed(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    written = seed(installation, account_target)
    server = open_installation(settings)
    stop = threading.Event()
    errors: list[BaseException] = []

    def keep_serving(n: int) -> int:
        done = 0
        target = Target(account_target.account, _stack(server, account_target, f"s{n % 3}"))
        while not stop.is_set() or done < 5:
            try:
                set_secret(server, LOCAL, target, f"LIVE{n}", SecretValue(f"live {done}"))
                value = get_secret(server, LOCAL, target, f"LIVE{n}", reveal=True).raw_value
                assert value == SecretValue(f"live {done}")
                assert revealed(server, account_target).items() >= written.items()
                server.data_keys.clear()
            except BaseException as exc:
                errors.append(exc)
                raise
            done += 1
        return done

    try:
        with ThreadPoolExecutor(3) as pool:
            workers = [pool.submit(keep_serving, n) for n in range(3)]
            rotate_master_key(installation, LOCAL, settings, batch=1)
            stop.set()
            served = [w.result(timeout=120) for w in workers]
    finally:
        server.close()
    assert errors == []
    assert all(n >= 5 for n in served)
    assert key_status(installation).remaining == 0


def test_an_interrupted_rotation_resumes_without_another_version(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    written = seed(installation, account_target)
    calls = []

    def crash_after_first_batch(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate_master_key(installation, LOCAL, settings, progress=crash_after_first_batch, batch=2)
    status = key_status(installation)
    assert status.newest == 2
    assert 0 < status.remaining < 7

    report = rotate_master_key(installation, LOCAL, settings)

    assert (report.version, report.created) == (2, False)
    assert key_status(installation).remaining == 0
    assert revealed(installation, account_target) == written


def test_only_the_owner_rotates_and_an_environment_key_is_refused(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    seed(installation, account_target, stacks=1)
    admin = make_user(installation, "admin@example.com", "acme", "administrator")
    with pytest.raises(Forbidden, match="owner"):
        rotate_master_key(installation, admin, settings)
    text = settings.master_key_file.read_text()
    from_environment = replace(settings, master_key_text=SecretValue(text))
    with pytest.raises(ConfigurationError, match="STACKSAFE_MASTER_KEY"):
        rotate_master_key(installation, LOCAL, from_environment)
    assert key_status(installation).versions == [1]


def test_a_rotation_that_stopped_after_writing_the_key_file_is_completed_by_the_next(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    from stacksafe.crypto import generate_master_key
    from stacksafe.crypto.keyring import replace_key_file

    written = seed(installation, account_target)
    on_file = keyring_from_file(settings.master_key_file)
    replace_key_file(
        settings.master_key_file, [*on_file.master_keys(), generate_master_key(2)]
    )  # as a crash right after step 1 leaves it

    # A server opened now uses only registered versions: new data keys stay readable.
    server = open_installation(settings)
    try:
        assert server.data_keys.keyring.versions == [1]
        fresh = Target(account_target.account, create_stack(server, LOCAL, "acme", "new", "qa"))
        set_secret(server, LOCAL, fresh, "NEW", SecretValue("new value"))
    finally:
        server.close()

    report = rotate_master_key(installation, LOCAL, settings)

    assert (report.version, report.created) == (2, False)
    assert key_status(installation).remaining == 0
    assert revealed(installation, account_target) == written


def test_two_rotations_at_once_are_refused(
    installation: Installation, settings: Settings, account_target: Target
) -> None:
    import fcntl
    import os

    from stacksafe.errors import Conflict

    seed(installation, account_target, stacks=1)
    lock = settings.master_key_file.with_name(settings.master_key_file.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(Conflict, match="another"):
            rotate_master_key(installation, LOCAL, settings)
    finally:
        os.close(fd)
    assert key_status(installation).versions == [1]
    assert keyring_from_file(settings.master_key_file).versions == [1]
