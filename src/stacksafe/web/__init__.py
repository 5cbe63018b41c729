"""The web UI: server-rendered pages over the same core functions as the API."""

from __future__ import annotations

from stacksafe.web.app import install_web

__all__ = ["install_web"]
