"""Routers per resource, each under the native API's prefix (health and metrics at the root)."""

API_PREFIX = "/api/3"  # the native API's routes (the web UI's are at the root)
