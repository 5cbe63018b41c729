"""Developer tool rules (Terraform, Vault, Doppler, Pulumi, Databricks, Tailscale, age,
1Password, CI/CD, code quality, project and data tools): real-format tokens are found with their
rule, line and column; placeholders and lookalikes are not."""

from __future__ import annotations

from stacksafe.scan.rules.devtools import RULES
from tests.scan.rules.draw import ALNUM, B64, HEX, UPPER, Draw, family_tests

d = Draw("devtools")
_WORD = ALNUM + "_-"
_UUID = f"{d(HEX, 8)}-{d(HEX, 4)}-{d(HEX, 4)}-{d(HEX, 4)}-{d(HEX, 12)}"
_BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"

CASES = [
    ("hashicorp-tf-api-token", "token = {}", d(ALNUM, 14) + ".atlasv1." + d(_WORD, 67)),
    ("vault-service-token", "VAULT_TOKEN={}", "hvs." + d(_WORD, 95)),
    ("vault-batch-token", "VAULT_TOKEN={}", "hvb." + d(_WORD, 150)),
    ("vault-recovery-token", "VAULT_RECOVERY_TOKEN='{}'", "hvr." + d(_WORD, 95)),
    ("vault-service-token-legacy", "vault_token: {}", "s." + d(ALNUM, 24)),
    ("doppler-api-token", "DOPPLER_TOKEN={}", "dp.pt." + d(ALNUM, 43)),
    ("doppler-api-token", "DOPPLER_TOKEN={}", "dp.st.prd." + d(ALNUM, 43)),
    ("pulumi-api-token", "PULUMI_ACCESS_TOKEN={}", "pul-" + d(HEX, 40)),
    ("databricks-api-token", "DATABRICKS_TOKEN={}", "dapi" + d(HEX, 32)),
    ("tailscale-key", "TS_AUTHKEY={}", "tskey-auth-k" + d(ALNUM, 11) + "-" + d(ALNUM, 33)),
    ("tailscale-key", "MY_{}", "tskey-api-" + d(ALNUM, 12) + "-" + d(ALNUM, 24)),
    ("defined-networking-api-token", "key {}", "dnkey-" + d(UPPER, 26) + "-" + d(UPPER, 52)),
    ("age-secret-key", "# {}", "AGE-SECRET-KEY-1" + d(_BECH32, 58)),
    ("1password-service-account-token", "OP_SERVICE_ACCOUNT_TOKEN={}", "ops_eyJ" + d(B64, 300)),
    (
        "1password-secret-key",
        "secret key: {}",
        f"A3-{d(UPPER, 6)}-{d(UPPER, 6)}-{d(UPPER, 5)}-{d(UPPER, 5)}-{d(UPPER, 5)}-{d(UPPER, 5)}",
    ),
    ("codecov-access-token", "CODECOV_TOKEN={}", _UUID),
    ("droneci-access-token", "DRONE_TOKEN={}", d(ALNUM, 32)),
    ("travisci-access-token", "travis_token: {}", d(ALNUM, 22)),
    (
        "harness-api-key",
        "x-api-key: {}",
        "pat." + d(_WORD, 22) + "." + d(ALNUM, 24) + "." + d(ALNUM, 20),
    ),
    ("octopus-deploy-api-key", "OCTOPUS_API_KEY={}", "API-" + d(UPPER, 26)),
    ("prefect-api-token", "PREFECT_API_KEY={}", "pnu_" + d(ALNUM, 36)),
    ("infracost-api-token", "INFRACOST_API_KEY={}", "ico-" + d(ALNUM, 32)),
    ("snyk-api-token", "SNYK_TOKEN={}", _UUID),
    ("sonar-api-token", "-Dsonar.login={}", "squ_" + d(HEX, 40)),
    ("sonar-api-token-legacy", "sonar.login={}", d(ALNUM, 40)),
    ("postman-api-token", "POSTMAN_API_KEY={}", "PMAK-" + d(HEX, 24) + "-" + d(HEX, 34)),
    ("postman-collection-access-token", "access_key={}", "PMAT-" + d(UPPER, 26)),
    ("linear-api-key", "LINEAR_API_KEY={}", "lin_api_" + d(ALNUM, 40)),
    ("linear-oauth-token", "token: {}", "lin_oauth_" + d(HEX, 64)),
    ("linear-client-secret", "LINEAR_CLIENT_SECRET={}", d(HEX, 32)),
    ("notion-api-token", "NOTION_TOKEN={}", "ntn_" + d("0123456789", 11) + d(ALNUM, 35)),
    ("notion-api-token-legacy", "NOTION_KEY={}", "secret_" + d(ALNUM, 43)),
    ("planetscale-password", "DATABASE_PASSWORD={}", "pscale_pw_" + d(_WORD, 43)),
    ("planetscale-api-token", "PLANETSCALE_TOKEN={}", "pscale_tkn_" + d(_WORD, 43)),
    ("planetscale-oauth-token", "token: {}", "pscale_oauth_" + d(_WORD, 43)),
    ("clickhouse-cloud-api-secret-key", "CLICKHOUSE_KEY_SECRET={}", "4b1d" + d(ALNUM, 38)),
    ("confluent-access-token", "CONFLUENT_API_KEY={}", d(UPPER, 16)),
    ("confluent-secret-key", "CONFLUENT_API_SECRET={}", d(ALNUM, 64)),
    ("launchdarkly-access-token", "LAUNCHDARKLY_ACCESS_TOKEN={}", d(_WORD, 40)),
    ("looker-client-id", "LOOKER_CLIENT_ID={}", d(ALNUM, 20)),
    ("looker-client-secret", "LOOKER_CLIENT_SECRET={}", d(ALNUM, 24)),
    ("fastly-api-token", "FASTLY_API_TOKEN={}", d(_WORD, 32)),
]


STAND_INS = [
    "hvs.abc",
    "xhvs." + d(_WORD, 95),  # glued to a word
    "# token: hvs.example",
    "this.s." + d(ALNUM, 24),  # no Vault in sight
    "mydapi" + d(HEX, 32),
    "xtskey-api-" + d(ALNUM, 12) + "-" + d(ALNUM, 24),
    "A short string like tskey-foo is not a key.",
    "ops_DUMMY" + d(B64, 300),
    "http://assets.r7.com/media_box/video_box.ico-7a388b69018576d24b59331fd60aab0c.png",
    "NTN_12345678901aBcDeFgHiJkLmNoPqRsT1234567890abcde",
    "snyk_org_id: " + _UUID,
    "https://docs.databricks.com/aws/en/dev-tools/auth/pat",
]

(
    test_real_format_is_found,
    test_every_rule_has_a_case,
    test_placeholder_or_lookalike_is_not_found,
) = family_tests(RULES, CASES, STAND_INS)
