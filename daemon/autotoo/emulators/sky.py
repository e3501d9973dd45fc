"""The simulated sky shared by both emulators: targets, observations, and their X-ray sources.

Swift assigns every pointed target a *target ID* (8 digits) and every observation segment an
*obsid* (target ID + 3-digit segment, e.g. ``00945521001``). The Swift emulator adds targets and
observations here when it accepts and "observes" a TOO; the UKSSDC emulator looks targets up
here (``getTargs``/``getCoords``) and builds products from their observations.

The sky starts with a small archive of already-observed, well-known objects, so XRT products
can be requested without a TOO first (as on the real service).
"""

from __future__ import annotations

import bisect
import math
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from autotoo.emulators.clock import SimClock
from autotoo.emulators.names import Named, NameResolver


@dataclass(slots=True)
class XraySource:
    """The "truth" an observation of this target reveals to the XRT emulator."""

    ra: float
    dec: float
    count_rate: float  # XRT PC counts/s at the first observation
    decay_index: float = 0.0  # count rate ~ t**-decay_index (GRB afterglows ~1.2)
    detectable: bool = True  # False: observed, but nothing there (no product can be built)


@dataclass(slots=True)
class Observation:
    obsid: str
    target_id: int
    start: datetime
    end: datetime
    exposure_s: float
    mode: str = "PC"  # XRT mode actually used


@dataclass(slots=True)
class Target:
    target_id: int
    name: str
    ra: float
    dec: float
    source: XraySource
    aliases: tuple[str, ...] = ()
    observations: list[Observation] = field(default_factory=list)

    @property
    def targ(self) -> str:
        """The target ID as the services write it: zero-padded to 8 digits."""
        return f"{self.target_id:08d}"

    def next_segment(self) -> int:
        return max((int(o.obsid[-3:]) for o in self.observations), default=0) + 1


def _norm_name(name: str) -> str:
    return "".join(name.lower().split())


def angular_separation_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Great-circle distance (haversine; exact enough for matching and cheap)."""
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


def within_deg(ra1: float, dec1: float, ra2: float, dec2: float, radius: float) -> bool:
    """Whether two positions are at most ``radius`` degrees apart. The separation is never
    less than the difference in declination, so most of a sky's far positions are ruled out
    by one subtraction: the listings scan every TOO the emulator holds, and the benchmarks
    run it in their own process, so its cost per request must not grow with the run."""
    if abs(dec1 - dec2) > radius:
        return False
    return angular_separation_deg(ra1, dec1, ra2, dec2) <= radius


class DecIndex:
    """Keys in order of declination, for the emulators' searches around a position.

    A separation is never less than the difference in declination, so a search within
    ``radius`` degrees needs only the keys whose declination is that close (two bisections),
    not every TOO and target the emulator holds. The benchmarks put thousands of TOOs through
    one emulator, in their own process: with a scan per request each reply grew slower over
    a run (3,000 alerts at 50/s: the TOO listing's median 0.8 -> 2.5 ms, the timelines'
    0.2 -> 0.8 ms), and the daemon's latency with it."""

    def __init__(self) -> None:
        self._decs: list[float] = []
        self._keys: list[int] = []

    def add(self, dec: float, key: int) -> None:
        at = bisect.bisect_right(self._decs, dec)
        self._decs.insert(at, dec)
        self._keys.insert(at, key)

    def remove(self, dec: float, key: int) -> None:
        lo, hi = bisect.bisect_left(self._decs, dec), bisect.bisect_right(self._decs, dec)
        at = self._keys.index(key, lo, hi)
        del self._decs[at], self._keys[at]

    def near(self, dec: float, radius: float) -> list[int]:
        """The keys whose declination is within ``radius`` of ``dec`` (in declination order):
        a superset of those within ``radius`` on the sky."""
        lo = bisect.bisect_left(self._decs, dec - radius)
        return self._keys[lo : bisect.bisect_right(self._decs, dec + radius)]


# (target ID, name, aliases, ra, dec, count rate, decay index): real names and positions; the
# target IDs of SMC X-3 and the GRB are the examples of swifttools' documentation.
_ARCHIVE: tuple[tuple[int, str, tuple[str, ...], float, float, float, float], ...] = (
    (945521, "SMC X-3", ("SMCX-3",), 13.02343792, -72.43450778, 2.5, 0.0),
    (13267, "GRB 200416A", (), 335.6928, -2.9097, 1.2, 1.2),
    (30354, "Cyg X-1", ("Cygnus X-1",), 299.59031591, 35.20160625, 40.0, 0.0),
    (30694, "Crab", ("Crab Nebula", "M1"), 83.63308333, 22.0145, 90.0, 0.0),
    (35014, "Sco X-1", (), 244.97945, -15.64022222, 150.0, 0.0),
    (31227, "GX 339-4", ("V821 Ara",), 255.70570833, -48.78972222, 8.0, 0.0),
    (35062, "Swift J1644+57", ("Sw J1644+57",), 251.205375, 57.58105556, 0.3, 1.5),
)


