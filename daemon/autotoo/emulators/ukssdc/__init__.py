"""Emulator of the UKSSDC XRT product generator (``/user_objects/...``).

Wire-compatible with swifttools' ``XRTProductRequest`` (xrt_prods 1.12): jobs progress on the
shared simulated clock and are built from the observations on the shared sky.
``setup_routes`` adds the service to a combined app; ``create_app`` makes a stand-alone one.
"""

from __future__ import annotations

from aiohttp import web

from autotoo.emulators.sky import Sky
from autotoo.emulators.ukssdc.jobs import Timings
from autotoo.emulators.ukssdc.routes import PREFIX, SERVICE_KEY
from autotoo.emulators.ukssdc.routes import setup_routes as _setup
from autotoo.emulators.ukssdc.service import XrtService
from autotoo.emulators.users import Users


def setup_routes(
    app: web.Application,
    *,
    sky: Sky,
    users: Users,
    timings: Timings | None = None,
    queue_limit: int | None = 20,
) -> XrtService:
    """Add every UKSSDC route under ``/user_objects`` to ``app``; returns the service state."""
    service = XrtService(sky, users, timings, queue_limit=queue_limit)
    _setup(app, service)
    return service


def create_app(
    *,
    sky: Sky | None = None,
    users: Users | None = None,
    timings: Timings | None = None,
    queue_limit: int | None = 20,
) -> web.Application:
    app = web.Application()
    setup_routes(
        app, sky=sky or Sky(), users=users or Users(), timings=timings, queue_limit=queue_limit
    )
    return app


__all__ = ["PREFIX", "SERVICE_KEY", "Timings", "XrtService", "create_app", "setup_routes"]
