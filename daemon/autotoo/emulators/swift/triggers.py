"""Swift's own response to a BAT trigger: the automatic slew (the emulator's admin endpoint).

On a BAT trigger, Swift slews to the burst by itself within a couple of minutes, with no TOO:
the burst becomes a target whose ID is the BAT trigger number, and the automatic observation
is its segment ``000`` (obsid ``<trigger number:08d>000``). Follow-up observations of the same
target are segments 001, 002, ...; a TOO accepted for the position reuses the target, as the
real service reuses a burst's target ID.

The emulator cannot see a real sky, so a test (or a person trying rules) says when Swift
triggered: ``POST /emulator/swift/bat_trigger`` with JSON ``{"ra": deg, "dec": deg}`` and
optionally ``"name"``, ``"at"`` (ISO UTC, default: the sim clock's now), ``"exposure_s"``
(default 1600) and ``"trigger"`` (the trigger number, default the next from 1300001). The
segment then appears in PlanQuery at once (it starts :data:`SLEW_AFTER` after the trigger and
runs past now) and in ObsQuery once it has ended, like every observation of the shared sky.
The reply: ``{"target_id", "obs_id", "begin", "end"}`` (UTC, ISO). The path lies outside the
Swift API's own (``/api/v2``), so no client can reach it by accident.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from aiohttp import web

from autotoo.emulators.sky import Observation, Sky, XraySource

PATH: Final = "/emulator/swift/bat_trigger"
FIRST_TRIGGER: Final = 1_300_001  # BAT trigger numbers (target IDs below Sky's TOO range)
SLEW_AFTER: Final = timedelta(seconds=100)


@dataclass(slots=True)
class BatTriggers:
    sky: Sky
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_TRIGGER))

    def trigger(
        self,
        ra: float,
        dec: float,
        *,
        name: str | None = None,
        at: datetime | None = None,
        exposure_s: float = 1600.0,
        number: int | None = None,
    ) -> Observation:
        """A BAT trigger at ``at``: its target and the automatic observation (segment 000)."""
        number = next(self._numbers) if number is None else number
        at = at or self.sky.clock.now()
        source = XraySource(ra, dec, count_rate=2.0, decay_index=1.2)
        target = self.sky.add_target(
            name or f"Swift-BAT trigger {number}", ra, dec, source=source, target_id=number
        )
        return self.sky.add_observation(
            target.target_id, start=at + SLEW_AFTER, exposure_s=exposure_s, segment=0
        )


TRIGGERS: web.AppKey[BatTriggers] = web.AppKey("bat_triggers", BatTriggers)


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


async def bat_trigger(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.text())
        ra, dec = float(data["ra"]), float(data["dec"])
        at = datetime.fromisoformat(data["at"]) if data.get("at") else None
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        exposure = float(data.get("exposure_s", 1600.0))
        number = int(data["trigger"]) if data.get("trigger") is not None else None
    except (ValueError, KeyError, TypeError) as exc:
        wanted = "JSON with ra, dec (degrees); optional name, at, exposure_s, trigger"
        return _bad(f"expected {wanted}: {exc}")
    if not (0.0 <= ra < 360.0 and -90.0 <= dec <= 90.0) or exposure <= 0:
        return _bad("ra must be in [0, 360), dec in [-90, 90], exposure_s positive")
    obs = request.app[TRIGGERS].trigger(
        ra, dec, name=data.get("name"), at=at, exposure_s=exposure, number=number
    )
    body = {
        "target_id": obs.target_id,
        "obs_id": obs.obsid,
        "begin": _iso(obs.start),
        "end": _iso(obs.end),
    }
    return web.json_response(body)


def add_routes(app: web.Application, sky: Sky) -> None:
    app[TRIGGERS] = BatTriggers(sky)
    app.router.add_post(PATH, bat_trigger)
