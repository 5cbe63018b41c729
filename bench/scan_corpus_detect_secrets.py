"""Corpus cases from detect-secrets' plugin tests."""

from __future__ import annotations

from typing import Any

from scan_corpus_gitleaks import Skips


def detect_secrets_cases(mirror: Any, skips: Skips) -> list[dict[str, object]]:
    return []
