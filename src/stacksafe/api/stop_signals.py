"""Being told that the serving process stops, before uvicorn waits for the responses in flight.

On SIGTERM or Ctrl-C uvicorn stops accepting, then waits for every open response to finish (up
to `serve --shutdown-timeout`) and only then runs the app's lifespan shutdown. A response that
never ends by itself (a change stream, api.routes.changes) would hold the stop for the whole
timeout, so the app hears the signal itself: its handler is put in front of uvicorn's, which it
then calls, so uvicorn stops exactly as it would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["STOP_SIGNALS", "on_stop_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


def on_stop_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on the running event loop when a stop signal arrives, then the handler
    that was there before; returns what puts the previous handlers back. Signals are only
    handled on the main thread: elsewhere (an app served by a test's thread) nothing is done."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Handler] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing left to end
            loop.call_soon_threadsafe(callback)
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
            return
        # The default (or ignoring it) was there: put it back and let it act.
        signal.signal(signum, before if before is not None else signal.SIG_DFL)
        signal.raise_signal(signum)

    for signum in STOP_SIGNALS:
        previous[signum] = signal.signal(signum, handler)

    def undo() -> None:
        for signum, before in previous.items():
            if signal.getsignal(signum) is handler:
                signal.signal(signum, before if before is not None else signal.SIG_DFL)

    return undo
