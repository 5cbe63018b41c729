"""Principals shared by tests."""

from __future__ import annotations

from stacksafe.core.access import Principal

LOCAL = Principal.local("local:test")
