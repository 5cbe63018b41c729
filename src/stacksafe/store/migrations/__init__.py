"""Alembic migrations of the schema (store/migrations/versions), run by store.migrate."""
