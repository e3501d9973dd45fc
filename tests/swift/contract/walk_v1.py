"""The seed walkthrough with the real swifttools 3.0.24 ``Swift_TOO`` (API v1 "1.2").

Runs in ``.venv-swifttools3`` (see tests/swift/test_contract.py) as a subprocess; the endpoint
is redirected by the module global ``api_common.API_URL``, given as argv[1]. Prints one JSON
object. ``walk_v1.py URL seed`` walks the seed; ``walk_v1.py URL resubmit`` its resubmission
story; ``walk_v1.py URL track TOO_ID`` reads the listing and calendar; ``walk_v1.py URL
resolve NAME...`` resolves names.
"""

import io
import json
import sys
import warnings
from contextlib import redirect_stdout

warnings.simplefilter("ignore")

import swifttools.swift_too.api_common as ac  # noqa: E402

ac.API_URL = sys.argv[1]

from swifttools.swift_too import (  # noqa: E402
    TOO,
    Resolve,
    Swift_Calendar,
    Swift_TOO_Requests,
    UVOT_mode,
)
from swifttools.swift_too.api_status import Swift_TOO_Status  # noqa: E402

USER, SECRET = "myuser", "my_shared_secret"
SCIENCE_JUST = (
    "SMC X-3 has been detected to be entering it's 3rd outburst since discovery."
    "We wish to monitor the flux and pulsar period in order to track the evolution "
    "of this Be/XRB which has previously shown to enter a Super-Eddington level outburst. "
    "As the outburst has been detected in it's early stages, we request observations begin "
    "ASAP, and request an initial 2 week monitoring period to accurately sample flux rise "
    "and pulsar period evolution."
)


def status(too):
    return {
        "status": too.status.status,
        "errors": list(too.status.errors),
        "warnings": list(too.status.warnings),
        "too_id": too.status.too_id,
        "jobnumber": too.status.jobnumber,
    }


def seed():
    out = {}
    too = TOO()
    too.username = USER
    too.shared_secret = SECRET
    too.debug = False  # the seed sets True; this walk shows a real submission first
    too.source_name = "SMC X-3"
    out["auto_resolved"] = [too.ra, too.dec]
    res = Resolve(name=too.source_name)
    out["resolve"] = {"ra": res.ra, "dec": res.dec, "resolver": res.resolver}
    too.skycoord = res.skycoord
    out["skycoord"] = [too.ra, too.dec]
    too.ra, too.dec = 13.0234, -72.4345
    too.source_type = "Be/X-ray Binary"
    too.exp_time_per_visit = 1000
    too.monitoring_freq = "2 days"
    too.num_of_visits = 7
    too.exp_time_just = "1ks to measure flux and period"
    too.immediate_objective = (
        "Track the X-ray evolution and pulsar period in this new outburst of SMC X-3"
    )
    too.urgency = 2
    out["obs_types"] = list(too.obs_types)
    too.obs_type = too.obs_types[1]
    too.instrument = "XRT"
    too.xrt_countrate = 20
    too.xrt_mode = "WT"
    too.xrt_mode = 6
    out["xrt_mode"] = too.xrt_mode
    for bad in ("Bananas", 96):
        try:
            too.xrt_mode = bad
        except (NameError, ValueError) as exc:
            out[f"xrt_mode_{bad}"] = [type(exc).__name__, str(exc)]
    too.uvot_mode = 0x01AB
    out["uvot_mode"] = too.uvot_mode
    mode = UVOT_mode(too.uvot_mode)
    out["uvot_lookup"] = [e.filter_name for e in mode.entries]
    out["uvot_table"] = str(mode).splitlines()[0]
    too.uvot_mode = "I think I want all UV filters for this, whatever the UVOT team recommends."
    out["validate_1"] = [too.validate(), status(too)]
    too.science_just = SCIENCE_JUST
    out["validate_2"] = [too.validate(), status(too)]
    out["server_validate"] = [too.server_validate(), status(too)]
    out["submit_urgency2"] = [too.submit(), status(too)]
    too.urgency = 4
    too.status.clear()
    out["submit_urgency4"] = [too.submit(), status(too)]
    out["token_urgency4"] = too.jwt
    out["status_truthy"] = bool(too.status)  # the seed's "if too.status:"
    out["complete"] = too.complete  # answered locally: an accepted job is never re-sent
    out["table_has_requester"] = USER in str(too)
    job = Swift_TOO_Status(username=USER, shared_secret=SECRET, jobnumber=too.status.jobnumber)
    out["job_status"] = {"status": job.status, "too_id": job.too_id}
    too.status.clear()  # the identical request (so the identical token) again: a repeat
    out["submit_repeat"] = [too.submit(), status(too)]
    too.debug = True
    too.status.clear()
    out["submit_debug"] = [too.submit(), status(too)]
    out["token_debug"] = too.jwt
    return out


