"""The SDK's rules of the wire (client/wire.py), which the httpx transport and `run`'s light
reader share: addresses, error answers, failed connections, pages."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from stacksafe.client.fields import MalformedResponse
from stacksafe.client.wire import (
    PER_PAGE,
    api_base,
    bearer_header,
    error_of,
    paged,
    parsed_json,
    trusting,
    unreachable,
)
from stacksafe.errors import (
    ConfigurationError,
    InvalidInput,
    NotFound,
    ServerUnreachable,
    StacksafeError,
    Throttled,
    Unauthenticated,
)


def test_addresses() -> None:
    assert api_base("https://secrets.example.com:8200/") == "https://secrets.example.com:8200/api/3"
    assert api_base("http://127.0.0.1:8200") == "http://127.0.0.1:8200/api/3"
    assert api_base("http://[::1]:8200") == "http://[::1]:8200/api/3"
    with pytest.raises(ConfigurationError, match=r"refusing plain HTTP to 10\.0\.0\.5"):
        api_base("http://10.0.0.5:8200")
    with pytest.raises(ConfigurationError, match="must be https://HOST"):
        api_base("ftp://secrets.example.com")


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


def test_error_answers_become_the_servers_classes() -> None:
    answer = _body({"error": "not_found", "error_description": "stack 'x' does not exist"})
    found = error_of(404, lambda: json.loads(answer), "")
    assert type(found) is NotFound
    assert found.message == "stack 'x' does not exist"
    # No body the API documents: the status decides, and says so.
    bare = error_of(401, lambda: json.loads(b"<html>"), "")
    assert type(bare) is Unauthenticated
    assert bare.message == "the server answered HTTP 401"
    # JSON that is not an object (a proxy's) is no error code either.
    listed = error_of(502, lambda: json.loads(_body(["x"])), "")
    assert type(listed) is StacksafeError
    assert listed.message == "the server answered HTTP 502"


def test_a_throttled_answer_keeps_the_wait_asked_for() -> None:
    answer = _body({"error": "throttled", "error_description": "slow down"})
    said = error_of(429, lambda: json.loads(answer), " 7 ")
    assert isinstance(said, Throttled)
    assert said.retry_after == 7
    for odd in ("", "²", "1" * 10, "soon"):
        unsaid = error_of(429, lambda: json.loads(answer), odd)
        assert isinstance(unsaid, Throttled)
        assert unsaid.retry_after is None


def test_not_json_is_malformed() -> None:
    assert parsed_json(lambda: json.loads(b'{"a": 1}')) == {"a": 1}
    with pytest.raises(MalformedResponse, match="the body: not JSON"):
        parsed_json(lambda: json.loads(b"<html>"))


def test_a_failed_connection_says_why() -> None:
    refused = unreachable("https://h:1/api/3", ConnectionRefusedError())
    assert isinstance(refused, ServerUnreachable)
    assert refused.message == (
        "cannot reach the stacksafe server at https://h:1/api/3: ConnectionRefusedError"
    )
    # A certificate that failed verification, however deep in the causes.
    failed = ssl.SSLCertVerificationError("verify failed")
    failed.verify_message = "self-signed certificate"
    try:
        try:
            raise failed
        except ssl.SSLError as exc:
            raise OSError("wrapped") from exc
    except OSError as outer:
        said = unreachable("https://h:1/api/3", outer).message
    assert "presented a certificate that failed verification (self-signed certificate)" in said
    assert "STACKSAFE_CA_BUNDLE" in said
    assert "cannot reach" not in said


def test_a_ca_bundle_that_cannot_be_used_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        trusting(str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigurationError, match="is a directory"):
        trusting(str(tmp_path))
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match="holds no PEM certificate"):
        trusting(str(empty))


def test_pages_are_followed_until_the_last() -> None:
    asked: list[dict[str, object]] = []

    def get(query: dict[str, object]) -> object:
        asked.append(query)
        page = query["page"]
        following = {1: 3, 3: None}[page]  # type: ignore[index]
        return {"response": [page], "pagination": {"next": following}}

    pages = [body.raw("response") for body in paged(get, {"filter_name": "web"})]
    assert pages == [[1], [3]]
    assert asked == [
        {"filter_name": "web", "page": 1, "per_page": PER_PAGE},
        {"filter_name": "web", "page": 3, "per_page": PER_PAGE},
    ]


@pytest.mark.parametrize("token", ["ssk_ab\ncd", "ssk_ab cd", "ssk_abé", "ssk_ab\r", ""])
def test_a_token_no_header_can_carry_is_refused_in_one_line_without_showing_it(token: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        bearer_header(token)
    message = refused.value.message
    assert "\n" not in message
    assert "STACKSAFE_TOKEN" in message
    assert "ssk_ab" not in message


def test_a_token_is_sent_as_it_is() -> None:
    assert bearer_header("ssk_AZaz09-_.~+/=") == "Bearer ssk_AZaz09-_.~+/="
