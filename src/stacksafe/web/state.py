"""What the UI's requests share: the vault, the session policy, templates, sign-in throttling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from stacksafe.api.ratelimit import SlidingWindow
from stacksafe.core.sessions import SessionPolicy
from stacksafe.core.vault import Vault

__all__ = ["HERE", "WebState", "web_state"]

HERE = Path(__file__).parent


@dataclass
class WebState:
    vault: Vault
    policy: SessionPolicy
    templates: Jinja2Templates
    failed_sign_ins: SlidingWindow  # by source address
    reveal_seconds: int = 20  # a revealed value is masked again after this long


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
