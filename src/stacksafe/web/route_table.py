"""Serving a router's routes in an app as they were built, once per process, for all its apps.

``app.include_router`` (FastAPI 0.165) gives each app a copy of every route of the router, built
on the app's first request (the dependencies analysed again, the response models' fields made
again), and checks the router for new routes on every request after. A process makes one app to
serve, but the tests make thousands, and each paid for that build again (bench/README.md,
"Measured outside these scripts"). The routers' routes are complete as declared (the API's carry
their prefix, api.routes.API_PREFIX) and depend on no app: each request finds its app's state
through ``request.app``, and no app overrides a dependency.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

__all__ = ["add_routes"]


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Serve ``routers``' routes in ``app``, after the routes it has, in the order given."""
    for router in routers:
        app.router.routes.extend(router.routes)
