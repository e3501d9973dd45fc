"""The emulated Swift TOO service: decisions, TOO records and their life on the sim clock.

A submission is decided the moment it arrives (constraints are computed at that sim time). An
accepted TOO gets a TOO ID, a target (an archive target within 1' is reused, as Swift reuses
target IDs) and planned observations, all written to the shared :class:`Sky` at once; what the
listing and calendar show is then *derived* from the sim clock (approved after a delay that
depends on urgency; a segment counts as flown once its end has passed), so no background task
is needed and the UKSSDC emulator sees the same observations when they complete.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autotoo.emulators.sky import DecIndex, Observation, Sky, XraySource, within_deg
from autotoo.emulators.swift.catalog import UVOT_MODES, filters_of
from autotoo.emulators.swift.constraints import constrained_until
from autotoo.emulators.swift.forms import TooFormV1
from autotoo.emulators.swift.rules import SwiftRules
from autotoo.emulators.users import Users

RECEIVED_KEPT = 1000
_CADENCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+([a-z]+?)s?\s*$", re.IGNORECASE)
_UNIT = {
    "second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0,
    "month": 30 * 86400.0, "year": 365 * 86400.0, "orbit": 5760.0,
}  # fmt: skip


def cadence_seconds(text: str | None) -> float:
    match = _CADENCE.match(text or "")
    if match is None:
        return 86400.0
    return float(match.group(1)) * _UNIT.get(match.group(2).lower(), 86400.0)


@dataclass(slots=True)
class Decision:
    status: str  # Accepted | Validated | Rejected
    too_id: int | None = None
    jobnumber: int | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class TooEntry:
    too_id: int
    username: str
    form: TooFormV1
    timestamp: datetime
    approve_at: datetime
    target_id: int
    observations: list[Observation]

    def approved(self, now: datetime) -> bool:
        return now >= self.approve_at


@dataclass(slots=True)
class Received:
    """A request as it arrived (tests compare wire bodies with it)."""

    protocol: str
    api: str
    body: dict[str, Any]
    token: str | None = None


@dataclass(slots=True)
class _Recent:
    at: datetime
    username: str
    ra: float
    dec: float
    too_id: int
    debug: bool
    content: tuple[tuple[str, Any], ...]


class SwiftService:
    def __init__(self, sky: Sky, users: Users, rules: SwiftRules | None = None) -> None:
        self.sky = sky
        self.users = users
        self.rules = rules or SwiftRules()
        self.sessions: dict[str, str] = {}
        self.toos: dict[int, TooEntry] = {}
        # The most recent requests, for tests and debugging (bounded: `autotoo emulate` runs long).
        self.received: deque[Received] = deque(maxlen=RECEIVED_KEPT)
        # Who asked what, per authenticated request: (user, v1 API name or v2 path); a test
        # checks that each account's requests came with its own credentials (bounded too).
        self.callers: deque[tuple[str, str]] = deque(maxlen=RECEIVED_KEPT)
        # v1 jobs (the v1 routes own their shape): every job by number, and the jobs whose
        # final status has not been given yet by the raw token their client polls with.
        self.v1_jobs: dict[int, Any] = {}
        self.v1_polled: dict[str, Any] = {}
        self._too_dec = DecIndex()  # the TOOs by declination (position searches)
        # Requests within the duplicate window, oldest first, and by declination.
        self._recent: deque[_Recent] = deque()
        self._recent_by_id: dict[int, _Recent] = {}
        self._recent_dec = DecIndex()
        self._next_too = self.rules.first_too_id
        self._next_job = self.rules.first_jobnumber

    @property
    def now(self) -> datetime:
        return self.sky.clock.now()

    # ---- accounts ---------------------------------------------------------------------------
    def check_secret(self, username: str, secret: str) -> bool:
        if username == "anonymous":
            return secret == "anonymous"  # noqa: S105 -- the protocol's public anonymous key
        known = self.users.swift_secret(username)
        return known is not None and secrets.compare_digest(known, secret)

    def new_session(self, username: str) -> str:
        token = secrets.token_urlsafe(24)
        self.sessions[token] = username
        return token

    def next_jobnumber(self) -> int:
        self._next_job += 1
        return self._next_job

    # ---- decisions --------------------------------------------------------------------------
    def review(self, form: TooFormV1) -> list[str]:
        """Content checks a validate-only request also gets (no time-dependent decisions)."""
        errors = form.problems()
        code = form.uvot_code
        if isinstance(code, int) and code not in UVOT_MODES:
            errors.append(f"UVOT mode 0x{code:04x} is not a valid UVOT mode.")
        elif form.instrument != "BAT" and self.bright_star(form.ra, form.dec) is not None:
            errors.append(
                "The following UVOT filters are not allowed due to a bright star: "
                + ", ".join(filters_of(code))
                + "."
            )
        return errors

    def bright_star(self, ra: float, dec: float) -> str | None:
        radius = self.rules.bright_star_radius_arcmin / 60.0
        for name, s_ra, s_dec, _vmag in self.rules.bright_stars:
            if within_deg(ra, dec, s_ra, s_dec, radius):
                return name
        return None

    def submit(self, form: TooFormV1, *, username: str) -> Decision:
        if username == "anonymous" and self.rules.anonymous_too_refused:
            return Decision("Rejected", errors=["Anonymous users cannot submit TOO requests."])
        if form.username != username:
            return Decision("Rejected", errors=["TOO username does not match the logged-in user."])
        errors = self.review(form)
        if errors:
            return Decision("Rejected", errors=errors)
        if form.validate_only:
            return Decision("Validated")
        now = self.now
        until = None
        if self.rules.constraints:
            until = constrained_until(self.rules, form.ra, form.dec, now)
        if until is not None and form.urgency <= 2:
            hours = "4-hour" if form.urgency <= 1 else "24-hour"
            when = until.strftime("%Y-%m-%d %H:%M:%S")
            error = (
                f"ERROR: Object currently constrained until {when}, "
                f"so {hours} response TOO rejected."
            )
            return Decision("Rejected", errors=[error])
        if (dup := self._duplicate(form, username, now)) is not None:
            return Decision("Rejected", errors=[f"TOO already recently submitted. TOO ID: {dup}"])
        too_id = self._next_too
        self._next_too += 1
        recent = _Recent(now, username, form.ra, form.dec, too_id, form.debug, form.content())
        self._recent.append(recent)
        self._recent_by_id[too_id] = recent
        self._recent_dec.add(form.dec, too_id)
        if not form.debug:  # debug: acts like a submission, but no TOO exists afterwards
            self._accept(too_id, form, username, now, until)
        return Decision("Accepted", too_id=too_id)

    def _duplicate(self, form: TooFormV1, username: str, now: datetime) -> int | None:
        """The TOO this submission repeats: same user, same debug flag, same content, within
        the radius and the window. A changed request (the walkthrough's urgency 2 -> 4 after a
        refusal) is a new request, not a repeat."""
        content = form.content()
        radius = self.rules.duplicate_radius_arcmin / 60.0
        window = self.rules.duplicate_window
        while self._recent and now - self._recent[0].at > window:  # forget the old
            old = self._recent.popleft()
            del self._recent_by_id[old.too_id]
            self._recent_dec.remove(old.dec, old.too_id)
        nearby = (self._recent_by_id[i] for i in self._recent_dec.near(form.dec, radius))
        repeats = [
            r.too_id
            for r in nearby
            if within_deg(r.ra, r.dec, form.ra, form.dec, radius)
            and now - r.at <= window  # a clock set back leaves the deque out of order
            and r.username == username
            and r.debug == form.debug
            and r.content == content
        ]
        return max(repeats, default=None)  # the latest

    def _accept(
        self, too_id: int, form: TooFormV1, username: str, now: datetime, until: datetime | None
    ) -> None:
        approve_at = now + self.rules.approve_after.get(form.urgency, timedelta(days=1))
        start = max(approve_at + self.rules.slew_after_approval, until or approve_at)
        matches = [
            t
            for t in self.sky.find(ra=form.ra, dec=form.dec, radius_deg=1.0 / 60.0)
            if t.target_id < Sky.FIRST_NEW_TARGET_ID or t.name == form.target_name
        ]
        if matches:
            target = matches[0]
        else:
            rate = _number(form.xrt_countrate) or 0.5
            source = XraySource(form.ra, form.dec, rate, 1.0 if form.target_type == "GRB" else 0.5)
            target = self.sky.add_target(form.target_name, form.ra, form.dec, source=source)
        mode = "WT" if form.xrt_mode == 6 else "PC"
        step = timedelta(seconds=max(cadence_seconds(form.monitoring_freq), 5760.0))
        observations = [
            self.sky.add_observation(
                target.target_id, start=start + i * step, exposure_s=form.per_visit, mode=mode
            )
            for i in range(form.num_of_visits)
        ]
        self.toos[too_id] = TooEntry(
            too_id, username, form, now, approve_at, target.target_id, observations
        )
        self._too_dec.add(form.dec, too_id)

    # ---- reads ------------------------------------------------------------------------------
    def listing(
        self,
        *,
        viewer: str,
        too_id: int | None = None,
        owner: str | None = None,
        begin: datetime | None = None,
        length_days: float | None = None,
        year: int | None = None,
        ra: float | None = None,
        dec: float | None = None,
        radius: float | None = None,
        limit: int | None = None,
    ) -> list[TooEntry]:
        """Approved TOOs for everyone; one's own also before approval (so a submitter can find
        a TOO whose acceptance reply it lost)."""
        now = self.now
        out = []
        window = (begin, begin + timedelta(days=length_days or 1.0)) if begin else None
        if too_id is not None:
            one = self.toos.get(too_id)
            entries = [one] if one is not None else []
        elif ra is not None and dec is not None:  # only those near enough in declination
            entries = [self.toos[i] for i in self._too_dec.near(dec, radius or 0.2)]
        else:
            entries = list(self.toos.values())
        for entry in entries:
            if owner is not None and entry.username != owner:
                continue
            if year is not None and entry.timestamp.year != year:
                continue
            if window is not None and not window[0] <= entry.timestamp <= window[1]:
                continue
            if (
                ra is not None
                and dec is not None
                and not within_deg(ra, dec, entry.form.ra, entry.form.dec, radius or 0.2)
            ):
                continue
            if not (entry.approved(now) or entry.username == viewer):
                continue
            out.append(entry)
        out.sort(key=lambda e: e.too_id, reverse=True)  # newest first, as the service lists
        return out[:limit] if limit else out

    def flown(self, obs: Observation) -> bool:
        return obs.end <= self.now


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
