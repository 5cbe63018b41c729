"""The hottest read, answered without the framework's routing and dependency machinery.

``GET /api/3/stacks/{uid}/secrets`` (and ``/accounts/{id}/secrets``) is what every deploy and
every ``stacksafe run`` asks for. Through FastAPI it pays route matching over every route,
dependency solving, and two hops to the thread pool (the token check, then the endpoint): about
0.6 ms of CPU per request on the benchmark machine, more than the work itself once the values
are kept (core.opened). This middleware answers exactly that request, when its query is plainly
valid, with the same functions the route uses (``deps.authenticated``, the route's resolver,
``routes.secrets.secrets_page_audited``, ``errors.error_response``) in one hop to the thread
pool; a reveal then awaits its audit event on the event loop, not in a thread (nothing is sent
before the event is durable).
Anything else, including any query it does not read exactly as the route would (an unknown or
repeated parameter, a value out of range), goes on to FastAPI unchanged, so the route stays the
one definition of the endpoint: its validation errors, its OpenAPI document.
``tests/api/test_lane.py`` sends the same requests both ways and compares the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from urllib.parse import parse_qsl

from anyio import to_thread
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from stacksafe.api.deps import ApiState, authenticated, authenticated_with
from stacksafe.api.errors import STATUS_BY_CODE, error_response
from stacksafe.api.routes.secrets import RESOLVERS, SecretsPage, secrets_page_audited
from stacksafe.core.principals import authenticate_for_stack
from stacksafe.core.secrets import Audited
from stacksafe.errors import StacksafeError

__all__ = ["SecretsLane", "read_query"]

_PATH = re.compile(r"/api/3/(stacks|accounts)/([^/]+)/secrets")
_BOOLS = {"true": True, "1": True, "false": False, "0": False}
_PRINTABLE = re.compile(r"[\x20-\x7e]{0,200}")
_DIGITS = re.compile(r"[1-9][0-9]{0,6}")
_MAX_PAGE = 1_000_000
_MAX_PER_PAGE = 1000


def read_query(query_string: bytes) -> SecretsPage | None:
    """The list query, when every parameter is one the route reads, given once, and plainly
    valid; else None (the route decides, and words any error)."""
    try:
        pairs = parse_qsl(
            query_string.decode("ascii"), keep_blank_values=True, strict_parsing=False
        )
    except UnicodeDecodeError:
        return None
    given = dict(pairs)
    if len(given) != len(pairs):
        return None
    flags: dict[str, bool] = {}
    numbers: dict[str, int] = {}
    for name, text in given.items():
        if name in ("reveal", "resolve"):
            flag = _BOOLS.get(text.lower())
            if flag is None:
                return None
            flags[name] = flag
        elif name in ("page", "per_page"):
            if not _DIGITS.fullmatch(text):
                return None
            numbers[name] = int(text)
            if numbers[name] > (_MAX_PAGE if name == "page" else _MAX_PER_PAGE):
                return None
        elif name != "purpose" or not _PRINTABLE.fullmatch(text):
            return None
    default = SecretsPage()
    return SecretsPage(
        reveal=flags.get("reveal", default.reveal),
        page=numbers.get("page", default.page),
        per_page=numbers.get("per_page", default.per_page),
        resolve=flags.get("resolve", default.resolve),
        purpose=given.get("purpose", default.purpose),
    )


class SecretsLane:
    """Answers plainly valid secret lists itself; everything else goes on to ``app``."""

    def __init__(self, app: ASGIApp, state: ApiState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        path = _PATH.fullmatch(scope["path"])
        query = None if path is None else read_query(scope["query_string"])
        if path is None or query is None:
            await self.app(scope, receive, send)
            return
        level, ref = path.group(1), path.group(2)
        # The first, as Starlette's request.headers.get gives it (a second one, appended by a
        # proxy, must not change who is asking).
        authorization = next(
            (value for name, value in scope["headers"] if name == b"authorization"), b""
        ).decode("latin-1")
        client = scope.get("client")
        source_ip = client[0] if client else None
        request_id = str(scope.get("state", {}).get("request_id", ""))

        def answer() -> tuple[Audited[bytes], dict[str, str]] | Response:
            try:
                if level == "stacks":
                    # The token and the stack from one read (the route makes two).
                    actor, stack_target, limits = authenticated_with(
                        self.state,
                        authorization,
                        source_ip,
                        request_id,
                        lambda token, rid: authenticate_for_stack(
                            self.state.vault, token, ref, source_ip=source_ip, request_id=rid
                        ),
                    )
                    target = stack_target()
                else:
                    actor, limits = authenticated(self.state, authorization, source_ip, request_id)
                    target = RESOLVERS[level](self.state.vault, actor, ref)
                return secrets_page_audited(self.state.vault, actor, target, query), limits
            except StacksafeError as exc:
                return _error(exc)

        answered = await to_thread.run_sync(answer)
        if isinstance(answered, Response):
            await answered(scope, receive, send)
            return
        audited, limits = answered
        if audited.durable is not None:
            # The thread is free for other requests meanwhile, and more reveals share each
            # audit commit (store.CommitGroup.submit_later).
            # Shielded: a cancelled request must not cancel the event's future (it is written
            # anyway, and its group must still learn the outcome).
            with contextlib.suppress(Exception):  # result() words the failure
                await asyncio.shield(asyncio.wrap_future(audited.durable))
        try:
            response: Response = Response(
                audited.result(), media_type="application/json", headers=limits
            )
        except StacksafeError as exc:
            response = _error(exc)
        await response(scope, receive, send)


def _error(exc: StacksafeError) -> Response:
    return error_response(STATUS_BY_CODE.get(exc.code, 400), exc.code, exc.message)
