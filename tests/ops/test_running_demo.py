"""Against a daemon that has just run the demo loop (``autotoo demo --keep-running``): the
dashboard in real headless Chromium, ``/metrics``, ``/healthz`` and ``/readyz``, then Ctrl-C.

Tests run in file order and share one demo: the first adds one hostile message (counted by
the metrics test), the last one stops the demo.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.browser import dump_dom
from tests.fixtures.demo import RunningDemo


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status), reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class _Text(HTMLParser):
    """The page's visible text per element id and class, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []  # ids in document order
        self.text = ""
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        for key, value in attrs:
            if key == "id" and value:
                self.order.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text += data + " "


HOSTILE = "<img src=x onerror=alert(1)>"


def _drop_hostile(running_demo: RunningDemo) -> None:
    """A message whose topic (and so its 'unparsed' row) is markup: shown, never run."""
    folder = running_demo.workdir / "spool" / HOSTILE
    folder.mkdir()
    (folder / "evil.tmp").write_text(f"<script>document.title='{HOSTILE}'</script>")
    (folder / "evil.tmp").rename(folder / "evil.json")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if json.loads(_get(running_demo.dashboard + "api/status")[1])["unparsed"]:
            return
        time.sleep(0.2)
    pytest.fail("the hostile message was not stored as unparsed")


def test_dashboard_shows_what_the_person_on_duty_looks_for(
    running_demo: RunningDemo, tmp_path: Path
) -> None:
    _drop_hostile(running_demo)
    status = json.loads(_get(running_demo.dashboard + "api/status")[1])
    too = next(
        s for s in status["submissions"] if s["rule"] == "demo-ep-wxt" and s["api"] == "swift_too"
    )
    dom = dump_dom(running_demo.dashboard, tmp_path / "chromium-profile")
    page = _Text()
    page.feed(dom)
    text = " ".join(page.text.split())

    # what needs a human comes first, before any table
    assert page.order.index("needs-human") < page.order.index("requests")
    human = text[text.index("Needs a human") : text.index("Requests:")]
    assert "Swift TOO" in human
    assert "svom:sb26050402" in human
    assert "global budget exhausted: 1 of 1 TOOs in 24 h" in human
    # the mode is unmistakable, and health is not confused with it
    assert "LIVE: submissions are sent" in text
    assert status["mode"] == "live"
    assert status["healthy"] is True
    assert "live" not in status  # once the liveness flag, read as the mode
    assert "healthy" in text.split("Needs a human")[0]
    # the TOO row: its remote id, the service's decision, what Swift observed
    row = re.search(rf'<tr[^>]*data-id="{too["id"]}"[^>]*>(.*?)</tr>', dom, re.DOTALL)
    assert row, dom[:2000]
    cells = re.sub(r"<[^>]+>", " ", row.group(1))
    assert f"TOO {too['remote_id']}" in cells
    assert "Approved" in cells
    assert "done" in cells
    target = too["observations"][0]["target_id"]
    assert f"target {target}" in cells
    # why a planned request waits: the BAT burst's XRT job retries while the UKSSDC has no data
    assert re.search(r"next try at [\d-]+ [\d:]+Z; no data at the UKSSDC yet", text), text
    # the example EP rule's decision is the alert's own: the Moon was too close when it was
    # issued (the same on every day the demo runs); the demo's rule does not ask
    assert "✘ ep-wxt-bright: condition is false [moon_distance(alert) > 23.0]" in text
    # results: XRT positions on the sky plot and in the table, a plotted light curve
    assert re.search(r'<svg[^>]*class="skyplot"[^>]*data-positions="3"', dom), "no sky plot"
    points = re.search(r'<svg[^>]*class="lightcurve"[^>]*data-points="(\d+)"', dom)
    assert points, "no light curve"
    assert int(points.group(1)) >= 2
    # ... that a person can read: labelled log axes with values, error bars on every point
    curve = re.search(r'<svg[^>]*class="lightcurve".*?</svg>', dom, re.DOTALL)
    assert curve
    lc = curve.group(0)
    assert 'data-xscale="log"' in lc
    assert 'data-yscale="log"' in lc
    assert "time since trigger (s), log scale" in lc
    assert "count rate (count/s), log" in lc
    for axis in ("xtick", "ytick"):
        ticks = re.findall(rf'class="tick {axis}"[^>]*>([^<]+)<', lc)
        assert len(ticks) >= 2, (axis, lc)
        assert all(re.fullmatch(r"[\d.]+(e-?\d+)?", t) for t in ticks), ticks
    assert lc.count('class="yerr"') == lc.count('class="xerr"') == int(points.group(1))
    enhanced = re.search(r"XRT enhanced ([\d.]+) (-[\d.]+) ([\d.]+)″", text)
    assert enhanced, text
    assert abs(float(enhanced.group(1)) - 178.334) < 0.05
    # every rule's decision on an alert, with the reason
    assert "✔ demo-ep-wxt: condition is true" in text
    assert "✘ fermi-gbm-small-error: condition is false [alert.error_deg <= 1.5]" in text
    # untrusted text is shown as text: no element was made from it, no script ran from it
    assert HOSTILE in text
    assert "<img" not in dom
    assert "<title>autotoo</title>" in dom
    # the page was drawn by its script: the server sends the tables empty
    raw = _get(running_demo.dashboard)[1].decode()
    assert 'class="skyplot"' not in raw


