"""Emulated product-generator jobs: ownership, a per-product state machine on the sim clock.

Each product goes 1 (requested) -> 2 (queued) -> 3 (running) -> 4 (complete), or ends in -3
("no product") when its data are missing; the astrometric position waits in 5 until the
standard position is done. Nothing runs in the background: a status is *computed* from the
simulated time since submission, and an outcome is frozen the first time it is observed, so
that later observations on the shared sky do not rewrite a finished job.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from autotoo.emulators.sky import Observation, Sky, Target

CANCELLED, NO_PRODUCT, DONE, WAITING = -4, -3, 4, 5
STATUS_TEXT: Final = {
    1: "Requested",
    2: "Queued",
    3: "Running",
    4: "Complete",
    5: "Waiting for the standard position",
    -1: "Failed: the job could not be requested",
    -2: "Failed: the job could not be queued",
    -3: "No product could be built",
    -4: "Cancelled at your request",
}
MET_EPOCH: Final = datetime(2001, 1, 1, tzinfo=UTC)


def met(when: datetime) -> float:
    """Swift mission elapsed time (seconds since 2001-01-01 UTC, leap seconds ignored)."""
    return (when - MET_EPOCH).total_seconds()


@dataclass(frozen=True, slots=True)
class Timings:
    """Simulated seconds each phase takes. ``runtime`` beyond ``max_runtime`` fails with -3."""

    requested: float = 10.0
    queued: float = 20.0
    runtime: dict[str, float] = field(
        default_factory=lambda: {
            "psf": 60.0,
            "enh": 120.0,
            "xastrom": 120.0,
            "lc": 120.0,
            "spec": 240.0,
            "image": 60.0,
            "sourceDet": 300.0,
        }
    )
    max_runtime: float = 12 * 3600.0


@dataclass(slots=True)
class Job:
    job_id: int
    user: str
    name: str
    products: list[str]
    pars: dict[str, Any]
    targets: list[int]
    submitted: datetime
    url: str
    cancelled: dict[str, datetime] = field(default_factory=dict)
    outcome: dict[str, int] = field(default_factory=dict)

    def use_obs(self, short: str) -> set[str] | None:
        """Obsids a product is restricted to (``useObs`` as obsids), None for all data."""
        key = {
            "lc": "uselcobs",
            "spec": "usespecobs",
            "image": "useimobs",
            "sourceDet": "usedetobs",
        }
        raw = self.pars.get(key.get(short, "useposobs"))
        if not raw:
            return None
        ids = {s.strip() for s in str(raw).split(",")}
        return ids if all(s.isdigit() for s in ids) else None


class JobStore:
    """All jobs of the emulator. Thread-safe like the Sky it reads."""

    def __init__(self, sky: Sky, timings: Timings | None = None, *, first_id: int = 60001) -> None:
        self.sky = sky
        self.timings = timings or Timings()
        self._ids = itertools.count(first_id)
        self._jobs: dict[int, Job] = {}
        self._lock = threading.RLock()

    def create(self, **kw: Any) -> Job:
        with self._lock:
            job_id = next(self._ids)
            url = kw.pop("base_url") + f"/tprods/USERPROD_{job_id}"
            job = Job(job_id=job_id, url=url, submitted=self.sky.clock.now(), **kw)
            self._jobs[job_id] = job
            return job

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def of_user(self, user: str) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.user.lower() == user.lower()]
        return sorted(jobs, key=lambda j: j.job_id, reverse=True)

    # ---- the state machine -----------------------------------------------------------------
    def finished_after(self, short: str) -> float:
        """Sim seconds after submission at which ``short`` stops running."""
        return self._phase_end(short)[1]

    def _phase_end(self, short: str) -> tuple[float, float]:
        """(start of running, end of running) in sim seconds after submission."""
        t = self.timings
        start = t.requested + t.queued
        if short == "xastrom":
            start += t.runtime["psf"]
        return start, start + t.runtime.get(short, 60.0)

    def status(self, job: Job, short: str) -> int:
        with self._lock:
            if short in job.outcome:
                return job.outcome[short]
            now = self.sky.clock.now()
            if short in job.cancelled:
                return CANCELLED
            elapsed = (now - job.submitted).total_seconds()
            start, end = self._phase_end(short)
            queued_at = self.timings.requested
            phases = ((queued_at, 1), (queued_at + self.timings.queued, 2), (start, WAITING))
            for until, code in (*phases, (end, 3)):
                if elapsed < until:
                    return code
            job.outcome[short] = self._outcome(job, short, end)
            return job.outcome[short]

    def running_for(self, job: Job) -> timedelta:
        queue = timedelta(seconds=self.timings.requested + self.timings.queued)
        return max(timedelta(), self.sky.clock.now() - job.submitted - queue)

    def _outcome(self, job: Job, short: str, end: float) -> int:
        if end - self.timings.requested - self.timings.queued > self.timings.max_runtime:
            return NO_PRODUCT
        observations = self.data(job, short, until=job.submitted + timedelta(seconds=end))
        if not observations:
            return NO_PRODUCT
        if short in ("lc", "spec", "psf", "enh", "xastrom"):
            detectable = any(t.source.detectable for t in self.job_targets(job))
            return DONE if detectable else NO_PRODUCT
        return DONE

    def cancel(self, job: Job, short: str) -> int:
        """Cancel code: 0 cancelled, 1 already finished, 2 no such product."""
        with self._lock:
            if short not in job.products:
                return 2
            if self.status(job, short) in (1, 2, 3, WAITING):
                job.cancelled[short] = self.sky.clock.now()
                job.outcome[short] = CANCELLED
                return 0
            return 1

    # ---- data the job sees -----------------------------------------------------------------
    def job_targets(self, job: Job) -> list[Target]:
        return [t for tid in job.targets if (t := self.sky.get(tid)) is not None]

    def data(self, job: Job, short: str, *, until: datetime | None = None) -> list[Observation]:
        """Observations a product is built from: the job's targets, finished by ``until``."""
        limit = until or self.sky.clock.now()
        wanted = job.use_obs(short)
        return sorted(
            (
                o
                for t in self.job_targets(job)
                for o in self.sky.observations(t.target_id, completed_only=False)
                if o.end <= limit and (wanted is None or o.obsid in wanted)
            ),
            key=lambda o: o.start,
        )

    def active(self, job: Job) -> bool:
        return any(self.status(job, s) in (1, 2, 3, WAITING) for s in job.products)
