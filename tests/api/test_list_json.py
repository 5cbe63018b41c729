"""The list endpoints serialise their body directly (``secrets_page_json``), not through the
response model: the bytes must stay exactly those pydantic would send for ``SecretListEnvelope``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stacksafe.api.convert import page_of, secret_out, secrets_page_json
from stacksafe.api.schemas import SecretListEnvelope, SecretMetaOut
from stacksafe.core.secrets import list_secrets
from stacksafe.model import Secret, SecretValue
from tests.actors import LOCAL
from tests.api.helpers import World, set_local

AWKWARD = [
    "plain",
    "nul \x00 (model level only: values refuse it)",
    "",
    'quote " and backslash \\ and slash /',
    "controls \x01\x08\t\n\x0b\x0c\r\x1f\x7f end",
    "unicode é ß 漢字 \u2028 \u2029 \ufeff emoji 🔐",
    "x" * 5000,
]


def _model_json(items: list[Secret], page: int, per_page: int) -> bytes:
    shown, pagination = page_of(items, page, per_page)
    return (
        SecretListEnvelope(
            response=[secret_out(s) for s in shown],
            count=pagination.count,
            pagination=pagination,
            meta={
                s.key: SecretMetaOut(
                    version=s.version,
                    overrides=s.overrides,
                    environments=None if s.environments is None else list(s.environments),
                )
                for s in shown
            },
        )
        .model_dump_json()
        .encode()
    )


@pytest.mark.parametrize(("page", "per_page"), [(1, 1000), (1, 2), (2, 2), (9, 2)])
def test_page_json_is_the_models_json(page: int, per_page: int) -> None:
    moment = datetime(2024, 1, 15, 10, 30, 7, 123456, tzinfo=UTC)
    items = [
        Secret(
            f"KEY_{i}",
            f"encrypted:AES256:{i}",
            i % 2 == 0,
            i + 1,
            moment,
            moment,
            raw,
            i % 3 == 1,
            ("production", "qa") if i % 2 == 0 else None,
        )
        for i, raw in enumerate([*(SecretValue(text) for text in AWKWARD), None])
    ]
    shown, pagination = page_of(items, page, per_page)
    assert secrets_page_json(shown, pagination) == _model_json(items, page, per_page)


@pytest.mark.parametrize("reveal", [True, False])
def test_list_response_is_byte_identical_to_the_model(world: World, reveal: bool) -> None:
    set_local(world.installation, world.account_target, {"A": AWKWARD[3], "B": AWKWARD[4]})
    set_local(world.installation, world.stack_target, {"B": AWKWARD[5], "C": AWKWARD[0]})
    params = {"reveal": str(reveal).lower(), "per_page": "2", "page": "2"}

    response = world.client.get(world.stack_url(), params=params)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-ratelimit-remaining" in response.headers
    expected = list_secrets(world.installation, LOCAL, world.stack_target, reveal=reveal)
    assert response.content == _model_json(expected, 2, 2)
