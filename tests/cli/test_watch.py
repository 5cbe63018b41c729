"""The watcher of `run --watch` / `materialize --watch` (cli/watch.py) in remote mode, against the
real app served by uvicorn on a thread: a pushed change is acted on at once whatever the
interval; a server without the stream (an older one) and a stream that is down are polled every
interval; a spurious event changes nothing. SQLite only: the watcher is what is tested."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi import FastAPI

from stacksafe.api import create_app
from stacksafe.api.change_hub import StreamLimits
from stacksafe.api.routes import changes
from stacksafe.cli.remote_backend import RemoteSecrets
from stacksafe.cli.watch import Watcher, _say
from stacksafe.client import Client
from stacksafe.core.installation import Installation
from stacksafe.core.secrets import set_secret
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue
from tests.actors import LOCAL
from tests.api.helpers import user_with_token
from tests.api.live_app import served

pytestmark = pytest.mark.databases("sqlite")

LIMITS = StreamLimits(poll_seconds=0.05, heartbeat_seconds=0.5)
# Bounds on waits for a condition, never on how fast it came: what a test tells apart is
# whether the watcher is pushed to or polls (``watcher.pushing``), not the time it took. Loose,
# so a loaded CI machine (load 18 made 5 s too short for a poll) fails only what is broken.
PUSHED_WITHIN = 30.0
POLLED_WITHIN = 30.0


@dataclass
class Site:
    installation: Installation
    web: Target
    token: str

    @property
    def uid(self) -> str:
        assert self.web.stack is not None
        return self.web.stack.uid

    def set(self, key: str, value: str) -> None:
        set_secret(self.installation, LOCAL, self.web, key, SecretValue(value))


@pytest.fixture
def site(installation: Installation) -> Site:
    account = create_account(installation, LOCAL, "acme")
    web = create_stack(installation, LOCAL, "acme", "web", "production")
    token = user_with_token(installation, "dev@acme.test", "acme", "developer").token
    site = Site(installation, Target(account, web), token)
    site.set("KEY", "v1")
    return site


class Waiting:
    """``wait_for_change`` on a thread; ``changed`` is set when it returns True."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher, self.changed = watcher, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        if self.watcher.wait_for_change():
            self.changed.set()


@contextmanager
def _watching(base: str, site: Site, interval: float) -> Iterator[Watcher]:
    with Client(base, site.token) as client:
        watcher = Watcher(RemoteSecrets(client, site.uid, None, "stack 'web'"), interval)
        try:
            yield watcher
        finally:
            watcher.stop()


def _until(condition: Callable[[], bool], within: float, what: str) -> None:
    start = time.monotonic()
    while time.monotonic() - start < within:  # a bounded wait for a condition
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {within} s: {what}")


def _without_the_stream(app: FastAPI) -> FastAPI:
    """``app`` as a server from before the change stream answers: no such route."""
    kept = [r for r in app.router.routes if r not in changes.router.routes]
    assert len(kept) < len(app.router.routes)  # the stream's route was there, and is gone
    app.router.routes = kept
    return app


def test_a_pushed_change_is_seen_at_once_whatever_the_interval(site: Site) -> None:
    app = create_app(site.installation, stream_limits=LIMITS)
    with served(app) as base, _watching(base, site, interval=60) as watcher:
        _until(lambda: watcher.pushing, PUSHED_WITHIN, "the stream connected")
        waiting = Waiting(watcher)
        # Nothing changed yet: the first event (ready) was compared and restarted nothing.
        assert not waiting.changed.wait(0.3)
        site.set("KEY", "v2")
        _until(waiting.changed.is_set, PUSHED_WITHIN, "the change was seen")
        watcher.stop()  # ends the stream's read under way, from this thread
        # Nothing of the stream is left open on the server.
        hub = app.state.change_hub
        _until(lambda: hub.open_streams == 0, POLLED_WITHIN, "the stream closed")


def test_a_server_without_the_stream_is_polled(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    app = _without_the_stream(create_app(site.installation, stream_limits=LIMITS))
    with served(app) as base, _watching(base, site, interval=0.2) as watcher:
        _until(
            lambda: "no push from the server" in capsys.readouterr().err,
            POLLED_WITHIN,
            "the fallback was said",
        )
        waiting = Waiting(watcher)
        site.set("KEY", "v2")
        _until(waiting.changed.is_set, POLLED_WITHIN, "the change was polled")
        assert not watcher.pushing


def test_while_the_stream_is_down_the_watcher_polls(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(site.installation, stream_limits=LIMITS)
    with served(app) as base, _watching(base, site, interval=0.2) as watcher:
        _until(lambda: watcher.pushing, PUSHED_WITHIN, "the stream connected")
        # The server ends its streams and takes no new ones (as when it stops; the API
        # keeps answering here).
        app.state.change_hub.close()
        _until(lambda: not watcher.pushing, PUSHED_WITHIN, "the stream was lost")
        waiting = Waiting(watcher)
        site.set("KEY", "v2")
        _until(waiting.changed.is_set, POLLED_WITHIN, "the change was polled")
        assert "polling every 0.2 s until the server pushes again" in capsys.readouterr().err


def test_what_the_watcher_says_has_its_control_characters_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An ``end`` reason or an error's description is the server's (or a proxy's) text.
    _say("the server ended the stream: \x1b[2J\x1b[Hok\r\nstacksafe: forged\u202e; polling")
    said = capsys.readouterr().err
    assert said == (
        "stacksafe: watching: the server ended the stream: "
        "\\x1b[2J\\x1b[Hok\\r\\nstacksafe: forged\\u202e; polling\n"
    )
