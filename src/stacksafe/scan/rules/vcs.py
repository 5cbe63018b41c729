"""Tokens of code hosting and collaboration platforms: GitHub, GitLab, Bitbucket, Atlassian,
Gitter, Sourcegraph.

Facts from the issuers: GitHub's tokens are a type prefix and 36 base62 characters whose last
six are a CRC32 of the rest (classic), ``github_pat_`` with 82 word characters (fine-grained),
or ``ghs_<app id>_<JWT>`` (the newer installation tokens); GitLab prefixes every token with its
kind (``glpat-``, ``gldt-``, ``glrt-``...; see docs.gitlab.com "Token prefixes"), newer ones
routable with a ``.<version>.<checksum>`` tail; Atlassian API tokens start ``ATATT3``, Bitbucket
app passwords ``ATBB``, repository and workspace tokens ``ATCTT3``, Data Center tokens ``BBDC-``.
"""

from __future__ import annotations

import dataclasses
import re

from stacksafe.scan.rules.checks import checksum_or_random
from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]


def _github(id: str, description: str, prefixes: tuple[str, ...]) -> Rule:
    """A classic GitHub token: its checksum, else its randomness, decides (checks.py)."""
    alternatives = "|".join(prefixes)
    rule = token(
        id,
        description,
        [f"{p}_" for p in prefixes],
        # GitHub documents up to 255 characters; issued tokens are 40.
        rf"(?:{alternatives})_[A-Za-z0-9]{{36,251}}",
        check=checksum_or_random,
    )
    return dataclasses.replace(rule, placeholders=False)


# GitLab: (id, description, prefix, body after the prefix). Routable tokens (17.x+) carry
# ``.<2 base36>.<7-9 base36>`` after a longer body.
_ROUTABLE = r"(?:\.[0-9a-z]{2}\.?[0-9a-z]{7,9})?"
_GITLAB = (
    (
        "gitlab-pat",
        "GitLab personal, project or group access token",
        "glpat-",
        rf"[0-9A-Za-z_\-]{{20,300}}{_ROUTABLE}",
    ),
    (
        "gitlab-deploy-token",
        "GitLab deploy token",
        "gldt-",
        rf"[0-9A-Za-z_\-]{{20,300}}{_ROUTABLE}",
    ),
    (
        "gitlab-runner-authentication-token",
        "GitLab runner authentication token",
        "glrt-",
        rf"(?:t\d_)?[0-9A-Za-z_\-]{{20,300}}{_ROUTABLE}",
    ),
    (
        "gitlab-runner-registration-token",
        "GitLab runner registration token",
        "glrtr-",
        r"[0-9A-Za-z_\-]{20,300}",
    ),
    (
        "gitlab-cicd-job-token",
        "GitLab CI/CD job token",
        "glcbt-",
        rf"(?:[0-9A-Za-z]{{1,5}}_)?[0-9A-Za-z_\-]{{20,300}}{_ROUTABLE}",
    ),
    (
        "gitlab-pipeline-trigger-token",
        "GitLab pipeline trigger token",
        "glptt-",
        r"[0-9A-Za-z_\-]{40}",
    ),
    ("gitlab-feed-token", "GitLab feed token", "glft-", r"[0-9A-Za-z_\-]{20,300}"),
    ("gitlab-incoming-mail-token", "GitLab incoming mail token", "glimt-", r"[0-9A-Za-z_\-]{25}"),
    (
        "gitlab-kubernetes-agent-token",
        "GitLab agent for Kubernetes token",
        "glagent-",
        r"[0-9A-Za-z_\-]{50,300}",
    ),
    (
        "gitlab-oauth-app-secret",
        "GitLab OAuth application secret",
        "gloas-",
        rf"[0-9A-Za-z_\-]{{64}}{_ROUTABLE}",
    ),
    ("gitlab-scim-token", "GitLab SCIM token", "glsoat-", r"[0-9A-Za-z_\-]{20,50}"),
    (
        "gitlab-feature-flag-client-token",
        "GitLab feature flags client token",
        "glffct-",
        r"[0-9A-Za-z_\-]{20,300}",
    ),
    ("gitlab-workspace-token", "GitLab workspace token", "glwt-", r"[0-9A-Za-z_\-]{20,300}"),
)

