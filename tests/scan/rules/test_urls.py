"""Credentials in URLs, Authorization headers and client files (rules/urls.py)."""

from __future__ import annotations

import base64

import pytest

from tests.scan.rules.helpers import fake, found

PW = "p4Dsr8bQx2"
LOGIN = base64.b64encode(f"deploy:{PW}".encode()).decode()


@pytest.mark.parametrize(
    ("line", "rule", "secret"),
    [
        (f"url: mongodb://app:{PW}@127.0.0.1:27017/db", "basic-auth-credentials", PW),
        (f'REDIS_URL="redis://:{PW}@cache:6379/0"', "basic-auth-credentials", PW),
        (f"postgresql://user:{PW}@db.internal/app", "basic-auth-credentials", PW),
        (f'curl -H "Authorization: Basic {LOGIN}" https://x.test', "http-basic-auth", LOGIN),
        (f"Authorization: Bearer {fake(20, 40)}", "http-bearer-token", fake(20, 40)),
        (f"curl -X PUT -u admin:{PW} https://127.0.0.1", "curl-user-password", PW),
        (f'curl -s --user "api:{PW}" https://api.mailgun.net', "curl-user-password", PW),
        (f"machine api.example.org login deploy password {PW}", "netrc-password", PW),
        (f"//registry.npmjs.org/:_authToken={fake(21, 36)}", "npmrc-auth", fake(21, 36)),
        (f'{{"auths": {{"r.io": {{"auth": "{LOGIN}"}}}}}}', "docker-config-auth", LOGIN),
    ],
)
def test_credentials_for_services_are_found(line: str, rule: str, secret: str) -> None:
    matches = found(line)
    assert [r for r, _, _ in matches] == [rule], matches
    assert line[matches[0][2] - 1 :].startswith(secret)


def test_curl_user_on_a_continuation_line_is_found() -> None:
    text = f"curl -X POST https://x.test/api \\\n  --user deploy:{PW} \\\n  -d x=1\n"
    assert found(text) == [("curl-user-password", 2, 17)]


@pytest.mark.parametrize(
    "line",
    [
        "https://user:password@example.com/",
        "mongodb://${USER}:${PASS}@db/app",
        "redis://:<password>@host:6379",
        "curl -u username:token https://x.test",
        'curl -u "${_username}:${_password}" https://x.test',
        "curl --user neo4j:[PASSWORD] http://localhost:7474",
        "curl -i -u 'test:test'",
        'curl -H "Authorization: Basic $BASIC_TOKEN" https://x.test',
        "Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ=",  # username:password
        "Authorization: Bearer <token>",
        "machine host login me password $PASS",
        "see https://docs.example.com:8443/path",
    ],
)
def test_placeholders_and_references_are_not_found(line: str) -> None:
    assert found(line) == []


@pytest.mark.parametrize(
    "line",
    [
        "curl --header 'Authorization:  5eb4223e-5008-46e5-be67-c7b8f2732305'",
        'curl -H "Authorization: Token 22cb987851bc5659229114c62e60c79abd0d2c08" https://x.test',
        'curl -X POST --header "Api-Token: Sk94HG7f6KB"',
        'http POST x.test -H "X-Api-Key: 9f8e7d6c5b4a39281706f5e4"',
    ],
)
def test_credentials_in_header_options_are_found(line: str) -> None:
    assert [r for r, _, _ in found(line)] == ["http-auth-header"]


@pytest.mark.parametrize(
    "line",
    [
        'curl -H "Authorization: Token $API_TOKEN" https://x.test',
        'curl -H "X-Api-Key: ${API_KEY}"',
        "curl -H 'Content-Type: application/json'",
        'curl -H "Authorization: Token your_token_here"',
    ],
)
def test_header_references_are_not_found(line: str) -> None:
    assert found(line) == []