def _samples(families: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


def test_metrics_after_the_demo(running_demo: RunningDemo) -> None:
    code, body = _get(running_demo.dashboard + "metrics")
    assert code == 200
    got = _samples(text_string_to_metric_families(body.decode()))

    def value(name: str, **labels: str) -> float:
        return got[(name, tuple(sorted(labels.items())))]

    # 9 samples, the EP alert again, and the hostile message of the dashboard test
    assert value("autotoo_alerts_received_total") == 11
    assert value("autotoo_alerts_deduplicated_total") == 1
    assert value("autotoo_alerts_parsed_total") == 9
    assert value("autotoo_alerts_unparsed_total") == 1
    assert value("autotoo_rule_matches_total", rule="demo-ep-wxt") == 1
    assert value("autotoo_rule_matches_total", rule="svom-eclairs-grb") == 1
    assert value("autotoo_submissions", api="swift_too", state="done") == 1
    assert value("autotoo_submissions", api="swift_too", state="needs_human") == 1
    assert value("autotoo_submissions", api="ukssdc_xrt", state="done") == 1
    assert value("autotoo_source_connected", source="demo-drop", kind="directory") == 1
    assert value("autotoo_poll_failures_total", api="swift_too") == 0
    # one TOO sent, seconds after its alert; the XRT job only after Swift observed
    assert value("autotoo_alert_to_submission_seconds_count", api="swift_too") == 1
    assert value("autotoo_alert_to_submission_seconds_bucket", api="swift_too", le="30.0") == 1
    assert value("autotoo_alert_to_submission_seconds_count", api="ukssdc_xrt") >= 1


def test_health_and_readiness(running_demo: RunningDemo) -> None:
    code, body = _get(running_demo.dashboard + "healthz")
    assert code == 200
    health = json.loads(body)
    assert health["status"] == "ok"
    assert health["mode"] == "live"
    assert health["problems"] == []
    code, body = _get(running_demo.dashboard + "readyz")
    assert code == 200
    ready = json.loads(body)
    assert ready["status"] == "ready"
    assert ready["store_writable"] is True
    assert [(s["name"], s["connected"]) for s in ready["sources"]] == [("demo-drop", True)]


def test_ctrl_c_stops_a_kept_demo_cleanly(running_demo: RunningDemo) -> None:
    assert running_demo.proc.poll() is None  # --keep-running: still up after the summary
    assert running_demo.stop() == 0
    assert not (running_demo.workdir / "notify.sock").exists()
