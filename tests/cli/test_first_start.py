"""A database without users (made before users existed) gets its owner on the first serve."""

from __future__ import annotations

import pytest

from stacksafe.cli.serve_cmd import FIRST_OWNER, _first_start
from stacksafe.core.installation import initialise, open_installation
from stacksafe.core.principals import authenticate, has_users
from stacksafe.settings import Settings


def test_first_start_creates_the_owner_once_and_prints_a_working_token(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    installation, _ = initialise(settings)
    assert not has_users(installation)
    installation.close()

    _first_start(settings)
    printed = capsys.readouterr().out
    assert FIRST_OWNER in printed
    token = printed.strip().splitlines()[-1].strip()
    installation = open_installation(settings)
    try:
        assert authenticate(installation, token).is_owner
    finally:
        installation.close()

    _first_start(settings)
    assert capsys.readouterr().out == ""
