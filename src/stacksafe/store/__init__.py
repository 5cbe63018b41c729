"""Storage: SQLAlchemy Core tables, Alembic migrations and the queries per aggregate.

The store holds ciphertext it cannot read and never decides policy.
"""

from __future__ import annotations

from stacksafe.store.engine import Store as Store
from stacksafe.store.engine import make_engine as make_engine
from stacksafe.store.engine import redact_url as redact_url

__all__ = ["Store", "make_engine", "redact_url"]
