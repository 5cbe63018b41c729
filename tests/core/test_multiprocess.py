"""Two real processes incrementing one counter secret with compare-and-set writes: no update is
lost and no version number is used twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from sqlalchemy import select

from stacksafe.core.installation import Installation
from stacksafe.core.secrets import get_secret, set_secret
from stacksafe.core.tenancy import Target
from stacksafe.model import SecretValue
from stacksafe.settings import Settings
from stacksafe.store.schema import secret_versions
from tests.actors import LOCAL

PROCESSES = 2
INCREMENTS = 25

WORKER = textwrap.dedent(
    """
    import sys
    from stacksafe.core.access import Principal
    from stacksafe.core.secrets import get_secret, set_secret
    from stacksafe.core.tenancy import resolve_target
    from stacksafe.core.installation import open_installation
    from stacksafe.errors import PreconditionFailed
    from stacksafe.model import SecretValue
    from stacksafe.settings import Settings

    installation = open_installation(Settings.load())
    actor = Principal.local("worker")
    target = resolve_target(installation, account="acme", stack="web")
    print("ready", flush=True)
    sys.stdin.readline()  # start together with the other worker
    conflicts = 0
    for _ in range(int(sys.argv[1])):
        while True:
            current = get_secret(installation, actor, target, "COUNTER", reveal=True)
            bumped = SecretValue(str(int(current.raw_value.reveal()) + 1))
            try:
                set_secret(installation, actor, target, "COUNTER", bumped,
                           expected_version=current.version)
                break
            except PreconditionFailed:
                conflicts += 1
    installation.close()
    print(conflicts)
    """
)


def test_two_processes_incrementing_one_key_lose_no_update(
    installation: Installation, settings: Settings, stack_target: Target
) -> None:
    set_secret(installation, LOCAL, stack_target, "COUNTER", SecretValue("0"))
    env = {
        **os.environ,
        "STACKSAFE_DATA_DIR": str(settings.data_dir),
        "STACKSAFE_DATABASE_URL": settings.database_url,
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(INCREMENTS)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline() == "ready\n"
    for worker in workers:  # both released before either is waited for
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    conflicts = 0
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        conflicts += int(out)

    final = get_secret(installation, LOCAL, stack_target, "COUNTER", reveal=True)
    assert final.raw_value is not None
    assert final.raw_value.reveal() == str(PROCESSES * INCREMENTS), f"{conflicts} conflicts"
    assert final.version == PROCESSES * INCREMENTS + 1
    with installation.store.read() as conn:
        numbers = sorted(conn.execute(select(secret_versions.c.version)).scalars())
    assert numbers == list(range(1, PROCESSES * INCREMENTS + 2))
