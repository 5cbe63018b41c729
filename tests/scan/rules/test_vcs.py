"""Code hosting rules (GitHub, GitLab, Bitbucket, Atlassian, Gitter, Sourcegraph): real-format
tokens are found with their rule, line and column; placeholders and lookalikes are not."""

from __future__ import annotations

from stacksafe.scan.rules.checks import crc32_suffix_valid
from stacksafe.scan.rules.vcs import RULES
from tests.scan.rules.draw import ALNUM, HEX, Draw, checksummed, family_tests, found

d = Draw("vcs")
_WORD = ALNUM + "_-"
_B36 = "abcdefghijklmnopqrstuvwxyz0123456789"

CASES = [
    ("github-pat", "GITHUB_TOKEN={}", checksummed("ghp_", d(ALNUM, 30))),
    ("github-pat", 'token = "{}"', "ghp_" + d(ALNUM, 36)),  # no checksum, random: kept
    ("github-oauth", "oauth: {}", checksummed("gho_", d(ALNUM, 30))),
    ("github-app-token", "GH={}", checksummed("ghu_", d(ALNUM, 30))),
    ("github-app-token", "GH={}", "ghs_" + d(ALNUM, 36)),
    ("github-refresh-token", "refresh_token={}", checksummed("ghr_", d(ALNUM, 30))),
    (
        "github-app-installation-token",
        "token {}",
        "ghs_12345_eyJhbGciOiJSUzI1NiJ9." + d(_WORD, 80) + "." + d(_WORD, 43),
    ),
    ("github-fine-grained-pat", "pat={}", "github_pat_11" + d(ALNUM, 20) + "_" + d(ALNUM, 59)),
    ("gitlab-pat", "GITLAB_TOKEN={}", "glpat-" + d(_WORD, 20)),
    ("gitlab-pat", "x = '{}'", "glpat-" + d(_WORD, 27) + ".01." + d(_B36, 9)),
    ("gitlab-deploy-token", "gldt: {}", "gldt-" + d(_WORD, 20)),
    (
        "gitlab-runner-authentication-token",
        "token = {}",
        "glrt-t1_" + d(_WORD, 27) + ".01." + d(_B36, 9),
    ),
    ("gitlab-runner-registration-token", "token = {}", "glrtr-" + d(ALNUM, 40)),
    ("gitlab-cicd-job-token", "CI_JOB_TOKEN={}", "glcbt-" + d(ALNUM, 4) + "_" + d(_WORD, 20)),
    ("gitlab-pipeline-trigger-token", "trigger={}", "glptt-" + d(HEX, 40)),
    ("gitlab-feed-token", "feed={}", "glft-" + d(_WORD, 20)),
    ("gitlab-incoming-mail-token", "mail={}", "glimt-" + d(_WORD, 25)),
    ("gitlab-kubernetes-agent-token", "agent={}", "glagent-" + d(_WORD, 50)),
    ("gitlab-oauth-app-secret", "secret={}", "gloas-" + d(_WORD, 64)),
    ("gitlab-scim-token", "scim={}", "glsoat-" + d(_WORD, 20)),
    ("gitlab-feature-flag-client-token", "ff={}", "glffct-" + d(_WORD, 20)),
    ("gitlab-workspace-token", "ws={}", "glwt-" + d(_WORD, 32)),
    ("gitlab-runner-registration-token-legacy", "reg={}", "GR1348941" + d(_WORD, 20)),
    ("gitlab-session-cookie", "Cookie: _gitlab_session={}", d(_B36, 32)),
    (
        "atlassian-api-token",
        "JIRA_TOKEN={}",
        "ATATT3xFfGF0" + d(_WORD, 180) + "=" + d("0123456789ABCDEF", 8),
    ),
    ("atlassian-api-token-legacy", 'jira_api_token: "{}"', d(ALNUM, 24)),
    ("bitbucket-app-password", "app:{}", "ATBB" + d(ALNUM, 32)),
    ("bitbucket-access-token", '"token" : "{}"', "ATCTT3xFfGN0" + d(_WORD, 180)),
    ("bitbucket-data-center-token", '"bitbucket" : "{}"', "BBDC-" + d(ALNUM, 44)),
    ("bitbucket-client-id", "BITBUCKET_CLIENT_ID={}", d(ALNUM, 32)),
    ("bitbucket-client-secret", "BITBUCKET_CLIENT_SECRET={}", d(ALNUM, 64)),
    ("gitter-access-token", 'gitter_token = "{}"', d(_WORD, 40)),
    ("sourcegraph-access-token", "SRC_ACCESS_TOKEN={}", "sgp_" + d(HEX, 16) + "_" + d(HEX, 40)),
    ("sourcegraph-access-token-legacy", "sourcegraph_token: {}", d(HEX, 40)),
]


def test_a_valid_checksum_keeps_a_token_that_does_not_look_random() -> None:
    token = checksummed("ghp_", "0" * 30)
    assert crc32_suffix_valid(token)
    assert found(RULES, token) == [("github-pat", 1, 1, token)]
    # The same shape with a wrong checksum is a stand-in.
    assert found(RULES, "ghp_" + "0" * 30 + "000000") == []


STAND_INS = [
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "ghp_1010110010001010101001010101010101011001",
    "gXX_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx",
    "github_pat_xxxxxxxxxxxxxxxxxxxxxx_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "glpat-abc",
    "glpat_hellOworld380_testin",
    "glimt-my-tokens_are-correctAB",  # too short
    "falsesampleATBBcXe6fczW96Vzwgvb4r8F2gZS54D591C4",  # glued to a word
    "getPagesInConfluenceSpace,searchConfluenceUsingCql",  # identifiers, no token
    "BITBUCKET_CLIENT_ID=" + "a" * 32,
]

(
    test_real_format_is_found,
    test_every_rule_has_a_case,
    test_placeholder_or_lookalike_is_not_found,
) = family_tests(RULES, CASES, STAND_INS)
