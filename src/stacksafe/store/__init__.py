"""Storage: SQLAlchemy Core tables, Alembic migrations and the queries per aggregate.

The store holds ciphertext it cannot read and never decides policy.
"""

from __future__ import annotations

# What core names of SQLAlchemy (core builds no SQL: the import contract in pyproject.toml):
# the connection a transaction runs on, a table as a handle (backup), and the driver's error.
from sqlalchemy import Connection as Connection
from sqlalchemy import Table as Table
from sqlalchemy.exc import OperationalError as OperationalError

from stacksafe.store.engine import make_engine as make_engine
from stacksafe.store.engine import redact_url as redact_url
from stacksafe.store.transactions import Store as Store

__all__ = ["Connection", "OperationalError", "Store", "Table", "make_engine", "redact_url"]