def seed_too():
    """The seed's TOO as it stands at its submission cell (debug mode, urgency 2)."""
    too = TOO()
    too.username = USER
    too.shared_secret = SECRET
    too.debug = True
    too.source_name = "SMC X-3"
    too.ra, too.dec = 13.0234, -72.4345
    too.source_type = "Be/X-ray Binary"
    too.exp_time_per_visit = 1000
    too.monitoring_freq = "2 days"
    too.num_of_visits = 7
    too.exp_time_just = "1ks to measure flux and period"
    too.immediate_objective = (
        "Track the X-ray evolution and pulsar period in this new outburst of SMC X-3"
    )
    too.urgency = 2
    too.obs_type = too.obs_types[1]
    too.instrument = "XRT"
    too.xrt_countrate = 20
    too.xrt_mode = 6
    too.uvot_mode = "I think I want all UV filters for this, whatever the UVOT team recommends."
    too.science_just = SCIENCE_JUST
    return too


def resubmit():
    """The seed's resubmission story: the notebook run a second time (a new object, the same
    content, so the same signed token) finds its earlier TOO, changes urgency, clears the
    status, and is accepted."""
    out = {}
    earlier = seed_too()
    out["earlier_run"] = [earlier.submit(), status(earlier)]
    too = seed_too()
    out["submit"] = [too.submit(), status(too)]
    out["same_token"] = too.jwt == earlier.jwt  # as sent (submit fills in the total exposure)
    if not too.status:
        too.urgency = 4
        too.status.clear()
        out["resubmit"] = [too.submit(), status(too)]
    too.status.clear()
    out["repeat"] = [too.submit(), status(too)]
    return out


def public(too_id):
    """What anyone sees: swifttools' defaults (username "anonymous", secret "anonymous")."""
    reqs = Swift_TOO_Requests(too_id=too_id, detail=True)
    return {
        "status": reqs.status.status,
        "errors": list(reqs.status.errors),
        "entries": [
            {
                "too_id": e.too_id,
                "decision": e.decision,
                "target_id": e.target_id,
                "target_name": e.source_name,
                "science_just": e.science_just,
            }
            for e in reqs.entries
        ],
    }


def resolve(names):
    """Each name through swifttools' own ``Resolve``, and through a TOO's auto-resolve."""
    out = {}
    for name in names:
        res = Resolve(name=name)
        too = TOO()
        too.source_name = name
        out[name] = {
            "ra": res.ra,
            "dec": res.dec,
            "status": res.status.status,
            "errors": list(res.status.errors),
            "too": [too.ra, too.dec],
            "too_errors": list(too.status.errors),
        }
    return out


def track(too_id):
    reqs = Swift_TOO_Requests(username=USER, shared_secret=SECRET, too_id=too_id, detail=True)
    cal = Swift_Calendar(username=USER, shared_secret=SECRET, too_id=too_id)
    entry = reqs.entries[0] if reqs.entries else None
    return {
        "status": reqs.status.status,
        "errors": list(reqs.status.errors),
        "decision": getattr(entry, "decision", None),
        "target_id": getattr(entry, "target_id", None),
        "calendar": [
            {"asflown": e.asflown, "targetid": e.targetid, "obsid": getattr(e, "obsid", None)}
            for e in cal.entries
        ],
        "calendar_errors": list(cal.status.errors),
    }