class Sky:
    """Targets and observations on one simulated clock. Thread-safe (the emulators are async,
    but tests may read it from the test thread while a server runs in another)."""

    FIRST_NEW_TARGET_ID = 3_200_001  # TOO targets are allocated from here upwards

    def __init__(
        self,
        clock: SimClock | None = None,
        *,
        with_archive: bool = True,
        names: NameResolver | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.names = names if names is not None else NameResolver.packaged()
        self._lock = threading.RLock()
        self._targets: dict[int, Target] = {}
        self._by_dec = DecIndex()
        self._next_id = self.FIRST_NEW_TARGET_ID
        if with_archive:
            self._load_archive()

    def _load_archive(self) -> None:
        base = self.clock.now() - timedelta(days=400)
        for tid, name, aliases, ra, dec, rate, decay in _ARCHIVE:
            target = Target(tid, name, ra, dec, XraySource(ra, dec, rate, decay), aliases)
            self._targets[tid] = target
            self._by_dec.add(dec, tid)
            for seg in range(3):
                start = base + timedelta(days=30 * seg + tid % 17)
                self.add_observation(tid, start=start, exposure_s=2000.0)

    # ---- writes (Swift emulator) ------------------------------------------------------------
    def add_target(
        self,
        name: str,
        ra: float,
        dec: float,
        *,
        source: XraySource | None = None,
        target_id: int | None = None,
    ) -> Target:
        with self._lock:
            if target_id is None:
                target_id = self._next_id
                self._next_id += 1
            target = Target(target_id, name, ra, dec, source or XraySource(ra, dec, 0.5, 1.0))
            if target_id in self._targets:  # the same ID again: its old position goes
                self._by_dec.remove(self._targets[target_id].dec, target_id)
            self._targets[target_id] = target
            self._by_dec.add(dec, target_id)
            return target

    def add_observation(
        self,
        target_id: int,
        *,
        start: datetime,
        exposure_s: float,
        mode: str = "PC",
        segment: int | None = None,
    ) -> Observation:
        """``segment``: the obsid's last three digits (default: the next; a BAT trigger's
        automatic observation is segment 000)."""
        with self._lock:
            target = self._targets[target_id]
            segment = target.next_segment() if segment is None else segment
            obs = Observation(
                obsid=f"{target_id:08d}{segment:03d}",
                target_id=target_id,
                start=start,
                end=start + timedelta(seconds=exposure_s * 1.6),  # orbits interrupt exposures
                exposure_s=exposure_s,
                mode=mode,
            )
            target.observations.append(obs)
            return obs

    # ---- reads (both emulators) -------------------------------------------------------------
    def get(self, target_id: int) -> Target | None:
        with self._lock:
            return self._targets.get(target_id)

    def targets(self) -> list[Target]:
        with self._lock:
            return list(self._targets.values())

    def resolve(self, name: str) -> Target | None:
        """Name lookup as a resolver would do it: case- and space-insensitive, with aliases."""
        wanted = _norm_name(name)
        with self._lock:
            for target in self._targets.values():
                if wanted in {_norm_name(n) for n in (target.name, *target.aliases)}:
                    return target
        return None

    def locate(self, name: str) -> Named | None:
        """A name's position, as the services' resolvers give it: a target's own name or alias
        first (what the archive calls it), then the name catalogue."""
        target = self.resolve(name)
        if target is not None:
            return Named(target.name, target.ra, target.dec, aliases=target.aliases)
        return self.names.resolve(name)

    def find(
        self,
        *,
        name: str | None = None,
        ra: float | None = None,
        dec: float | None = None,
        radius_deg: float = 12.0 / 60.0,  # the XRT field of view is ~23.6' across
    ) -> list[Target]:
        """Targets matching a name, or whose pointing overlaps a position (getTargs)."""
        found: dict[int, Target] = {}
        if name:
            hit = self.resolve(name)
            if hit is not None:
                found[hit.target_id] = hit
        if ra is not None and dec is not None:
            for t in self.near(ra, dec, radius_deg):
                found.setdefault(t.target_id, t)
        return sorted(found.values(), key=lambda t: t.target_id)

    def near(self, ra: float, dec: float, radius_deg: float) -> list[Target]:
        """The targets within ``radius_deg`` of a position, in no particular order."""
        with self._lock:
            candidates = [self._targets[tid] for tid in self._by_dec.near(dec, radius_deg)]
        return [t for t in candidates if within_deg(ra, dec, t.ra, t.dec, radius_deg)]

    def observations(self, target_id: int, *, completed_only: bool = True) -> list[Observation]:
        """Observations of a target; by default only those already over on the sim clock."""
        now = self.clock.now()
        with self._lock:
            target = self._targets.get(target_id)
            if target is None:
                return []
            return [o for o in target.observations if not completed_only or o.end <= now]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
