"""stacksafe: a self-hosted secrets manager with account → stack inheritance.

The SDK is ``stacksafe.Client`` (``stacksafe.client``), imported on first use so that
``import stacksafe`` (and every command line that does not talk HTTP) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stacksafe.client import Client

__all__ = ["Client", "__version__"]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    if name == "Client":
        from stacksafe.client import Client

        return Client
    raise AttributeError(f"module 'stacksafe' has no attribute {name!r}")
