"""Transients: the events of several missions that are one source on the sky (pure).

One burst seen by Swift BAT, Fermi GBM, SVOM and Einstein Probe is four *events* (each
mission names its own trigger); a request is wanted once for the *transient*. An event is
associated when its first alert is evaluated, and never moves afterwards: it joins the
transient one of whose events triggered within the time window of their two missions'
classes, and whose every localised event's region is compatible with its own; otherwise it
starts a transient of its own. Nothing is merged later (two transients that a third event
would bridge stay two), and every association keeps the sentence that explains it.

Windows are per pair of mission *classes* (:data:`MISSION_CLASSES`), signed: ``gw-grb:
[-1, 5]`` means the GRB triggered from 1 s before to 5 s after the GW candidate (the LVK/RAVEN
convention). Regions are compared at the ``level`` containment (default 99%): two circles
are compatible when their centres are at most the sum of their radii at that level apart; a
sky map when it contains the other's centre at that level, or its probability within the
other's radius is at least ``1 - level``. An alert whose error is not stated is taken to be
``unstated_error`` wide, and an alert without a position is associated by time alone (and
says so), since it cannot contradict a position.

Circles are pure Python; numpy (through :mod:`autotoo.alerts.regions`) is imported only when
a sky map is involved, which its rules' region functions import anyway.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.values import separation_deg

if TYPE_CHECKING:
    from autotoo.alerts.regions import Region

#: Mission slug -> association class. Missions not listed are never associated.
MISSION_CLASSES: Mapping[str, str] = {
    "lvk": "gw",
    "swift": "grb",
    "fermi": "grb",
    "svom": "grb",
    "integral": "grb",
    "agile": "grb",
    "konus": "grb",
    "gecam": "grb",
    "calet": "grb",
    "glowbug": "grb",
    "burstcube": "grb",
    "einstein_probe": "xray",
    "maxi": "xray",
    "icecube": "neutrino",
    "km3net": "neutrino",
    "superk": "neutrino",
    "snews": "neutrino",
}
CLASSES = ("gw", "gw_burst", "grb", "xray", "neutrino")

#: Default windows, seconds, ``t(second) - t(first)`` for the pair ``first-second``.
DEFAULT_WINDOWS: Mapping[str, tuple[float, float]] = {
    # LVK CBC - GRB: the GRB from 1 s before to 5 s after the GW (LVK user guide, RAVEN).
    "gw-grb": (-1.0, 5.0),
    # LVK Burst - GRB (LVK user guide, RAVEN).
    "gw_burst-grb": (-60.0, 600.0),
    # LVK - neutrino track search: 1000 s centred on the GW (IceCube's LVK search).
    "gw-neutrino": (-500.0, 500.0),
    "gw_burst-neutrino": (-500.0, 500.0),
    # No published window (GBM-BAT, SVOM-Fermi): a long GRB lasts minutes and instruments
    # trigger on different pulses of it, so five minutes either way.
    "grb-grb": (-300.0, 300.0),
    # Einstein Probe WXT rates come from images accumulated for up to 20 minutes, and EP
    # states a T0 apart from its trigger time: twenty minutes either way.
    "grb-xray": (-1200.0, 1200.0),
    "xray-xray": (-1200.0, 1200.0),
    # Mirrors the neutrino track search window for a GRB (no published rule).
    "grb-neutrino": (-500.0, 500.0),
}


#: Systematic errors (degrees, 1 sigma) added in quadrature to what a notice states, with the
#: containment its statistical error is stated at. Fermi GBM: the core of the systematic
#: model of Connaughton et al. 2015 (ApJS 216, 32), whose 10-20% tail is left out, so that a
#: GBM position stays informative; the statistical error GBM states is 1 sigma.
SYSTEMATICS: Mapping[str, tuple[float, float]] = {
    "FERMI_GBM_ALERT": (7.52, 0.68),
    "FERMI_GBM_FLT_POS": (7.52, 0.68),
    "FERMI_GBM_GND_POS": (3.72, 0.68),
    "FERMI_GBM_FIN_POS": (3.71, 0.68),
    "FERMI_GBM_SUBTHRESH": (3.72, 0.68),
}


def mission_class(
    mission: str, raw: object = None, classification: Mapping[str, float] | None = None
) -> str | None:
    """The association class of a mission. An LVK alert of the Burst group is ``gw_burst``:
    its ``event.group`` says so, and a stored alert (no payload at hand) tells it by having
    no source classification, which only CBC alerts carry."""
    found = MISSION_CLASSES.get(mission)
    if found != "gw":
        return found
    event = raw.get("event") if isinstance(raw, dict) else None
    if isinstance(event, dict) and "group" in event:
        return "gw_burst" if str(event["group"]).lower() == "burst" else "gw"
    return "gw" if classification or classification is None else "gw_burst"


@dataclass(frozen=True, slots=True)
class AssociationSettings:
    enabled: bool = True
    windows: Mapping[str, tuple[float, float]] = field(default_factory=lambda: DEFAULT_WINDOWS)
    level: float = 0.99
    unstated_error_deg: float = 1.0

    def window(self, first: str, second: str) -> tuple[float, float] | None:
        """The window of ``t(second) - t(first)``, mirrored when configured the other way."""
        found = self.windows.get(f"{first}-{second}")
        if found is not None:
            return found
        mirrored = self.windows.get(f"{second}-{first}")
        return (-mirrored[1], -mirrored[0]) if mirrored is not None else None

    @property
    def widest(self) -> timedelta:
        return timedelta(seconds=max((max(-lo, hi) for lo, hi in self.windows.values()), default=0))


@dataclass(frozen=True, slots=True)
class Member:
    """One event of a transient, as association needs it (its best or latest alert)."""

    group_key: str
    mission: str
    klass: str | None
    instrument: str | None
    time: datetime | None
    ra: float | None
    dec: float | None
    error_deg: float | None
    level: float  # the containment its error is stated at
    alert_id: int | None  # the alert its region comes from (None: in this round, unstored)
    has_skymap: bool = False
    is_test: bool = False
    alert: NormalizedAlert | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class Transient:
    """A transient as the processor holds it while associating a round of alerts."""

    key: str
    members: list[Member]
    trigger_time: datetime | None
    last_trigger: datetime | None
    ra: float | None = None
    dec: float | None = None
    error_deg: float | None = None

    def add(self, member: Member) -> None:
        self.members.append(member)
        when = member.time
        if when is not None:
            self.trigger_time = min(self.trigger_time or when, when)
            self.last_trigger = max(self.last_trigger or when, when)
        self.better(member.ra, member.dec, member.error_deg)

    def relocate(self, member: Member) -> None:
        """A later alert of one of its events: the event is located by it when it is
        located better (the store's ``best_alert_id`` rule: the smallest stated error)."""
        for index, old in enumerate(self.members):
            if old.group_key != member.group_key:
                continue
            if (
                member.ra is not None
                and member.error_deg is not None
                and (old.error_deg is None or old.ra is None or member.error_deg < old.error_deg)
            ):
                self.members[index] = member
            break
        self.better(member.ra, member.dec, member.error_deg)

    def better(self, ra: float | None, dec: float | None, error_deg: float | None) -> bool:
        """Take this position if it is the best so far; True when it was taken."""
        if ra is None or dec is None or error_deg is None:
            return False
        if self.error_deg is not None and error_deg >= self.error_deg:
            return False
        self.ra, self.dec, self.error_deg = ra, dec, error_deg
        return True


@dataclass(frozen=True, slots=True)
class Association:
    key: str
    joined: bool
    reason: str


def stated_error(
    notice_type: str, error_deg: float | None, confidence: float | None
) -> tuple[float | None, float]:
    """(radius, containment) of a position: as stated, with the notice type's systematic
    error (:data:`SYSTEMATICS`) added in quadrature; 90% when the alert does not say."""
    systematic = SYSTEMATICS.get(notice_type)
    if systematic is None:
        return error_deg, confidence or 0.9
    sys_deg, level = systematic
    return math.hypot(error_deg or 0.0, sys_deg), confidence or level


def member_of(alert: NormalizedAlert, alert_id: int | None = None) -> Member:
    error, level = stated_error(alert.notice_type, alert.error_deg, alert.error_confidence)
    return Member(
        group_key=alert.group_key,
        mission=alert.mission,
        klass=mission_class(alert.mission, alert.raw, alert.classification),
        instrument=alert.instrument,
        time=alert.trigger_time or alert.issued_time,
        ra=alert.ra,
        dec=alert.dec,
        error_deg=error,
        level=level,
        alert_id=alert_id,
        has_skymap=alert.skymap_b64 is not None,
        is_test=alert.is_test,
        alert=alert,
    )


def transient_key(group_key: str) -> str:
    return f"T:{group_key}"


RegionOf = Callable[[Member], "Region | None"]


def associate(
    alert: NormalizedAlert,
    candidates: Sequence[Transient],
    settings: AssociationSettings,
    *,
    region_of_alert: Callable[[], Region | None],
    region_of_member: RegionOf,
) -> Association:
    """The transient the alert's (new) event belongs to: the best-matching candidate that
    it is compatible with, else a new one. ``candidates`` in a deterministic order."""
    me = member_of(alert)
    own = transient_key(alert.group_key)
    if not settings.enabled:
        return Association(own, joined=False, reason="new transient: association is off")
    if me.klass is None:
        return Association(
            own, joined=False, reason=f"new transient: mission {alert.mission!r} is not associated"
        )
    if me.time is None:
        return Association(own, joined=False, reason="new transient: the alert states no time")
    best: tuple[float, str, str] | None = None
    refused: list[str] = []
    for transient in candidates:
        score, why = _judge(me, transient, settings, region_of_alert, region_of_member)
        if score is None:
            refused.append(f"not {transient.key}: {why}")
        elif best is None or score < best[0]:
            best = (score, transient.key, why)
    if best is None:
        return Association(own, joined=False, reason=_alone(refused))
    return Association(best[1], joined=True, reason=f"joined {best[1]} because {best[2]}")


def _alone(refused: Sequence[str]) -> str:
    if not refused:
        return "new transient: no other mission's event triggered near this time"
    more = f"; and {len(refused) - 3} more" if len(refused) > 3 else ""
    return "new transient: " + "; ".join(refused[:3]) + more


def _judge(
    me: Member,
    transient: Transient,
    settings: AssociationSettings,
    region_of_alert: Callable[[], Region | None],
    region_of_member: RegionOf,
) -> tuple[float | None, str]:
    """(score: the smallest |dt| as a fraction of its window, why); score None: apart.

    In time with at least one of its events; in position with every localised one.
    """
    if any(member.is_test != me.is_test for member in transient.members):
        return None, "a test alert never joins a real one, nor the other way round"
    timed: tuple[float, str] | None = None
    for member in transient.members:
        if member.mission == me.mission or member.klass is None or member.time is None:
            if member.mission == me.mission:
                # A mission's own trigger ids already say it is another event.
                return None, f"{member.group_key} is another {me.mission} event"
            continue
        window = settings.window(member.klass, me.klass or "")
        if window is None:
            continue
        dt = (me.time - member.time).total_seconds() if me.time else math.inf
        if not window[0] <= dt <= window[1]:
            continue
        score = abs(dt) / max(window[1] - window[0], 1e-9)
        if timed is None or score < timed[0]:
            label = _label(member)
            when = f"{abs(dt):.1f} s {'after' if dt >= 0 else 'before'}"
            pair = f"{member.klass}-{me.klass}"
            timed = (
                score,
                f"it triggered {when} {label} (window {window[0]:+g}…{window[1]:+g} s for {pair})",
            )
    if timed is None:
        return None, "none of its events triggered within the window of this pair"
    checked = []
    for member in transient.members:
        found = _compatible(me, member, settings, region_of_alert, region_of_member)
        if found is None:
            continue
        if not found[0]:
            return None, found[1]
        checked.append(found[1])
    if not checked:
        return timed[0], f"{timed[1]}; no positions to compare"
    return timed[0], f"{timed[1]}; {'; '.join(checked)}"


def _label(member: Member) -> str:
    who = f"{member.mission} {member.instrument}" if member.instrument else member.mission
    return f"{member.group_key} ({who})"


def _radius(error_deg: float | None, stated: float, level: float, unstated: float) -> float:
    if error_deg is None or error_deg <= 0:
        return unstated
    return error_deg * math.sqrt(math.log1p(-level) / math.log1p(-stated))


def _compatible(
    me: Member,
    member: Member,
    settings: AssociationSettings,
    region_of_alert: Callable[[], Region | None],
    region_of_member: RegionOf,
) -> tuple[bool, str] | None:
    """Are the two regions compatible (and how it was judged)? None: nothing to compare."""
    level = settings.level
    if me.has_skymap or member.has_skymap:
        found = _compatible_maps(me, member, level, settings, region_of_alert, region_of_member)
        if found is not None:
            return found
    if me.ra is None or me.dec is None or member.ra is None or member.dec is None:
        return None
    sep = separation_deg(me.ra, me.dec, member.ra, member.dec)
    mine = _radius(me.error_deg, me.level, level, settings.unstated_error_deg)
    theirs = _radius(member.error_deg, member.level, level, settings.unstated_error_deg)
    ok = sep <= mine + theirs
    return ok, (
        f"{_arc(sep)} from {member.group_key}'s position, "
        f"{'within' if ok else 'beyond'} their {level:.0%} radii ({_arc(theirs)} + {_arc(mine)})"
    )


def _compatible_maps(
    me: Member,
    member: Member,
    level: float,
    settings: AssociationSettings,
    region_of_alert: Callable[[], Region | None],
    region_of_member: RegionOf,
) -> tuple[bool, str] | None:
    from autotoo.alerts import regions  # noqa: PLC0415 numpy: only when a map is involved

    mine, theirs = region_of_alert(), region_of_member(member)
    if mine is None or theirs is None:
        return None
    maps = [r for r in (mine, theirs) if isinstance(r, regions.SkyMapRegion)]
    if len(maps) == 2:
        a_ra, a_dec = regions.max_prob_position(mine)
        b_ra, b_dec = regions.max_prob_position(theirs)
        ok = regions.contains(theirs, a_ra, a_dec, level) or regions.contains(
            mine, b_ra, b_dec, level
        )
        return ok, f"the two sky maps {'overlap' if ok else 'do not overlap'} at {level:.0%}"
    if not maps:
        return None  # the map could not be read: both are compared as circles instead
    skymap, other, other_member = (mine, theirs, member) if maps[0] is mine else (theirs, mine, me)
    ra, dec = regions.max_prob_position(other)
    radius = _radius(other_member.error_deg, other_member.level, level, settings.unstated_error_deg)
    inside = regions.contains(skymap, ra, dec, level)
    caught = regions.prob_in_fov(skymap, ra, dec, radius) if not inside else 1.0
    ok = inside or caught >= 1.0 - level
    where = f"{member.group_key}'s sky map" if skymap is theirs else "its sky map"
    if inside:
        return True, f"the position lies inside {where}'s {level:.0%} region"
    return ok, f"{where} holds {caught:.1%} of its probability within {_arc(radius)} of it"


def _arc(deg: float) -> str:
    if deg >= 1.0:
        return f"{deg:.2f} deg"
    if deg * 60 >= 1.0:
        return f"{deg * 60:.1f} arcmin"
    return f"{deg * 3600:.1f} arcsec"
