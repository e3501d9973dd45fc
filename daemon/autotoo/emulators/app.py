"""Both emulators on one aiohttp application, over one simulated sky, under the services' real
path prefixes — so any client is redirected by changing only its base URL."""

from __future__ import annotations

from aiohttp import web

from autotoo.emulators import swift, ukssdc
from autotoo.emulators.clock import SimClock
from autotoo.emulators.faults import FaultPlan
from autotoo.emulators.names import NameResolver
from autotoo.emulators.sky import Sky
from autotoo.emulators.swift.rules import SwiftRules
from autotoo.emulators.ukssdc.jobs import Timings
from autotoo.emulators.users import Users

SKY: web.AppKey[Sky] = web.AppKey("sky", Sky)


def create_app(
    *,
    sky: Sky | None = None,
    users: Users | None = None,
    clock_speed: float = 1.0,
    swift_rules: SwiftRules | None = None,
    ukssdc_timings: Timings | None = None,
    faults: FaultPlan | None = None,
    names: NameResolver | None = None,
) -> web.Application:
    sky = sky or Sky(SimClock(speed=clock_speed), names=names)
    users = users or Users()
    # Faults come first, so an injected failure hides the request from every emulator.
    app = web.Application(middlewares=[faults.middleware] if faults else [])
    app[SKY] = sky
    swift.setup_routes(app, sky=sky, users=users, rules=swift_rules)
    ukssdc.setup_routes(app, sky=sky, users=users, timings=ukssdc_timings)
    return app


def base_urls(root: str) -> dict[str, str]:
    """What to configure in each client to talk to an emulator at ``root``."""
    root = root.rstrip("/")
    return {
        "swift v2 (swift.base_url, SWIFT_TOO_API_URL)": f"{root}/api/v2",
        "swift v1 (swift.base_url with protocol v1)": f"{root}/toop/submit_json.php",
        "ukssdc (ukssdc.base_url)": f"{root}/user_objects",
    }
