"""The seed walkthrough with the real swifttools 4.x ``TOO`` (API v2), against an emulator.

Run as a subprocess with ``SWIFT_TOO_API_URL`` pointing at the emulator and a throw-away
``HOME`` (swifttools keeps its session cookie in ``~/.cache/swift_too``); prints one JSON object.
``walk_v2.py seed`` walks the seed; ``walk_v2.py resubmit`` its resubmission story;
``walk_v2.py track TOO_ID`` reads the listing and calendar (``public TOO_ID``: anonymously);
``walk_v2.py resolve NAME...`` resolves names; ``walk_v2.py queries RA DEC TARGET_ID BEGIN DAYS``
runs the query classes; ``walk_v2.py calendar RA DEC BEGIN DAYS`` the calendar by position;
``walk_v2.py near RA DEC RADIUS BEGIN`` PlanQuery and ObsQuery by position since BEGIN.
"""

import json
import sys
import warnings

warnings.simplefilter("ignore")  # swifttools' deprecation notices for the seed's v1 names

from swifttools.swift_too import (  # noqa: E402
    SAA,
    TOO,
    Calendar,
    Clock,
    ObsQuery,
    PlanQuery,
    Resolve,
    TOORequests,
    UVOTMode,
    VisQuery,
)

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
    }


def seed():
    out = {}
    too = TOO()
    too.username = USER
    too.shared_secret = SECRET
    too.source_name = "SMC X-3"  # resolves through GET /resolve
    out["auto_resolved"] = [too.ra, too.dec]
    res = Resolve(name=too.source_name)
    out["resolve"] = {"ra": res.ra, "dec": res.dec, "resolver": res.resolver}
    out["skycoord_frame"] = res.skycoord.frame.name
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
    too.xrt_mode = "WT"
    too.xrt_mode = 6
    out["xrt_mode"] = too.xrt_mode
    for bad in ("Bananas", 96):
        try:
            too.xrt_mode = bad
        except Exception as exc:  # pydantic ValidationError in 4.x
            out[f"xrt_mode_{bad}"] = str(exc)
    too.uvot_mode = 0x01AB
    out["uvot_mode"] = too.uvot_mode
    mode = UVOTMode(uvot_mode=too.uvot_mode)
    out["uvot_lookup"] = [e.filter_name for e in mode.entries]
    bright = UVOTMode(uvot_mode=0x30ED, ra=88.7929, dec=7.4070)  # Betelgeuse
    out["uvot_bright"] = status(bright)
    too.uvot_mode = "I think I want all UV filters for this, whatever the UVOT team recommends."
    too.uvot_just = "All UV filters to follow the disc."
    out["validate_1"] = [too.validate(), status(too)]
    too.science_just = SCIENCE_JUST
    out["validate_2"] = [too.validate(), status(too)]
    out["server_validate"] = [too.server_validate(), status(too)]
    out["submit_urgency2"] = [too.submit(), status(too)]
    too.urgency = 4
    out["submit_after_reject_without_clear"] = too.submit()
    too.status.clear()
    out["submit_urgency4"] = [too.submit(), status(too)]
    too.status.clear()  # the identical request again: a repeat
    out["submit_repeat"] = [too.submit(), status(too)]
    too.debug = True
    too.status.clear()
    out["submit_debug"] = [too.submit(), status(too)]
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
    too.uvot_just = "All UV filters to follow the disc."
    too.science_just = SCIENCE_JUST
    return too


def resubmit():
    """The seed's resubmission story: the notebook run a second time finds its earlier TOO
    ("TOO already recently submitted"), changes urgency, clears the status, and is accepted."""
    out = {}
    earlier = seed_too()
    out["earlier_run"] = [earlier.submit(), status(earlier)]
    too = seed_too()  # a new object with the same content
    out["submit"] = [too.submit(), status(too)]
    if not too.status:
        too.urgency = 4
        too.status.clear()
        out["resubmit"] = [too.submit(), status(too)]
    too.status.clear()
    out["repeat"] = [too.submit(), status(too)]
    return out


def public(too_id):
    """What anyone sees: swifttools' defaults (username "anonymous", no secret, no login)."""
    reqs = TOORequests(too_id=too_id, detail=True)
    return {
        "status": reqs.status.status,
        "errors": list(reqs.status.errors),
        "entries": [
            {
                "too_id": e.too_id,
                "decision": e.decision,
                "target_id": e.target_id,
                "target_name": e.target_name,
                "science_just": e.science_just,
            }
            for e in reqs.entries
        ],
    }


