"""Two `stacksafe serve` processes on one database, as behind a load balancer.

Each server keeps the values it opened (core/read_cache.py). What one server writes, the other must
serve on its very next request, because it checks the level's revision in the database: no
messages between servers, no time-to-live. Concurrent compare-and-set writes through both lose
nothing, and the audit chain both append to stays intact. The module's tests share the two
servers (``served_pair``), each on an account of its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from stacksafe.client import Client
from stacksafe.errors import Conflict, PreconditionFailed
from tests.e2e.conftest import ServedPair, ServerProcess, TlsFiles, new_account

INCREMENTS = 25  # compare-and-set increments per server
ROUNDS = 12  # write-on-one, read-on-the-other rounds


@pytest.fixture(scope="module")
def pair_measured() -> bool:
    return False  # two servers under concurrent writes (see start_serve): untraced


def _client(server: ServerProcess, token: str, tls: TlsFiles) -> Client:
    return Client(server.address, token, ca_bundle=str(tls.ca), timeout=30)


def test_a_write_on_one_server_is_served_by_the_other_at_once(
    served_pair: ServedPair, tls: TlsFiles
) -> None:
    first, second, token = served_pair.first, served_pair.second, served_pair.token
    web = new_account(served_pair.local, "written-read")
    with _client(first, token, tls) as a, _client(second, token, tls) as b:
        a.set_secret("SHARED", "v0", account="written-read")
        for n in range(ROUNDS):
            writer, reader = (a, b) if n % 2 == 0 else (b, a)
            # The reader has the level kept from its previous reveal...
            before = reader.reveal(stack=web)
            writer.set_secret("KEY", f"value {n}", stack=web)
            writer.set_secret("SHARED", f"shared {n}", account="written-read")
            # ...and still serves the new values on its very next request.
            after = reader.reveal(stack=web)
            assert {k: v.reveal() for k, v in after.items()} == {
                "KEY": f"value {n}",
                "SHARED": f"shared {n}",
            }
            assert before != after
        a.delete_secret("KEY", stack=web)
        assert "KEY" not in b.reveal(stack=web)


def test_concurrent_compare_and_set_through_both_servers_loses_nothing(
    served_pair: ServedPair, tls: TlsFiles
) -> None:
    first, second, token = served_pair.first, served_pair.second, served_pair.token
    web = new_account(served_pair.local, "compare-and-set")
    with _client(first, token, tls) as a:
        a.set_secret("COUNTER", "0", stack=web)

    def increment(server: ServerProcess) -> int:
        """INCREMENTS increments, each read, then written only if nobody wrote meanwhile."""
        done = 0
        with _client(server, token, tls) as client:
            while done < INCREMENTS:
                current = client.get_secret("COUNTER", stack=web, reveal=True)
                assert current.raw_value is not None
                try:
                    client.set_secret(
                        "COUNTER",
                        str(int(current.raw_value.reveal()) + 1),
                        stack=web,
                        if_version=current.version,
                    )
                except (Conflict, PreconditionFailed):
                    continue  # the other server won this round: read again
                done += 1
                # A whole-stack reveal between writes, through the same server's kept values.
                assert "COUNTER" in client.reveal(stack=web)
        return done

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(increment, [first, second, first, second]))
    assert counts == [INCREMENTS] * 4
    for server in (first, second):
        with _client(server, token, tls) as client:
            final = client.get_secret("COUNTER", stack=web, reveal=True)
            assert final.raw_value is not None
            assert int(final.raw_value.reveal()) == 4 * INCREMENTS
            assert final.version == 4 * INCREMENTS + 1