RULES: tuple[Rule, ...] = (
    _github("github-pat", "GitHub personal access token (classic)", ("ghp",)),
    _github("github-oauth", "GitHub OAuth access token", ("gho",)),
    _github("github-app-token", "GitHub App user-to-server or installation token", ("ghu", "ghs")),
    _github("github-refresh-token", "GitHub refresh token", ("ghr",)),
    token(
        "github-app-installation-token",
        "GitHub App installation token (JWT form)",
        ["ghs_"],
        r"ghs_[0-9]{1,20}_eyJ[A-Za-z0-9_\-]{10,1000}\.[A-Za-z0-9_\-]{10,10000}\.[A-Za-z0-9_\-]{10,1000}",
    ),
    token(
        "github-fine-grained-pat",
        "GitHub fine-grained personal access token",
        ["github_pat_"],
        r"github_pat_\w{82}",
        min_entropy=3.0,
    ),
    *(
        token(id, description, [prefix], prefix + body, min_entropy=3.0)
        for id, description, prefix, body in _GITLAB
    ),
    token(
        "gitlab-runner-registration-token-legacy",
        "GitLab runner registration token (legacy)",
        ["gr1348941"],
        r"GR1348941[0-9A-Za-z_\-]{20,50}",
        min_entropy=3.0,
    ),
    Rule(
        id="gitlab-session-cookie",
        description="GitLab session cookie",
        keywords=("_gitlab_session=",),
        pattern=re.compile(r"_gitlab_session=(?P<secret>[0-9a-z]{32})(?![A-Za-z0-9_\-])"),
        min_entropy=3.0,
    ),
    token(
        "atlassian-api-token",
        "Atlassian API token",
        ["atatt3"],
        # The tail is "=" and an 8-hex checksum, "=" escaped in some files.
        r"ATATT3[A-Za-z0-9_\-=]{150,250}(?:(?:\\=|%3[Dd])[A-Fa-f0-9]{8})?",
        min_entropy=3.5,
    ),
    keyed(
        "atlassian-api-token-legacy",
        "Atlassian, Jira or Confluence API token (legacy) or personal access token",
        ("atlassian", "confluence", "jira"),
        # 24 alphanumerics (Cloud, before ATATT3); Data Center PATs are base64 of
        # "<12 digits>:<20 random bytes>": each digit triplet encodes as [MNO][DTjz][...][w-z0-5].
        r"[A-Za-z0-9]{24}|(?:[MNO][DTjz][AEIMQUYcgkosw048][w-z0-5]){4}O[A-Za-z0-9+/]{27}",
        min_entropy=3.0,
    ),
    token(
        "bitbucket-app-password",
        "Bitbucket app password",
        ["atbb"],
        r"ATBB[A-Za-z0-9_=.\-]{32}",
        min_entropy=3.5,
    ),
    token(
        "bitbucket-access-token",
        "Bitbucket repository, project or workspace access token",
        ["atctt3"],
        r"ATCTT3[A-Za-z0-9_\-=]{150,250}",
        min_entropy=3.5,
    ),
    token(
        "bitbucket-data-center-token",
        "Bitbucket Data Center HTTP access token",
        ["bbdc-"],
        r"BBDC-[A-Za-z0-9+/@_\-]{44}",
        min_entropy=3.5,
    ),
    keyed(
        "bitbucket-client-id",
        "Bitbucket OAuth consumer key",
        ("bitbucket",),
        r"[A-Za-z0-9]{32}",
        min_entropy=3.0,
    ),
    keyed(
        "bitbucket-client-secret",
        "Bitbucket OAuth consumer secret",
        ("bitbucket",),
        r"[A-Za-z0-9=_\-]{64}",
        min_entropy=3.0,
    ),
    keyed(
        "gitter-access-token",
        "Gitter access token",
        ("gitter",),
        r"[A-Za-z0-9_\-]{40}",
        min_entropy=3.0,
    ),
    token(
        "sourcegraph-access-token",
        "Sourcegraph access token",
        ["sgp_"],
        r"sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}",
        min_entropy=3.0,
    ),
    keyed(
        "sourcegraph-access-token-legacy",
        "Sourcegraph access token (legacy, unprefixed)",
        ("sourcegraph",),
        r"[a-fA-F0-9]{40}",
        min_entropy=3.0,
    ),
)
