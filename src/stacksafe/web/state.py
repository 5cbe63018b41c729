"""What the UI's requests share: the installation, the session policy, templates, sign-ins."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from fastapi.templating import Jinja2Templates

from stacksafe.core.installation import Installation
from stacksafe.core.password_pool import PasswordPool
from stacksafe.core.sessions import FormRefusals, SessionPolicy
from stacksafe.core.sign_in import SignIns
from stacksafe.errors import InvalidInput

__all__ = ["HERE", "WebState", "check_web_origin", "web_state"]

HERE = Path(__file__).parent
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


def check_web_origin(text: str) -> str:
    """``STACKSAFE_WEB_ORIGIN``: a scheme, a host and an optional port, nothing else."""
    if not _ORIGIN.fullmatch(text):
        raise InvalidInput(
            "STACKSAFE_WEB_ORIGIN must be the origin browsers use, like "
            "https://secrets.example.com or https://10.0.0.5:8443 (no path, no trailing slash)"
        )
    return text


@dataclass
class WebState:
    installation: Installation
    policy: SessionPolicy
    templates: Jinja2Templates
    sign_ins: SignIns  # their failures counted in the database, by email
    form_refusals: FormRefusals  # refused forms, recorded in bounded events
    passwords: PasswordPool  # where sign-ins' password checks run: bounded, off the API's threads
    origin: str | None = None  # the public origin, when a proxy terminates TLS
    reveal_seconds: int = 20  # a revealed value is masked again after this long


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
