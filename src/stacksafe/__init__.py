"""stacksafe: a self-hosted secrets manager with account → stack inheritance."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
