"""Response bodies of secret lists, kept per level revision: a page is rendered once.

Most reads of a stack find exactly what the last one found (core.read_cache keeps the level as
opened); rendering its JSON again each time would cost more than the read. When core.reveal
says the secrets are a whole kept level (``Revealed.snapshot``: the level and its revision),
the body rendered for a query is kept under that snapshot and the query, and given again until
the level changes (a new revision is a new key; old ones age out). Bounded in bytes, least
recently used out first; a revealed page holds plaintext, as the read cache does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

from stacksafe.core.reveal import Revealed
from stacksafe.model import Secret

__all__ = ["RenderedPages"]


class RenderedPages:
    """Rendered bodies by (snapshot, what else the rendering depends on); thread-safe."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def body(
        self,
        revealed: Revealed,
        shape: Hashable,
        render: Callable[[Sequence[Secret]], bytes],
    ) -> bytes:
        """``render(revealed.secrets)``, made once per snapshot and ``shape`` (the query's
        parts that change the body) while kept. Sends nothing: the caller still waits for
        the receipt."""
        if revealed.snapshot is None or self.max_bytes <= 0:
            return render(revealed.secrets)
        key = (revealed.snapshot, shape)
        with self._lock:
            found = self._bodies.get(key)
            if found is not None:
                self._bodies.move_to_end(key)
                return found
        made = render(revealed.secrets)  # outside the lock: a lost race renders twice
        with self._lock:
            previous = self._bodies.pop(key, None)
            if previous is not None:
                self._bytes -= len(previous)
            if len(made) <= self.max_bytes:
                self._bodies[key] = made
                self._bytes += len(made)
                while self._bytes > self.max_bytes:
                    _, dropped = self._bodies.popitem(last=False)
                    self._bytes -= len(dropped)
        return made

    @property
    def kept_bytes(self) -> int:
        with self._lock:
            return self._bytes
