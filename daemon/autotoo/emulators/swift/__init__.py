"""The Swift TOO API emulator: API v2 under ``/api/v2`` and API v1 at ``/toop/submit_json.php``.

``setup_routes(app, sky=..., users=...)`` mounts it on any aiohttp application (the combined
emulator app, or a test's own); ``create_app(...)`` builds a standalone one. The service object
(``app[SERVICE]``) holds the TOOs, the v1 job table and a log of received requests.
``POST /emulator/swift/bat_trigger`` makes Swift slew to a BAT trigger by itself (``triggers``).
"""

from __future__ import annotations

from aiohttp import web

from autotoo.emulators.sky import Sky
from autotoo.emulators.swift import queries, triggers, v1, v2
from autotoo.emulators.swift.rules import SwiftRules
from autotoo.emulators.swift.service import SwiftService
from autotoo.emulators.swift.v2 import SERVICE
from autotoo.emulators.users import Users

__all__ = ["SERVICE", "SwiftRules", "SwiftService", "create_app", "setup_routes"]


def setup_routes(
    app: web.Application, *, sky: Sky, users: Users, rules: SwiftRules | None = None
) -> None:
    app[SERVICE] = SwiftService(sky, users, rules)
    v2.add_routes(app)
    queries.add_routes(app, v2.PREFIX)
    v1.add_routes(app)
    triggers.add_routes(app, sky)  # the admin endpoint: Swift's own slew to a BAT trigger


def create_app(
    *, sky: Sky | None = None, users: Users | None = None, rules: SwiftRules | None = None
) -> web.Application:
    app = web.Application()
    setup_routes(app, sky=sky or Sky(), users=users or Users(), rules=rules)
    return app
