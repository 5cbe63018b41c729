"""``GET|HEAD /v1/sys/health``: load balancers, the CLI's ``status``, Vault Agent's start-up
probe. Answered without a token, as Vault does: it says the server is up, unsealed, active."""

from __future__ import annotations

import time

from starlette.responses import JSONResponse, Response

from stacksafe import __version__

__all__ = ["VERSION", "health"]

VERSION = f"stacksafe-{__version__}"


def health(head: bool) -> Response:
    if head:
        return Response(status_code=200, media_type="application/json")
    return JSONResponse(
        {
            "initialized": True,
            "sealed": False,
            "standby": False,
            "performance_standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(time.time()),
            "version": VERSION,
            "enterprise": False,
            "cluster_name": "stacksafe",
            "cluster_id": "",
        }
    )