def _status(obj):
    return [obj.status.status, list(obj.status.errors)]


def _span(items):
    return [[str(w.begin), str(w.end)] for w in items]


def near(ra, dec, radius, begin):
    """What is planned and flown within RADIUS degrees of a position since BEGIN."""
    plan = PlanQuery(ra=ra, dec=dec, radius=radius, begin=begin)
    obs = ObsQuery(ra=ra, dec=dec, radius=radius, begin=begin)

    def rows(entries):
        return [[e.obs_id, e.target_id, str(e.begin), str(e.end), e.ra, e.dec] for e in entries]

    return {"plan": [*_status(plan), rows(plan.entries)], "obs": [*_status(obs), rows(obs.entries)]}


def calendar_query(ra, dec, begin, days):
    """Planning-calendar windows near a position within a span (no TOO ID)."""
    cal = Calendar(ra=ra, dec=dec, begin=begin, length=days)
    rows = [[str(e.begin), str(e.end), e.target_id, e.duration] for e in cal.entries]
    return {"status": _status(cal), "entries": rows}


def _flown(e):
    return [e.obs_id, str(e.begin), str(e.settle), str(e.end), e.ra, e.dec]


def queries(ra, dec, target_id, begin, days):
    """The v2 query classes, as a user would call them, summarised."""
    vis = VisQuery(ra=ra, dec=dec, begin=begin, length=days)
    hires = VisQuery(ra=ra, dec=dec, begin=begin, length=1, hires=True)
    plan = PlanQuery(target_id=target_id)
    obs = ObsQuery(target_id=target_id)
    saa = SAA(begin)
    met = Clock(met=700000000.0)
    utc = Clock(utctime=begin)
    bad = PlanQuery()  # the client refuses it itself
    bad.submit()
    return {
        "vis": [*_status(vis), _span(vis.windows)],
        "hires": [*_status(hires), _span(hires.windows)],
        "plan": [*_status(plan), [[e.obs_id, str(e.begin), str(e.end)] for e in plan.entries]],
        "ppstmax": str(plan.ppstmax),
        "obs": [
            *_status(obs),
            [[e.obs_id, str(e.begin), str(e.settle), str(e.end), e.ra, e.dec] for e in obs.entries],
        ],
        "saa": [*_status(saa), _span(saa.entries)],
        "clock_met": [*_status(met), str(met.utctime), str(met.swifttime), met.utcf],
        "clock_utc": [*_status(utc), str(utc.utctime), str(utc.swifttime), utc.met],
        "plan_no_args": _status(bad),
    }


def resolve(names):
    """Each name through swifttools' own ``Resolve``, and through a TOO's auto-resolve."""
    out = {}
    for name in names:
        res = Resolve(name=name)
        too = TOO(target_name=name)
        out[name] = {
            "ra": res.ra,
            "dec": res.dec,
            "status": res.status.status,
            "errors": list(res.status.errors),
            "too": [too.ra, too.dec],
        }
    return out


def track(too_id):
    reqs = TOORequests(username=USER, shared_secret=SECRET, too_id=too_id, detail=True)
    entry = reqs.by_id(too_id)
    cal = Calendar(too_id=too_id)
    return {
        "status": reqs.status.status,
        "decision": entry.decision,
        "target_id": entry.target_id,
        "science_just": entry.science_just,
        "calendar": [
            {"asflown": e.asflown, "target_id": e.target_id, "obsid": getattr(e, "obsid", None)}
            for e in cal.entries
        ],
    }


if __name__ == "__main__":
    if sys.argv[1] == "track":
        result = track(int(sys.argv[2]))
    elif sys.argv[1] == "public":
        result = public(int(sys.argv[2]))
    elif sys.argv[1] == "queries":
        ra, dec, target_id, begin, days = sys.argv[2:7]
        result = queries(float(ra), float(dec), int(target_id), begin, float(days))
    elif sys.argv[1] == "calendar":
        ra, dec, begin, days = sys.argv[2:6]
        result = calendar_query(float(ra), float(dec), begin, float(days))
    elif sys.argv[1] == "near":
        ra, dec, radius, begin = sys.argv[2:6]
        result = near(float(ra), float(dec), float(radius), begin)
    elif sys.argv[1] == "resolve":
        result = resolve(sys.argv[2:])
    else:
        result = {"seed": seed, "resubmit": resubmit}[sys.argv[1]]()
    print(json.dumps(result, default=str))
