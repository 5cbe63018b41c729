"""Passwords are hashed at Argon2id's production cost, though the in-process tests hash at the
library's test profile (tests/conftest.py ``cheap_password_hashing``)."""

from __future__ import annotations

from argon2 import PasswordHasher, Type, profiles

from stacksafe.core.principals import passwords
from tests.conftest import PRODUCTION_HASHER


def test_the_product_hashes_passwords_at_the_librarys_default_cost() -> None:
    used, default = PRODUCTION_HASHER(), PasswordHasher()
    assert used.type is Type.ID
    assert (used.time_cost, used.memory_cost, used.parallelism) == (
        default.time_cost,
        default.memory_cost,
        default.parallelism,
    )
    assert used.memory_cost >= 64 * 1024  # KiB: RFC 9106's second recommended option


def test_the_tests_hash_with_the_cheap_profile_and_verify_production_hashes() -> None:
    cheap = passwords._hasher()
    assert cheap.memory_cost == profiles.CHEAPEST.memory_cost
    production_hash = PRODUCTION_HASHER().hash("correct horse")
    assert cheap.verify(production_hash, "correct horse")
