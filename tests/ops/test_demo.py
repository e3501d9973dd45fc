"""``autotoo demo`` as a person runs it: the whole loop, a summary, exit 0."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.fixtures.demo import human_lines, start_demo


def test_demo_shows_the_whole_loop_and_exits_0(tmp_path: Path) -> None:
    proc = start_demo(tmp_path)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out[-3000:]
    text = "\n".join(human_lines(out))
    assert re.search(r"the whole loop ran in [\d.]+ s", text), text
    assert re.search(r"Swift TOO\s+id \d+: done \(Approved\)", text), text
    target = re.search(r"target ID\s+(\d{8}); obsids (\d{11})", text)
    assert target, text
    assert target.group(2).startswith(target.group(1))  # obsid = target ID + segment
    assert re.search(r"XRT job\s+\d+: done", text), text
    positions = re.findall(
        r"XRT position\s+(\w+): RA ([\d.]+) Dec (-?[\d.]+) error ([\d.]+) arcsec", text
    )
    assert {p[0] for p in positions} == {"enhanced", "standard"}, text
    for _, ra, dec, err in positions:  # the EP transient's position (178.334, -10.202 +- 3')
        assert abs(float(ra) - 178.334) < 0.05
        assert abs(float(dec) + 10.202) < 0.05
        assert float(err) < 10
    points = re.search(r"light curve\s+(\d+) points \(PC\)", text)
    assert points, text
    assert int(points.group(1)) >= 2
    # the light curve is a table: time since trigger, bin, rate and its error, per point
    assert re.search(r"t - T0 \(s\)\s+bin \(s\)\s+rate \(count/s\)\s+error", text), text
    rows = re.findall(
        r"^\s+([\d.]+)\s+([\d.]+) to ([\d.]+)\s+([\d.]+)\s+± ([\d.]+)\s+PC$", text, re.MULTILINE
    )
    assert len(rows) == int(points.group(1)), text
    for t, start, end, rate, err in rows:
        assert float(start) <= float(t) <= float(end)
        assert 0 < float(err) < float(rate)
    # the daemon is stopped when the summary is read: no dashboard address that would not answer
    assert "dashboard     http" not in text, text
    assert "--keep-running` keeps the daemon and its dashboard up" in text, text
    # the store agrees: exactly one TOO was sent for the EP event, the redelivery was ignored
    with sqlite3.connect(tmp_path / "state.db") as db:
        sent = db.execute(
            "SELECT COUNT(*) FROM submissions WHERE api = 'swift_too' AND sent_at IS NOT NULL"
        ).fetchone()[0]
        seen = db.execute(
            "SELECT MAX(seen_count) FROM inbox WHERE topic = 'gcn.notices.einstein_probe.wxt.alert'"
        ).fetchone()[0]
    assert sent == 1
    assert seen == 2


def _sub(api: str, state: str, attempt: int = 0, **extra: object) -> dict[str, object]:
    """A submission as /api/status serves it (the fields the demo reads)."""
    return {
        "rule": "demo-ep-wxt",
        "api": api,
        "action": "too" if api == "swift_too" else "xrt_products",
        "event": "einstein_probe:01709261081",
        "attempt": attempt,
        "state": state,
        "reason": f"{state} reason",
        "observations": [],
        "results": {},
        "sent_at": None,
        **extra,
    }


def test_demo_judges_the_latest_attempt_not_a_retried_one() -> None:
    """A rejected or failed XRT attempt that the daemon already retried is history: the demo
    waits for the retry instead of reporting the loop as 'rejected'."""
    from autotoo.demo import DemoError, _done  # noqa: PLC0415

    too = _sub("swift_too", "done", observations=[{"target_id": "1", "obsid": "1001"}])
    retried = {
        "submissions": [too, _sub("ukssdc_xrt", "rejected"), _sub("ukssdc_xrt", "planned", 1)]
    }
    assert _done(retried) is None  # still waiting for attempt 2
    finished = _sub("ukssdc_xrt", "done", 1, results={"lightcurve": {}})
    loop = _done({"submissions": [too, _sub("ukssdc_xrt", "rejected"), finished]})
    assert loop is not None
    assert loop["xrt"]["attempt"] == 1
    with pytest.raises(DemoError, match="ukssdc_xrt request is rejected"):
        _done({"submissions": [too, _sub("ukssdc_xrt", "rejected")]})  # nothing retries it
