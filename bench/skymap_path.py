"""Alert-path cost of a sky map: real LVK alerts (their ~1 MB of base64 multi-order map)
through the whole daemon, beside map-less alerts on the same path in the same run.

The daemon of ``bench.latency`` (``python -m autotoo run``, live mode, MQTT source, the 100
rules, status publishing) plus one rule on LVK alerts that asks about the map
(``area(alert, 0.9)`` and ``prob_in_fov`` at ``max_prob_position``: the map is decoded on
the alert's path) and, when it matches, POSTs a TOO like the EP rule's. Alerts alternate:
an LVK alert (``MS181101ab-preliminary.json``, a new superevent id, the current time and
a map of its own each: its FITS header's OBJECT is the alert's id, so no map is decoded
twice), then a second later an EP alert, and so on, so both see the same daemon and load.
Latency is publish -> TOO POST received by the emulator (one clock, as ``bench.latency``).

The daemon's resident memory (``/proc/PID/status``) is read before the first LVK alert,
every 20 ms during the run (the peak, and ``VmHWM`` after resetting it with
``/proc/PID/clear_refs``), and after the last one once the daemon has been idle.

    uv run python -m bench.skymap_path [--quick]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from bench._common import (
    EP_TOPIC_MQTT,
    Row,
    Stamps,
    daemon,
    emit,
    emulator,
    ep_alert,
    mosquitto,
    percentile,
    position,
    quick_flag,
    rss_mb,
    write_daemon_config,
)

REPO = Path(__file__).resolve().parents[1]
LVK_SAMPLE = REPO / "tests" / "data" / "alerts" / "igwn" / "MS181101ab-preliminary.json"
LVK_TOPIC_MQTT = "gcn/igwn/gwalert"
EP_RUN, LVK_RUN = "LTX", "LVM"
WARMUP = 3
SETTLE_S = 8.0  # idle time before "after": the quiet collector runs when nothing is busy

MAP_RULE = """
  - name: lvk-map
    match: {missions: [lvk]}
    accept_test: true  # MS... superevents are mock alerts
    when: >-
      area(alert, 0.9) < 1000.0 &&
      prob_in_fov(alert, max_prob_position(alert).ra, max_prob_position(alert).dec, 0.2) > 0.0001
    once_per: event
    too:
      position: {ra: "{{ alert.raw.bench_ra }}", dec: "{{ alert.raw.bench_dec }}"}
      source_name: "{{ alert.event_key }}"
      source_type: GW counterpart
      instrument: XRT
      urgency: 3
      obs_type: Light Curve
      exp_time_per_visit: 2000
      num_of_visits: 1
      xrt_countrate: 0.5
      xrt_mode: PC
      uvot_mode: 0x9999
      immediate_objective: "X-ray counterpart of {{ alert.event_key }}"
      science_just: "A compact binary merger; XRT looks for its counterpart."
      exp_time_just: "2 ks reaches the flux needed to detect it."
