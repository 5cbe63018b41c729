"""Registry rules (npm, PyPI, RubyGems, NuGet, Clojars, Docker, JFrog Artifactory): real-format
tokens are found with their rule, line and column; placeholders and lookalikes are not."""

from __future__ import annotations

from stacksafe.scan.rules.registries import RULES
from tests.scan.rules.draw import (
    ALNUM,
    B64,
    HEX,
    Draw,
    checksummed,
    family_tests,
)

d = Draw("registries")
_WORD = ALNUM + "_-"
_LOWER36 = "abcdefghijklmnopqrstuvwxyz0123456789"

CASES = [
    ("npm-access-token", "//registry.npmjs.org/:_authToken={}", checksummed("npm_", d(ALNUM, 30))),
    ("npm-access-token", "NPM_TOKEN={}", "npm_" + d(ALNUM, 36)),
    ("pypi-upload-token", "password = {}", "pypi-AgEIcHlwaS5vcmc" + d(_WORD, 140)),
    ("pypi-upload-token", "password = {}", "pypi-AgENdGVzdC5weXBpLm9yZw" + d(_WORD, 140)),
    ("rubygems-api-token", "GEM_HOST_API_KEY: {}", "rubygems_" + d(HEX, 48)),
    ("nuget-api-key", "k = '{}'", "oy2" + d(_LOWER36, 43)),
    ("nuget-config-password", '<add key="ClearTextPassword" value="{}" />', d(ALNUM + "!+_", 16)),
    ("clojars-api-token", "CLOJARS_TOKEN={}", "CLOJARS_" + d(_LOWER36, 60)),
    ("docker-hub-token", "DOCKER_PAT={}", "dckr_pat_" + d(_WORD, 27)),
    ("docker-swarm-join-token", "join {}", "SWMTKN-1-" + d(_LOWER36, 50) + "-" + d(_LOWER36, 25)),
    ("docker-swarm-unlock-key", "unlock {}", "SWMKEY-1-" + d(B64, 43)),
    ("artifactory-api-key", 'X-JFrog-Art-Api: "{}"', "AKCp" + d(ALNUM, 69)),
    ("artifactory-reference-token", "Bearer {}", "cmVmdGtuOjAxOjE3" + d(ALNUM, 48)),
    ("jfrog-api-key", "ARTIFACTORY_API_KEY={}", d(ALNUM, 73)),
    ("jfrog-identity-token", "jfrog_token: {}", d(ALNUM, 64)),
]


STAND_INS = [
    "negative:npm_NFX6dCpmIWvQ7megnY0AtQwkoKzWcEXAMPLE",
    "npm_" + "x" * 36,
    "//registry.npmjs.org/:_authToken=${NPM_TOKEN}",
    "pypi-AgEIcHlwaS5vcmc" + "x" * 60,
    '<add key="ClearTextPassword" value="%NUGET_PASSWORD%" />',
    '<add key="ClearTextPassword" value="abc" />',
    "NEGATIVE: dckr_pat_EXAMPLE-EXAMPLE-EXAMPLE-123",
    "cmVmdGtuOlRoZXJlIGFyZSBub3QgdGhlIHRva2VucyB5b3UncmUgbG9va2luZyA0",  # "reftkn:There..."
    "partOfAlongUnrelatedBlob gYnkgAKCp" + d(ALNUM, 69) + "VyZSB2",
]

(
    test_real_format_is_found,
    test_every_rule_has_a_case,
    test_placeholder_or_lookalike_is_not_found,
) = family_tests(RULES, CASES, STAND_INS)