def _status(obj):
    return [obj.status.status, list(obj.status.errors)]


def _span(items):
    return [[str(w.begin), str(w.end)] for w in items]


def queries(ra, dec, target_id, begin, days):
    """The v1 query classes, as walk_v2.py's ``queries`` asks the v2 ones (same arguments)."""
    from swifttools.swift_too import (  # noqa: PLC0415 only this walk needs them
        Swift_Clock,
        Swift_SAA,
        Swift_VisQuery,
    )
    from swifttools.swift_too import Swift_ObsQuery as Swift_AFST  # noqa: PLC0415
    from swifttools.swift_too import Swift_PlanQuery as Swift_PPST  # noqa: PLC0415

    ra, dec, target_id, days = float(ra), float(dec), int(target_id), float(days)
    vis = Swift_VisQuery(ra=ra, dec=dec, begin=begin, length=days)
    hires = Swift_VisQuery(ra=ra, dec=dec, begin=begin, length=1, hires=True)
    plan = Swift_PPST(targetid=target_id)
    obs = Swift_AFST(targetid=target_id)
    near = Swift_AFST(ra=ra, dec=dec, radius=0.2, begin=begin, length=days)
    saa = Swift_SAA(begin=begin, length=1)
    met = Swift_Clock(met=700000000.0)
    utc = Swift_Clock(utctime=begin)
    bad = Swift_PPST()  # the client refuses it itself
    bad.submit()
    return {
        "vis": [*_status(vis), _span(vis.windows)],
        "hires": [*_status(hires), _span(hires.windows)],
        "plan": [*_status(plan), [[e.obsnum, str(e.begin), str(e.end)] for e in plan.entries]],
        "ppstmax": str(plan.ppstmax),
        "obs": [
            *_status(obs),
            [[e.obsnum, str(e.begin), str(e.settle), str(e.end), e.ra, e.dec] for e in obs],
        ],
        "obs_near": [*_status(near), [e.obsnum for e in near]],
        "modes": [[e.xrt, e.uvot] for e in plan.entries],
        "saa": [*_status(saa), _span(saa.entries)],
        "clock_met": [*_status(met), str(met.utctime), str(met.swifttime), met[0].utcf],
        "clock_utc": [*_status(utc), str(utc.utctime), str(utc.swifttime), utc[0].met],
        "plan_no_args": _status(bad),
    }


def calendar_query(ra, dec, begin, days):
    """Planning-calendar windows near a position within a span (no TOO ID), as walk_v2.py."""
    cal = Swift_Calendar(ra=float(ra), dec=float(dec), begin=begin, length=float(days))
    rows = [[str(e.start), str(e.stop), e.targetid, e.duration] for e in cal.entries]
    return {"status": _status(cal), "entries": rows}


def requests_near(ra, dec, begin, days):
    """TOORequests by position and span (anonymous: approved TOOs only)."""
    reqs = Swift_TOO_Requests(ra=float(ra), dec=float(dec), radius=0.2, begin=begin,
                              length=float(days))  # fmt: skip
    return {"status": _status(reqs), "too_ids": [e.too_id for e in reqs.entries]}


if __name__ == "__main__":
    # swifttools 3 prints from property setters; keep stdout for our one JSON line.
    noise = io.StringIO()
    with redirect_stdout(noise):
        if sys.argv[2] == "track":
            result = track(int(sys.argv[3]))
        elif sys.argv[2] == "public":
            result = public(int(sys.argv[3]))
        elif sys.argv[2] == "resolve":
            result = resolve(sys.argv[3:])
        elif sys.argv[2] == "queries":
            result = queries(*sys.argv[3:8])
        elif sys.argv[2] == "calendar":
            result = calendar_query(*sys.argv[3:7])
        elif sys.argv[2] == "requests_near":
            result = requests_near(*sys.argv[3:7])
        else:
            result = {"seed": seed, "resubmit": resubmit}[sys.argv[2]]()
    result["stdout"] = noise.getvalue()
    print(json.dumps(result, default=str))