"""


class Alerts:
    """Publishes EP and LVK alerts and remembers when each one left."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.sent: dict[str, int] = {}
        self.lvk = json.loads(LVK_SAMPLE.read_bytes())
        self.fits = base64.b64decode(self.lvk["event"]["skymap"])

    async def ep(self, i: int) -> str:
        key = f"{EP_RUN}{i:07d}"
        payload = ep_alert(i, run=EP_RUN)
        self.sent[key] = time.monotonic_ns()
        await self.client.publish(EP_TOPIC_MQTT, payload, qos=1)
        return key

    async def map_alert(self, i: int) -> str:
        key = f"{LVK_RUN}{i:07d}"
        now = datetime.now(UTC)
        ra, dec = position(6000 + i)  # the TOO's own place: the emulator refuses repeats
        alert = dict(self.lvk, superevent_id=key, bench_ra=ra, bench_dec=dec)
        alert["time_created"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        # A map of its own (OBJECT names the alert): the same bytes every time were decoded
        # once, by the first alert, and every later one found them in the daemon's cache.
        fits = self.fits.replace(b"'MS181101ab'", f"'{key}'".encode(), 1)
        skymap = base64.b64encode(fits).decode()
        event = dict(self.lvk["event"], time=now.isoformat(timespec="milliseconds"), skymap=skymap)
        alert["event"] = event
        payload = json.dumps(alert).encode()
        self.sent[key] = time.monotonic_ns()
        await self.client.publish(LVK_TOPIC_MQTT, payload, qos=1)
        return key


class Memory:
    """The daemon's resident memory, sampled every 20 ms while running."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    def reset_peak(self) -> bool:
        """Reset VmHWM to the current RSS (``echo 5 > clear_refs``, Linux >= 4.0)."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def hwm(self) -> float | None:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return None

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def _wait(stamps: Stamps, keys: Sequence[str], seconds: float = 120.0) -> None:
    async with asyncio.timeout(seconds):
        while not all(k in stamps.at for k in keys):  # noqa: ASYNC110 - the emulator's thread fills it
            await asyncio.sleep(0.01)


async def measure(pairs: int) -> tuple[list[Row], list[str]]:
    stamps = Stamps("/swift/too", rb"(?:LTX|LVM)\d{7}")
    with (
        mosquitto() as port,
        emulator(middlewares=[stamps.middleware()]) as emu,
        tempfile.TemporaryDirectory(prefix="bench-skymap-path-") as tmp,
    ):
        workdir = Path(tmp)
        config = write_daemon_config(workdir, broker_port=port, emulator_root=emu.root)
        with (workdir / "rules.yaml").open("a") as rules:
            rules.write(MAP_RULE)
        with config.open("a") as text:
            text.write("transients: {associate: false}\n")  # every alert its own TOO
        with daemon(config) as (proc, ready):
            memory = Memory(proc.pid)
            async with aiomqtt.Client("127.0.0.1", port) as client:
                alerts = Alerts(client)
                warm = [await alerts.ep(i) for i in range(WARMUP)]
                await _wait(stamps, warm)
                await asyncio.sleep(SETTLE_S)
                before = rss_mb(proc.pid)
                hwm_reset = memory.reset_peak()
                memory.start()
                lvk_keys, ep_keys = [], []
                for n in range(pairs):
                    lvk_keys.append(await alerts.map_alert(n))
                    await _wait(stamps, lvk_keys[-1:])
                    await asyncio.sleep(0.5)
                    ep_keys.append(await alerts.ep(WARMUP + n))
                    await _wait(stamps, ep_keys[-1:])
                    await asyncio.sleep(0.5)
                await asyncio.sleep(SETTLE_S)
                await memory.stop()
                after = rss_mb(proc.pid)
                hwm = memory.hwm() if hwm_reset else None
            assert proc.poll() is None, "the daemon exited during the run"
    lvk_ms = [(stamps.at[k] - alerts.sent[k]) / 1e6 for k in lvk_keys]
    ep_ms = [(stamps.at[k] - alerts.sent[k]) / 1e6 for k in ep_keys]
    first, rest = lvk_ms[0], lvk_ms[1:]
    added = percentile(lvk_ms, 99) - percentile(ep_ms, 99)
    peak = max(memory.peak, hwm or 0.0)
    rows = [
        Row(f"p50, LVK alert with its map ({pairs})", percentile(lvk_ms, 50), "ms",
            percentile(ep_ms, 50), "-", None),
        Row(f"p99, LVK alert with its map ({pairs})", percentile(lvk_ms, 99), "ms",
            percentile(ep_ms, 99), "-", None),
        Row("added p99 of the map (LVK p99 - EP p99)", added, "ms", None, "<= 100 ms",
            added <= 100.0),
        Row("first LVK alert of the run", first, "ms", None, "-", None),
        Row("max, later LVK alerts", max(rest) if rest else first, "ms", max(ep_ms), "-", None),
        Row("RSS before the first LVK alert", before, "MB", None, "-", None),
        Row("RSS peak during the run", peak, "MB", before, "-", None),
        Row(f"RSS {SETTLE_S:g} s after the last alert", after, "MB", before,
            "returns to its level (+5%)", after <= before * 1.05),
    ]  # fmt: skip
    notes = [
        (
            "baseline column: the EP alerts (~570 bytes, no map) of the same run, on the same "
            "path (MQTT -> inbox -> processor, 100 rules + lvk-map -> submitter -> POST)"
        ),
        (
            f"LVK alert: {LVK_SAMPLE.name} ({LVK_SAMPLE.stat().st_size:,} bytes; 778 kB "
            "multi-order FITS map, 19,200 tiles) with a new superevent id, the current time, "
            "the TOO's own position and a map of its own (OBJECT = the id: decoded every time)"
        ),
        f"alternating LVK, EP every 0.5 s after each POST; {WARMUP} EP alerts warm up",
        (
            "RSS peak: the larger of 20 ms samples and VmHWM after clear_refs "
            f"({'reset' if hwm_reset else 'not resettable here'}; "
            f"VmHWM {hwm or float('nan'):.1f} MB)"
        ),
        f"start-up to READY=1 in this run: {ready:.2f} s",
        f"the emulator accepted {len(emu.swift.toos)} TOOs",
    ]
    return rows, notes


def main(argv: Sequence[str] | None = None) -> int:
    pairs = 10 if quick_flag(argv) else 40
    rows, notes = asyncio.run(measure(pairs))
    emit("Sky map on the alert path: LVK alert -> TOO POST, beside map-less alerts", rows, notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
