"""The processor's side of association: a round of alerts -> the transient of each.

It works from the store, like the processor: the events already associated keep their
transient; a new event is judged (:func:`autotoo.pipeline.transients.associate`) against
the stored transients whose triggers reach within the widest window of its time, and against
those this round has created or changed so far, in arrival order. Nothing is written here:
each alert's :class:`AssociationRecord` is committed with the alert itself, so a crash before
that commit leaves no trace and the same alerts are associated the same way again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from autotoo.alerts import AlertParseError, NormalizedAlert, parse_alert
from autotoo.alerts.skymaps import region_of
from autotoo.alerts.values import parse_utc
from autotoo.pipeline.transients import (
    MISSION_CLASSES,
    AssociationSettings,
    Member,
    Transient,
    associate,
    member_of,
    mission_class,
    stated_error,
    transient_key,
)
from autotoo.store.repository import Repository
from autotoo.store.rows import AssociationRecord, StoredMember

if TYPE_CHECKING:
    from autotoo.alerts.regions import Region


class Associator:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    def assign(
        self, alerts: Sequence[tuple[int, NormalizedAlert]], settings: AssociationSettings
    ) -> dict[int, AssociationRecord]:
        """The association of each (inbox id, alert), in arrival order."""
        known = self.repo.event_transients(sorted({a.group_key for _, a in alerts}))
        transients = self._candidates([a for _, a in alerts], known, settings)
        held = _Held(settings, known, transients, self._region)
        return {inbox_id: held.assign(alert) for inbox_id, alert in alerts}

    def _candidates(
        self,
        alerts: Sequence[NormalizedAlert],
        known: dict[str, tuple[str, bool, str]],
        settings: AssociationSettings,
    ) -> dict[str, Transient]:
        """The stored transients of the round's known events, and those any new event of
        the round could join (two reads)."""
        new = [a for a in alerts if a.group_key not in known]
        times = [t for a in new if (t := a.trigger_time or a.issued_time) is not None]
        keys = sorted({key for key, _, _ in known.values()})
        stored_members = self.repo.transient_members(keys=keys) if keys else []
        partners = _partners(new, settings)
        if settings.enabled and times and partners:
            widest = settings.widest
            stored_members += self.repo.transient_members(
                min(times) - widest, max(times) + widest, missions=partners
            )
        found: dict[str, Transient] = {}
        seen: set[str] = set()
        for stored in stored_members:
            if stored.group_key in seen:
                continue
            seen.add(stored.group_key)
            transient = found.get(stored.transient_key)
            if transient is None:
                transient = found[stored.transient_key] = Transient(
                    stored.transient_key, [], None, None
                )
            transient.add(_member(stored))
        return found

    def _region(self, member: Member) -> Region | None:
        """A member's region, from its alert (parsed again from the store when stored)."""
        alert = member.alert
        if alert is None and member.alert_id is not None:
            source = self.repo.alert_source(member.alert_id)
            if source is None:
                return None
            try:
                alert = parse_alert(source[1], source[0])
            except AlertParseError:
                return None
        return region_of(alert)[0] if alert is not None else None


def _partners(alerts: Sequence[NormalizedAlert], settings: AssociationSettings) -> list[str]:
    """The missions any of these alerts could be associated with (never its own)."""
    found: set[str] = set()
    kinds = {(a.mission, mission_class(a.mission, a.raw, a.classification)) for a in alerts}
    for own, mine in kinds:
        if mine is None:
            continue
        for mission, theirs in MISSION_CLASSES.items():
            if mission == own:
                continue
            classes = (theirs, "gw_burst") if theirs == "gw" else (theirs,)
            if any(settings.window(c, mine) is not None for c in classes):
                found.add(mission)
    return sorted(found)


class _Held:
    """Transients held in memory while alerts are associated in arrival order: the
    processor's round (over what the store holds) and a whole replay."""

    def __init__(
        self,
        settings: AssociationSettings,
        known: dict[str, tuple[str, bool, str]],
        transients: dict[str, Transient],
        region_of_member: Callable[[Member], Region | None],
    ) -> None:
        self.settings = settings
        self.known = known  # group key -> (transient key, joined, why)
        self.transients = transients  # by key, in the order they were made
        self.region_of_member = region_of_member
        self.widest = settings.widest
        self._partners: dict[str, frozenset[str]] = {}

    def assign(self, alert: NormalizedAlert) -> AssociationRecord:
        """The association of the alert's event (``first``: decided by this alert)."""
        member = member_of(alert)
        stored = self.known.get(alert.group_key)
        first = stored is None
        if stored is not None:
            key, joined, why = stored
        elif alert.kind == "retraction":
            key, joined = transient_key(alert.group_key), False
            why = "new transient: its first notice is a retraction"
        else:
            mine = self._partners.get(alert.mission)
            if mine is None:
                mine = self._partners[alert.mission] = frozenset(_partners([alert], self.settings))
            # Only the transients one of whose missions this one could join, and whose
            # time span it reaches (a round of one mission's events compares none).
            near = [
                t
                for t in self.transients.values()
                if not t.missions.isdisjoint(mine) and _reaches(t, member, self.widest)
            ]
            found = associate(
                alert,
                near,
                self.settings,
                region_of_alert=lambda: region_of(alert)[0],
                region_of_member=self.region_of_member,
            )
            key, joined, why = found.key, found.joined, found.reason
        self.known[alert.group_key] = (key, joined, why)
        transient = self.transients.setdefault(key, Transient(key, [], None, None))
        if first:
            transient.add(member)
        else:
            transient.relocate(member)
        return AssociationRecord(
            transient_key=key,
            first=first,
            joined=joined,
            reason=why,
            trigger_time=member.time,
            ra=alert.ra,
            dec=alert.dec,
            error_deg=alert.error_deg,
            members=tuple((m.group_key, m.mission) for m in transient.members),
        )


class MemoryAssociator:
    """Association without a store, for ``autotoo replay``: the same judgement
    (:func:`associate`, the same candidates), each event decided at its first alert and
    kept, every transient held in memory. Its records are the processor's, so a replayed
    rule sees the same ``event.transient``."""

    def __init__(self, settings: AssociationSettings) -> None:
        self._held = _Held(settings, {}, {}, lambda m: region_of(m.alert)[0] if m.alert else None)

    def assign(self, alert: NormalizedAlert) -> AssociationRecord:
        """The association of the alert's event (``first``: decided by this alert)."""
        return self._held.assign(alert)


def _reaches(transient: Transient, member: Member, widest: timedelta) -> bool:
    if member.time is None or transient.trigger_time is None or transient.last_trigger is None:
        return False
    return transient.trigger_time - widest <= member.time <= transient.last_trigger + widest


def _time(value: Any) -> datetime | None:
    return parse_utc(value, "trigger_time") if isinstance(value, str) else None


def _member(stored: StoredMember) -> Member:
    n = stored.normalized
    error, level = stated_error(
        str(n.get("notice_type") or ""), n.get("error_deg"), n.get("error_confidence")
    )
    return Member(
        group_key=stored.group_key,
        mission=stored.mission,
        klass=mission_class(stored.mission, None, n.get("classification") or {}),
        instrument=n.get("instrument"),
        time=_time(n.get("trigger_time")) or _time(n.get("issued_time")),
        ra=n.get("ra"),
        dec=n.get("dec"),
        error_deg=error,
        level=level,
        alert_id=stored.alert_id,
        has_skymap=bool(n.get("has_skymap")),
        is_test=bool(n.get("is_test")),
    )
