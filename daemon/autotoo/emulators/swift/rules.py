"""The Swift emulator's business rules, configurable per test or per ``autotoo emulate`` run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# (name, ra, dec, V mag): a few real naked-eye stars, for the UVOT bright-star rule.
BRIGHT_STARS: tuple[tuple[str, float, float, float], ...] = (
    ("Sirius", 101.28715533, -16.71611586, -1.46),
    ("Canopus", 95.98795782, -52.69566138, -0.74),
    ("Arcturus", 213.9153003, 19.18240916, -0.05),
    ("Vega", 279.23473479, 38.78368896, 0.03),
    ("Capella", 79.17232794, 45.99799147, 0.08),
    ("Rigel", 78.63446707, -8.20163837, 0.13),
    ("Betelgeuse", 88.79293899, 7.40703634, 0.42),
    ("Achernar", 24.42852283, -57.23675281, 0.46),
    ("Altair", 297.6958273, 8.8683212, 0.76),
    ("Antares", 247.35191542, -26.43200261, 1.09),
)


@dataclass(slots=True)
class SwiftRules:
    """What the emulated service refuses, and how fast an accepted TOO moves on the sim clock."""

    anonymous_too_refused: bool = True
    constraints: bool = True  # Sun/Moon/pole check for urgency 0-2 submissions
    sun_min_deg: float = 46.0
    moon_min_deg: float = 23.0
    # Pole band: targets within ``pole_radius_deg`` of an orbit pole are unobservable. The poles
    # sit 90 - inclination from the equator and precess with the orbit's node.
    inclination_deg: float = 20.56
    pole_radius_deg: float = 12.0
    precession_days: float = 60.0
    node_epoch: datetime = datetime(2026, 1, 1, tzinfo=UTC)  # ascending node RA = 0 here
    duplicate_window: timedelta = timedelta(hours=24)  # "TOO already recently submitted."
    duplicate_radius_arcmin: float = 1.0
    bright_star_radius_arcmin: float = 10.0
    bright_stars: tuple[tuple[str, float, float, float], ...] = BRIGHT_STARS
    v1_pending_replies: int = 1  # v1: how many polls see Queued/Processing before the result
    first_too_id: int = 22_000
    first_jobnumber: int = 23_470_000
    approve_after: dict[int, timedelta] = field(
        default_factory=lambda: {
            0: timedelta(minutes=15),
            1: timedelta(minutes=30),
            2: timedelta(hours=2),
            3: timedelta(hours=12),
            4: timedelta(days=2),
        }
    )
    slew_after_approval: timedelta = timedelta(hours=1)

    def south_pole_ra(self, when: datetime) -> float:
        """RA of the southern orbit pole: node + 90 deg, regressing westward."""
        days = (when - self.node_epoch).total_seconds() / 86400.0
        node = -360.0 * days / self.precession_days
        return (node + 90.0) % 360.0

    def when_south_pole_at(self, ra: float, *, after: datetime) -> datetime:
        """The first time after ``after`` at which the southern orbit pole has RA ``ra``
        (tests use it to start the clock with a target in pole constraint)."""
        behind = (self.south_pole_ra(after) - ra) % 360.0  # the pole RA decreases with time
        return after + timedelta(days=behind / 360.0 * self.precession_days)
