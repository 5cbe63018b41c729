"""The HTTP API (Cloud66 v3 conventions, prefix /api/3): a thin face over ``stacksafe.core``."""

from __future__ import annotations

from stacksafe.api.app import create_app as create_app

__all__ = ["create_app"]
