"""The SDK's change stream (``Client.stack_changes``) against the real app, served by uvicorn on a
thread: the typed notes, a reconnection told what it missed while the server was away, the
refusals that waiting cannot mend raised as the server said them, and ``close`` from another
thread. SQLite only: the client's side is what is tested (the database's part runs on both in
tests/api/test_changes_stream.py)."""

from __future__ import annotations

import queue
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from stacksafe.api import create_app
from stacksafe.api.change_hub import StreamLimits
from stacksafe.client import ChangeNote, ChangeStream, Client, StackChange, StreamInterrupted
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.errors import NotFound, Unauthenticated
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.helpers import user_with_token
from tests.api.live_app import served

pytestmark = pytest.mark.databases("sqlite")

LIMITS = StreamLimits(poll_seconds=0.05, heartbeat_seconds=0.5)
WITHIN = 10.0


@dataclass
class Site:
    installation: Installation
    web: Target
    token: str
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set(self, key: str, value: str) -> None:
        set_secret(self.installation, LOCAL, self.web, key, SecretValue(value))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def site(installation: Installation) -> Site:
    account = create_account(installation, LOCAL, "acme")
    web = create_stack(installation, LOCAL, "acme", "web", "production")
    token = user_with_token(installation, "dev@acme.test", "acme", "developer").token
    return Site(installation, Target(account, web), token, _free_port())


class Consumer:
    """A stream iterated on a thread of its own, its notes (or what it raised) queued."""

    def __init__(self, stream: ChangeStream) -> None:
        self.stream = stream
        self.notes: queue.Queue[ChangeNote | Exception] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for note in self.stream:
                self.notes.put(note)
        except Exception as exc:  # handed to the test
            self.notes.put(exc)

    def next_change(self) -> StackChange:
        """The next ``StackChange`` (interruptions in between are skipped)."""
        while True:
            note = self.notes.get(timeout=WITHIN)
            assert not isinstance(note, Exception), note
            if isinstance(note, StackChange):
                return note

    def next_note(self) -> ChangeNote:
        note = self.notes.get(timeout=WITHIN)
        assert not isinstance(note, Exception), note
        return note


@pytest.fixture
def consumer(site: Site) -> Iterator[Consumer]:
    client = Client(site.base, site.token)
    stream = client.stack_changes(site.web.stack.uid if site.web.stack else "", max_backoff=1.0)
    made = Consumer(stream)
    try:
        yield made
    finally:
        stream.close()
        made.thread.join(WITHIN)
        client.close()
        assert not made.thread.is_alive(), "close() did not end the iteration"


def test_notes_are_typed_and_a_reconnection_is_told_what_it_missed(
    site: Site, consumer: Consumer
) -> None:
    uid = site.web.stack.uid if site.web.stack else ""
    with served(create_app(site.installation, stream_limits=LIMITS), site.port):
        ready = consumer.next_change()
        assert (ready.kind, ready.stack) == ("ready", uid)
        site.set("FIRST", "1")
        changed = consumer.next_change()
        assert changed.kind == "change"
        assert changed.signature != ready.signature
        assert consumer.stream.last_event_id == changed.signature
    # The server stopped: its streams ended with a reason, and the SDK says it reconnects.
    gone = consumer.next_note()
    assert isinstance(gone, StreamInterrupted)
    assert "stopping" in gone.problem
    assert 0 < gone.retry_in <= 1.0
    site.set("WHILE_AWAY", "x")
    with served(create_app(site.installation, stream_limits=LIMITS), site.port):
        missed = consumer.next_change()
        assert missed.kind == "change"
        assert missed.signature != changed.signature
        # Connected again, nothing more missed: the next reconnection starts with ``ready``.
    with served(create_app(site.installation, stream_limits=LIMITS), site.port):
        again = consumer.next_change()
        assert (again.kind, again.signature) == ("ready", missed.signature)


def test_what_waiting_cannot_mend_is_raised(site: Site) -> None:
    uid = site.web.stack.uid if site.web.stack else ""
    with served(create_app(site.installation, stream_limits=LIMITS), site.port) as base:
        with Client(base, site.token) as client, pytest.raises(NotFound, match="does not exist"):
            next(iter(client.stack_changes("no-such-stack")))
        with Client(base, "sk_not_a_token") as bad, pytest.raises(Unauthenticated):
            next(iter(bad.stack_changes(uid)))
