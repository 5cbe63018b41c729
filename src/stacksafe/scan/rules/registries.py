"""Tokens of package registries and artifact stores: npm, PyPI, RubyGems, NuGet, Clojars, Docker
Hub and Docker Swarm, JFrog Artifactory.

Facts from the issuers: npm tokens are ``npm_`` + 36 base62 whose last six are a CRC32 (as
GitHub's); PyPI API tokens are macaroons whose base64 starts ``pypi-AgEIcHlwaS5vcmc`` (the
location "pypi.org"; ``AgENdGVzdC5weXBpLm9yZw`` for test.pypi.org); RubyGems ``rubygems_`` + 48
hex; NuGet API keys ``oy2`` + 43 base32; Clojars ``CLOJARS_`` + 60; Docker Hub ``dckr_pat_`` /
``dckr_oat_``; Swarm join tokens ``SWMTKN-1-`` and unlock keys ``SWMKEY-1-``; Artifactory API
keys ``AKCp`` + 69, reference tokens base64 of ``reftkn:01:...`` (``cmVmdGtuOjAx``).
"""

from __future__ import annotations

import dataclasses
import re

from stacksafe.scan.rules.checks import checksum_or_random
from stacksafe.scan.rules.keyed import keyed
from stacksafe.scan.rules.model import Rule, token

__all__ = ["RULES"]

RULES: tuple[Rule, ...] = (
    dataclasses.replace(
        token(
            "npm-access-token",
            "npm access token",
            ["npm_"],
            r"npm_[A-Za-z0-9]{36}",
            check=checksum_or_random,
        ),
        placeholders=False,
    ),
    token(
        "pypi-upload-token",
        "PyPI API token",
        ["pypi-ageichlwas5vcmc", "pypi-agendgvzdc5wexbplm9yzw"],
        r"pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,1000}",
        min_entropy=3.0,
    ),
    token(
        "rubygems-api-token",
        "RubyGems API key",
        ["rubygems_"],
        r"rubygems_[a-f0-9]{48}",
        min_entropy=3.0,
    ),
    token(
        "nuget-api-key",
        "NuGet API key",
        ["oy2"],
        r"oy2[a-z0-9]{43}",
        min_entropy=3.5,
    ),
    Rule(
        id="nuget-config-password",
        description="Password in a NuGet configuration",
        keywords=("cleartextpassword", 'key="password"'),
        pattern=re.compile(
            r"(?i:<add\s+key=\"(?:ClearText)?Password\"\s+value=\")"
            # A %VARIABLE% is a reference, not the password.
            r"(?P<secret>(?!%)[^\"]{8,})\"\s*/>"
        ),
        min_entropy=2.5,
    ),
    token(
        "clojars-api-token",
        "Clojars deploy token",
        ["clojars_"],
        r"CLOJARS_[A-Za-z0-9]{60}",
        min_entropy=3.0,
        flags=re.IGNORECASE,
    ),
    token(
        "docker-hub-token",
        "Docker Hub personal or organization access token",
        ["dckr_pat_", "dckr_oat_"],
        r"dckr_(?:pat|oat)_[A-Za-z0-9_\-]{27,36}",
        min_entropy=3.0,
    ),
    token(
        "docker-swarm-join-token",
        "Docker Swarm join token",
        ["swmtkn-1-"],
        r"SWMTKN-1-[a-z0-9]{50}-[a-z0-9]{25}",
        min_entropy=3.5,
    ),
    token(
        "docker-swarm-unlock-key",
        "Docker Swarm unlock key",
        ["swmkey-1-"],
        r"SWMKEY-1-[A-Za-z0-9+/]{43}",
        min_entropy=3.5,
    ),
    token(
        "artifactory-api-key",
        "JFrog Artifactory API key",
        ["akcp"],
        r"AKCp[A-Za-z0-9]{69}",
        min_entropy=4.0,
    ),
    token(
        "artifactory-reference-token",
        "JFrog Artifactory reference token",
        ["cmvmdgtuojax"],
        r"cmVmdGtuOjAx[A-Za-z0-9]{52}",
        min_entropy=4.0,
    ),
    keyed(
        "jfrog-api-key",
        "JFrog API key",
        ("jfrog", "artifactory", "bintray", "xray"),
        # An AKCp key is the artifactory-api-key rule's.
        r"(?!AKCp)[A-Za-z0-9]{73}",
        min_entropy=4.0,
    ),
    keyed(
        "jfrog-identity-token",
        "JFrog identity token",
        ("jfrog", "artifactory", "bintray", "xray"),
        r"[A-Za-z0-9]{64}",
        min_entropy=4.0,
    ),
)
