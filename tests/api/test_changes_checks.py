"""The change streams' token checks (api.change_hub): made by the hub's thread, one per distinct
token and stack when the principals revision moves, however many streams share them, and none
by the streams themselves; a failed check ends its streams within a poll (the heartbeat here is a
minute: an end is the check's, not a heartbeat's), even for a token revoked while its stream was
being opened, after the hub had already seen the revocation's revision.

SQLite only: the database's part (the revisions its triggers keep) runs on both databases in
tests/api/test_changes_stream.py; what is tested here is how often the hub checks."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import update

from stacksafe.api import change_hub, create_app
from stacksafe.api.change_hub import ChangeHub, StreamLimits, Subscription
from stacksafe.api.routes import changes as route
from stacksafe.core.installation import Installation
from stacksafe.core.principals import revoke_token
from stacksafe.core.secrets import set_secret
from stacksafe.core.streams.changes import poll, still_watching
from stacksafe.core.tenancy import Target, create_account, create_stack
from stacksafe.model import SecretValue, Stack
from stacksafe.store.schema import stacks
from tests.actors import LOCAL
from tests.api.helpers import user_with_token
from tests.api.live_app import EventReader, served, stream

pytestmark = pytest.mark.databases("sqlite")

PER_TOKEN = 25
LIMITS = StreamLimits(
    per_token=PER_TOKEN, total=2 * PER_TOKEN + 2, poll_seconds=0.05, heartbeat_seconds=60
)
WITHIN = 5.0
ENDED_WITHIN = 3.0  # twenty times the poll, a twentieth of the heartbeat


@dataclass
class Checks:
    """What the hub checked: the tokens of each wake, with the principals revision it polled;
    and how many checks ran in all, and how many a stream ran itself."""

    wakes: list[tuple[str, list[str]]] = field(default_factory=list)
    calls: int = 0
    by_streams: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def checked_at(self, revision: str) -> bool:
        with self.lock:
            return any(seen == revision for seen, _ in self.wakes)


@dataclass
class Live:
    installation: Installation
    base: str
    hub: ChangeHub
    target: Target
    checks: Checks

    @property
    def web(self) -> Stack:
        assert self.target.stack is not None
        return self.target.stack

    def revision(self) -> str:
        return poll(self.installation, []).principals

    def until_checked(self) -> None:
        """A bounded wait for the hub to have checked its streams at the revision now."""
        revision, deadline = self.revision(), time.monotonic() + WITHIN
        while not self.checks.checked_at(revision):
            assert time.monotonic() < deadline, f"no check at {revision}: {self.checks.wakes}"
            time.sleep(0.02)


@pytest.fixture
def live(installation: Installation, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    account = create_account(installation, LOCAL, "acme")
    web = create_stack(installation, LOCAL, "acme", "web", "production")
    checks = Checks()
    real_check, real_tokens = still_watching, ChangeHub._check_tokens

    def counted(*args: object, **kwargs: object) -> str | None:
        with checks.lock:
            if threading.current_thread().name == "change-watcher":  # the hub's thread
                checks.calls += 1
            else:  # a stream's own check, on a request thread
                checks.by_streams += 1
        return real_check(*args, **kwargs)  # type: ignore[arg-type]

    def wake(hub: ChangeHub, due: dict[tuple[str, str], Subscription], principals: str) -> None:
        real_tokens(hub, due, principals)
        with checks.lock:  # recorded once checked: ``checked_at`` means the verdicts are in
            checks.wakes.append((principals, [token for token, _ in due]))

    monkeypatch.setattr(change_hub, "still_watching", counted)
    monkeypatch.setattr(ChangeHub, "_check_tokens", wake)
    app = create_app(installation, stream_limits=LIMITS)
    with served(app) as base:
        yield Live(installation, base, app.state.change_hub, Target(account, web), checks)


def _ready(live: Live, token: str, streams: contextlib.ExitStack) -> EventReader:
    _, reader = streams.enter_context(stream(live.base, live.web.uid, token))
    assert reader.next().kind == "ready"
    return reader


def _ends(reader: EventReader, says: str) -> None:
    ended = reader.next()
    assert ended.kind == "end", ended
    assert says in ended.data["reason"]


def test_one_check_per_token_per_principals_change_however_many_streams(live: Live) -> None:
    inst = live.installation
    first = user_with_token(inst, "a@acme.test", "acme", "administrator")
    second = user_with_token(inst, "b@acme.test", "acme", "viewer")
    with contextlib.ExitStack() as streams:
        readers = {
            token: [_ready(live, token, streams) for _ in range(PER_TOKEN)]
            for token in (first.token, second.token)
        }
        live.until_checked()
        for n in range(3):  # anyone's token created: the principals revision moves
            user_with_token(inst, f"churn{n}@acme.test", "acme", "viewer")
            live.until_checked()
        with live.checks.lock:
            wakes, calls, by_streams = (
                list(live.checks.wakes),
                live.checks.calls,
                live.checks.by_streams,
            )
        assert len(wakes) >= 4  # the streams' first check, then one at least per change
        for _, tokens in wakes:
            assert len(tokens) <= 2, wakes  # 50 streams, two tokens: two checks at most
            assert len(set(tokens)) == len(tokens)
        assert calls == sum(len(tokens) for _, tokens in wakes)  # nothing else checked
        assert by_streams == 0  # no stream checked its token on a request thread
        assert live.hub.open_streams == 2 * PER_TOKEN  # every check passed: nobody ended

        revoked_at = time.monotonic()
        revoke_token(inst, LOCAL, second.uid)
        for reader in readers[second.token]:
            _ends(reader, "revoked")
        assert time.monotonic() - revoked_at < ENDED_WITHIN
        # The other token's streams go on, and are told of the next change.
        set_secret(inst, LOCAL, live.target, "AFTER", SecretValue("x"))
        for reader in readers[first.token]:
            assert reader.next().kind == "change"


def test_a_token_revoked_while_its_stream_opens_ends_the_stream(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    inst = live.installation
    keeper = user_with_token(inst, "a@acme.test", "acme", "administrator").token
    made = user_with_token(inst, "dev@acme.test", "acme", "developer")
    real_opening = route._opening

    def opening(*args: object) -> object:
        """Checked and read; then, before the stream is counted in, its token is revoked and
        the hub checks (the keeper's stream) at the revocation's revision."""
        opened = real_opening(*args)  # type: ignore[arg-type]
        if args[1].token_uid == made.uid:  # type: ignore[attr-defined]
            revoke_token(inst, LOCAL, made.uid)
            live.until_checked()
        return opened

    with contextlib.ExitStack() as streams:
        # Kept: a reader dropped closes its response (its line iterator's ``finally``).
        kept = _ready(live, keeper, streams)
        live.until_checked()
        monkeypatch.setattr(route, "_opening", opening)
        revoked = _ready(live, made.token, streams)
        _ends(revoked, "revoked")
        deadline = time.monotonic() + WITHIN
        while live.hub.open_streams > 1:  # a bounded wait for the ended one to be counted out
            assert time.monotonic() < deadline, live.hub
            time.sleep(0.02)
        assert live.hub.open_streams == 1  # the keeper's goes on, and is told of a change
        set_secret(inst, LOCAL, live.target, "AFTER", SecretValue("x"))
        assert kept.next().kind == "change"


def test_a_stack_moved_out_of_a_tokens_environments_ends_its_stream(live: Live) -> None:
    narrowed = user_with_token(
        live.installation, "n@acme.test", "acme", "viewer", environments=["production"]
    )
    with contextlib.ExitStack() as streams:
        reader = _ready(live, narrowed.token, streams)
        live.until_checked()
        # Plain SQL (no command moves a stack): the principals revision does not move.
        with live.installation.store.write() as conn:
            conn.execute(update(stacks).where(stacks.c.id == live.web.id).values(environment="qa"))
        _ends(reader, "environment")
