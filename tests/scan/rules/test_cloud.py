"""Cloud rules (AWS, Google Cloud, Azure, Alibaba, IBM, Yandex): real-format tokens are found
with their rule, line and column; documentation examples and lookalikes are not."""

from __future__ import annotations

from stacksafe.scan.rules.cloud import RULES
from tests.scan.rules.draw import ALNUM, B64, HEX, Draw, family_tests, found

d = Draw("cloud")
_URLSAFE = ALNUM + "_-"
_UUID = f"{d(HEX, 8)}-{d(HEX, 4)}-{d(HEX, 4)}-{d(HEX, 4)}-{d(HEX, 12)}"

# (rule id, the line, the secret in it)
CASES = [
    (
        "aws-access-key",
        "aws_access_key_id = {}",
        "AKIA" + d("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16),
    ),
    ("aws-access-key", "export KEY={}", "ASIA" + d("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
    ("aws-secret-access-key", "AWS_SECRET_ACCESS_KEY={}", d(B64, 40)),
    ("aws-secret-access-key", '"SecretAccessKey" : "{}",', d(B64, 40)),
    ("aws-session-token", 'aws_session_token = "{}"', "IQoJb3JpZ2luX2Vj" + d(B64, 300)),
    ("aws-bedrock-api-key", "BEDROCK_KEY={}", "ABSKQmVkcm9ja0FQSUtleS1" + d(ALNUM, 108) + "="),
    (
        "aws-bedrock-api-key-short-lived",
        "token: {}",
        "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t" + d(B64, 80),
    ),
    ("aws-appsync-api-key", 'apiKey: "{}"', "da2-" + d("abcdefghijklmnopqrstuvwxyz0123456789", 26)),
    ("aws-mws-key", 'MWS = "{}"', "amzn.mws." + _UUID),
    ("gcp-api-key", "const key = '{}';", "AIzaSy" + d(_URLSAFE, 33)),
    ("gcp-oauth-client-secret", '"client_secret":"{}"', "GOCSPX-" + d(_URLSAFE, 28)),
    ("gcp-oauth-access-token", "Authorization: Bearer {}", "ya29." + d(_URLSAFE, 120)),
    ("gcp-oauth-refresh-token", "refresh={}", "1//0" + d(_URLSAFE, 100)),
    ("azure-ad-client-secret", 'client_srt = "{}";', d(ALNUM, 3) + "8Q~" + d(ALNUM + "_~.-", 34)),
    ("azure-ad-client-secret-legacy", 'var azureClientSecret := "{}"', d(ALNUM, 40)),
    (
        "azure-storage-account-key",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={};EndpointSuffix=core",
        d(B64, 86) + "==",
    ),
    ("azure-identifiable-key", "key {}", d(ALNUM, 52) + "JQQJ99" + d(ALNUM, 26)),
    (
        "azure-sas-signature",
        "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sr=b&sig={}",
        d(ALNUM, 43) + "%3D",
    ),
    ("azure-devops-pat", "AZURE_DEVOPS_PAT={}", d("abcdefghijklmnopqrstuvwxyz234567", 52)),
    ("alibaba-access-key-id", "f.write({}, x)", "LTAI" + d(ALNUM, 20)),
    ("alibaba-secret-key", 'alibaba_secret = "{}"', d(ALNUM, 30)),
    ("ibm-cloud-api-key", "IBM_CLOUD_API_KEY={}", d(_URLSAFE, 44)),
    ("softlayer-api-key", "sl_api_key: {}", d(HEX, 64)),
    ("softlayer-api-key", '"softlayer_api_key":= "{}"', d(HEX, 64)),
    ("softlayer-api-key-url", "http://api.softlayer.com/soap/v3.1/{}", d(HEX, 64)),
    ("cloudant-password", "cloudant_password='{}'", d(HEX, 64)),
    ("yandex-api-key", "key: {}", "AQVN" + d(_URLSAFE, 36)),
    ("yandex-aws-access-token", "yandex_secret_key: {}", "YC" + d(_URLSAFE, 38)),
    (
        "yandex-access-token",
        'YANDEX_IAM_TOKEN="{}"',
        "t1." + d(_URLSAFE, 20) + "." + d(_URLSAFE, 86),
    ),
]


STAND_INS = [
    "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",  # AWS's documentation example
    "key = AKIAXXXXXXXXXXXXXXXX",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SECRET_ACCESS_KEY = R6WCNd0erkAuZyD+Fe8C4IwjpYQtniKqnHAzE7Pk5fPrBRpwOnuYxA==",
    "TODAYINASIAASACKOFRICEFELLOVER",  # a word, not a key id
    "CTTCATAGG-ACCAGTTAGCCAGTAGGATC-GCC",  # DNA
    "AIzaSy" + d(_URLSAFE, 32),  # too short
    "AZURE_CLIENT_ID=" + _UUID,  # an id, no secret
    "LTAIxxxxxxxxxxxxxxxxxxxx",
    "yandex_secret_key: " + "YC" + "x" * 38,
    "ssl_key = " + d(HEX, 64),  # "sl" inside "ssl"
    'softlayer_api_key="%s" % SL_API_KEY_ENV',
    'cl_api_key = "a-fake-api-key"',
    "xyzAQVN" + d(_URLSAFE, 36),  # glued to a word
    "USK@u2vn3Lh6Kte2-TgBSNKorbsKkuAt34ckoLmgx0ndXO0,4~q8Q~3wIHjX9DT0yCNfQmr9oxmYrDZoQVLOdNg~yk0,",
]

(
    test_real_format_is_found,
    test_every_rule_has_a_case,
    test_placeholder_or_lookalike_is_not_found,
) = family_tests(RULES, CASES, STAND_INS)


def test_key_id_of_test_suites_is_found_without_an_entropy_floor() -> None:
    # Test suites write AKIAZZZZZZZZZZZZZZZZ; only runs of A, C, G and T (DNA) are refused.
    assert found(RULES, "AKIAZZZZZZZZZZZZZZZZ") == [
        ("aws-access-key", 1, 1, "AKIAZZZZZZZZZZZZZZZZ")
    ]
    assert found(RULES, "akiazzzzzzzzzzzzzzzz") == []
