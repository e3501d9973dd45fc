"""The emulated service's logic, independent of HTTP: submit, status, cancel, products, files.

Every method returns the reply body without ``OK``/``APIVersion`` (routes.py adds those) or
raises :class:`ServiceError`, which becomes ``OK: 0`` with ``ERROR`` (and ``listErr``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from autotoo.emulators.sky import Observation, Sky, Target
from autotoo.emulators.ukssdc import archives, synth
from autotoo.emulators.ukssdc.jobs import STATUS_TEXT, WAITING, Job, JobStore, Timings, met
from autotoo.emulators.ukssdc.validation import (
    PROBLEMS,
    check_submission,
    job_pars,
    requested_products,
    truthy,
)
from autotoo.emulators.users import Users
from autotoo.xrtrequest.params import PRODUCTS, product

CANCEL_TEXT: Final = {
    0: "Job cancelled OK",
    1: "Job could not be cancelled - has it already finished?",
    2: "There is no record of this product for this job",
}
_LONG: Final = {p.short: p.long for p in PRODUCTS}
_ACTIVE: Final = (1, 2, 3, WAITING)
POSITIONS: Final = ("psf", "enh", "xastrom")


@dataclass(slots=True)
class ServiceError(Exception):
    error: str
    list_err: list[dict[str, Any]] = field(default_factory=list)


class XrtService:
    """``queue_limit``: active jobs a user may have (the real, undisclosed limit; None = off)."""

    def __init__(
        self,
        sky: Sky,
        users: Users,
        timings: Timings | None = None,
        *,
        queue_limit: int | None = 20,
    ) -> None:
        self.sky = sky
        self.users = users
        self.jobs = JobStore(sky, timings)
        self.queue_limit = queue_limit

    # ---- identity --------------------------------------------------------------------------
    def user(self, body: Mapping[str, Any]) -> str:
        user = str(body.get("UserID", ""))
        if not self.users.ukssdc_registered(user):
            raise ServiceError(f"The user `{user}` is not recognised / validated")
        return user

    def job(self, body: Mapping[str, Any], key: str = "JobID") -> Job:
        user = self.user(body)
        raw = str(body.get(key, "")).strip()
        if not raw.isdigit():
            raise ServiceError(f"`{raw}` is not a valid job ID")
        job = self.jobs.get(int(raw))
        if job is None:
            raise ServiceError(f"Job {int(raw)} does not exist")
        if job.user.lower() != user.lower():
            raise ServiceError(f"Job {job.job_id} is not owned by user {user}")
        return job

    # ---- submit ----------------------------------------------------------------------------
    def submit(self, body: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        user = self.user(body)
        products = requested_products(body)
        if not products:
            raise ServiceError("You have not requested any products.")
        problems = check_submission(body, products)
        if problems.needed or problems.invalid:
            raise ServiceError(PROBLEMS, problems.list_err())
        active = sum(1 for j in self.jobs.of_user(user) if self.jobs.active(j))
        if self.queue_limit is not None and active >= self.queue_limit:
            raise ServiceError(
                f"You already have {active} jobs in the queue; please wait for some of them "
                "to finish before submitting more."
            )
        resolved: dict[str, Any] = {}
        name = str(body["name"])
        ra, dec = body.get("RA"), body.get("Dec")
        if truthy(body.get("getCoords")):
            hit = self.sky.locate(name)
            if hit is None:
                raise ServiceError(f"Could not resolve the name `{name}`.")
            ra, dec = hit.ra, hit.dec
            resolved |= {"RA": f"{ra:.5f}", "Dec": f"{dec:.5f}"}
        if truthy(body.get("getTargs")):
            found = self.sky.find(
                name=name,
                ra=float(ra) if ra is not None else None,
                dec=float(dec) if dec is not None else None,
            )
            if not found:
                raise ServiceError(
                    "No targetIDs could be found matching the name or position supplied."
                )
            targets = [t.target_id for t in found]
        else:
            targets = [int(t) for t in str(body["targ"]).split(",")]
        resolved["targ"] = ",".join(f"{t:08d}" for t in targets)
        if truthy(body.get("getT0")):
            first = self._first_observation(targets)
            if first is not None:
                resolved["Tstart"] = f"{met(first.start):.3f}"
        shorts = [p.short for p in products]
        if "xastrom" in shorts and "psf" not in shorts:
            shorts.insert(shorts.index("xastrom"), "psf")
        job = self.jobs.create(
            user=user, name=name, products=shorts, pars={}, targets=targets, base_url=base_url
        )
        job.pars = job_pars(body, products, job_id=job.job_id) | resolved
        return {"URL": job.url, "JobID": str(job.job_id), "jobPars": job.pars}

    def _first_observation(self, targets: list[int]) -> Observation | None:
        observations = [o for t in targets for o in self.sky.observations(t)]
        return min(observations, key=lambda o: o.start, default=None)

    # ---- status and cancel -----------------------------------------------------------------
    def status(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = self.job(body)
        what = [w for w in str(body.get("what", "")).split(",") if w]
        progress_for = set(str(body.get("whatProg", "")).split(","))
        out: dict[str, Any] = {"JobID": job.job_id}
        for short in what:
            if short not in job.products:
                out[short] = {
                    "statusCode": None,
                    "statusText": "Unknown status",
                    "progress": {"GotProgress": 0},
                }
                continue
            code = self.jobs.status(job, short)
            out[short] = {
                "statusCode": code,
                "statusText": STATUS_TEXT[code],
                "progress": self._progress(job, short, code, wanted=short in progress_for),
            }
        return out

    def _progress(self, job: Job, short: str, code: int, *, wanted: bool) -> dict[str, Any]:
        if not wanted:
            return {"GotProgress": 0}
        if code not in _ACTIVE:
            return {"GotProgress": 2}
        if code in (1, 2):
            return {"GotProgress": 1, "PreProgress": "Your job is waiting in the queue."}
        running = int(self.jobs.running_for(job).total_seconds())
        label = f"Building the {product(short).description}"
        return {
            "GotProgress": 1,
            "ProgressSteps": [
                {"StepLabel": "Identifying the data to use", "StepStatus": 2},
                {
                    "StepLabel": label,
                    "StepStatus": 1,
                    "StepExtra": "processing observations",
                    "SubStep": [{"StepLabel": "Extracting events", "StepStatus": 2}],
                },
                {"StepLabel": "Tidying up", "StepStatus": 0},
            ],
            "TimeRunning": f"{running // 3600:02d}:{running // 60 % 60:02d}:{running % 60:02d}",
        }

    def cancel(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = self.job(body)
        codes = {s: self.jobs.cancel(job, s) for s in str(body.get("what", "")).split(",") if s}
        return {
            "OK": 1 if codes and all(c == 0 for c in codes.values()) else 2,
            "JobID": job.job_id,
            "status": {s: CANCEL_TEXT[c] for s, c in codes.items()},
            "statusCodes": codes,
        }

    # ---- products --------------------------------------------------------------------------
    def _ready(self, job: Job, short: str) -> bool:
        """True when built; False when the product failed; raises when absent or running."""
        desc = product(short).description
        if short not in job.products:
            raise ServiceError(f"Job {job.job_id} did not request a {desc}.")
        code = self.jobs.status(job, short)
        if code in _ACTIVE:
            raise ServiceError(f"The {desc} for job {job.job_id} is not complete yet.")
        return code == 4

    def inputs(self, job: Job, short: str) -> tuple[Target, list[Observation]]:
        until = job.submitted + timedelta(seconds=self.jobs.finished_after(short))
        observations = self.jobs.data(job, short, until=until)
        targets = self.jobs.job_targets(job)
        hits = {o.target_id for o in observations}
        target = next((t for t in targets if t.target_id in hits and t.source.detectable), None)
        return target or targets[0], observations

    def position(self, body: Mapping[str, Any], short: str) -> dict[str, Any]:
        job = self.job(body)
        fix = self.position_of(job, short) if self._ready(job, short) else None
        return {"GotPos": 0} if fix is None else {"GotPos": 1, **fix}

    def position_of(self, job: Job, short: str) -> dict[str, Any] | None:
        target, observations = self.inputs(job, short)
        fix = synth.position(job, short, target, observations)
        out: dict[str, Any] = {
            "RA": f"{fix.ra:.5f}",
            "Dec": f"{fix.dec:.5f}",
            "Err90": f"{fix.err90:.1f}",
        }
        if short != "enh":
            from_sxps = (
                truthy(job.pars.get("useSXPS")) and target.target_id < Sky.FIRST_NEW_TARGET_ID
            )
            out["FromSXPS"] = int(from_sxps)
            if from_sxps:
                out["WhichSXPS"] = "LSXPS"
        return out

    def light_curve(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = self.job(body)
        nosys, incbad = str(body.get("nosys", "no")), str(body.get("incbad", "no"))
        if nosys not in ("yes", "no", "both") or incbad not in ("yes", "no", "both"):
            raise ServiceError("nosys and incbad must each be one of: yes, no, both")
        self._built_or_fail(job, "lc")
        target, observations = self.inputs(job, "lc")
        return synth.light_curve(job, target, observations, nosys=nosys, incbad=incbad)

    def spectrum(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = self.job(body)
        self._built_or_fail(job, "spec")
        return synth.spectrum(job, *self.inputs(job, "spec"))

    def source_list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = self.job(body)
        self._built_or_fail(job, "sourceDet")
        _, observations = self.inputs(job, "sourceDet")
        return synth.source_list(job, self.jobs.job_targets(job), observations)

    def _built_or_fail(self, job: Job, short: str) -> None:
        if not self._ready(job, short):
            raise ServiceError(
                f"No {product(short).description} was produced for job {job.job_id}."
            )

    # ---- files -----------------------------------------------------------------------------
    def files(self, job: Job, short: str) -> archives.Files:
        """A finished product's files; a failed or cancelled one has none."""
        if short not in job.products or self.jobs.status(job, short) != 4:
            return {}
        target, observations = self.inputs(job, short)
        if short == "lc":
            lc = synth.light_curve(job, target, observations, nosys="no", incbad="no")
            return archives.light_curve_files(lc)
        if short == "spec":
            return archives.spectrum_files(synth.spectrum(job, target, observations))
        if short in POSITIONS:
            fix = self.position_of(job, short)
            return archives.position_files(short, fix, in_sxps=bool(fix and fix.get("FromSXPS")))
        if short == "image":
            energies = str(job.pars.get("imen", "0.3-10"))
            return archives.image_files(energies, [o.obsid for o in observations])
        return archives.source_list_files(
            synth.source_list(job, self.jobs.job_targets(job), observations)
        )

    def download(self, job_id: int, name: str) -> bytes | None:
        job = self.jobs.get(job_id)
        if job is None:
            return None
        top = f"USERPROD_{job.job_id}"
        match = re.fullmatch(r"(\w+)\.(zip|tar|tar\.gz)", name)
        if match:
            stem, fmt = match.groups()
            shorts = job.products if stem == "all" else [stem]
            files: archives.Files = {}
            for short in shorts:
                if short in _LONG:
                    files |= self.files(job, short)
            return archives.pack(top, files, fmt) if files else None
        first = name.split("/", 1)[0]
        return self.files(job, first).get(name) if first in _LONG else None

    # ---- the user's jobs -------------------------------------------------------------------
    def list_old_jobs(self, body: Mapping[str, Any]) -> dict[str, Any]:
        user = self.user(body)
        rows = []
        for job in self.jobs.of_user(user):
            row: dict[str, Any] = {
                "JobID": job.job_id,
                "Name": job.name,
                "DateSubmitted": job.submitted.strftime("%Y-%m-%d %H:%M:%S"),
            }
            row |= {long: short in job.products for short, long in _LONG.items()}
            row["hasProd"] = True
            rows.append(row)
        return {"jobs": rows}

    def num_jobs(self, body: Mapping[str, Any]) -> dict[str, Any]:
        user = self.user(body)
        return {"numJobs": sum(1 for j in self.jobs.of_user(user) if self.jobs.active(j))}

    def old_product(self, body: Mapping[str, Any]) -> dict[str, Any]:
        job = self.job(body, key="oldJob")
        return {"oldJob": job.job_id, "jobPars": job.pars, "URL": job.url}
