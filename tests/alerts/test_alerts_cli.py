"""``autotoo alerts parse`` through the real command-line entry point."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from autotoo.cli import EXIT_FAILURE, EXIT_OK, main
from tests.alerts.alert_corpus import CORPUS
from tests.alerts.skymap_files import flat_map_bytes, gaussian_probabilities


def _corpus(name: str) -> Path:
    assert CORPUS is not None
    return CORPUS / name


def test_parse_prints_one_json_object_per_file(capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        _corpus("voevent-classic/gwcelery-swift_grb_gcn.xml"),
        _corpus("igwn/MS181101ab-retraction.json"),
    ]
    assert main(["alerts", "parse", *map(str, files)]) == EXIT_OK
    out, err = capsys.readouterr()
    assert err == ""
    first, second = (json.loads(line) for line in out.splitlines())
    assert first["file"] == str(files[0])
    assert (first["mission"], first["notice_type"], first["event_key"]) == (
        "swift",
        "SWIFT_BAT_GRB_POS_ACK",
        "1123129",
    )
    assert (first["kind"], first["is_test"], first["trigger_time"]) == (
        "initial",
        False,
        "2022-09-07T14:05:25.760000Z",
    )
    assert (first["ra"], first["dec"], first["error_deg"]) == (268.87, -20.3153, 0.05)
    assert first["flags"]["StarTrack_Lost_Lock"] is False
    assert (second["mission"], second["kind"], second["ra"]) == ("lvk", "retraction", None)
    # The topic each payload names, as a drop folder or replay would give it.
    assert (first["topic"], second["topic"]) == (
        "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
        "igwn.gwalert",
    )


def test_topic_option_sets_mission_for_a_payload_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = {"id": ["01709261081"], "ra": 178.334, "dec": -10.202, "ra_dec_error": 0.05}
    path = tmp_path / "ep.json"
    path.write_text(json.dumps(payload))
    assert main(["alerts", "parse", str(path)]) == EXIT_FAILURE
    _, err = capsys.readouterr()
    assert err == f"{path}: gcn JSON names no mission ($schema, mission or topic)\n"
    code = main(["alerts", "parse", "--topic", "gcn/notices/einstein_probe/wxt/alert", str(path)])
    assert code == EXIT_OK
    alert = json.loads(capsys.readouterr().out)
    assert (alert["mission"], alert["topic"]) == (
        "einstein_probe",
        "gcn.notices.einstein_probe.wxt.alert",
    )


def test_failures_go_to_stderr_and_set_the_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "truncated.xml"
    bad.write_bytes(_corpus("voevent-classic/gwcelery-swift_grb_gcn.xml").read_bytes()[:500])
    good = _corpus("gcn-schema/chime/frb.retraction.example.json")
    missing = tmp_path / "missing.json"
    assert main(["alerts", "parse", str(bad), str(good), str(missing)]) == EXIT_FAILURE
    out, err = capsys.readouterr()
    assert [json.loads(line)["kind"] for line in out.splitlines()] == ["retraction"]
    lines = err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}: XML is not well formed")
    assert lines[1].startswith(f"{missing}: cannot read")


def test_parse_needs_a_file(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["alerts", "parse"])
    assert info.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_parse_prints_the_region_of_a_sky_map_alert(capsys: pytest.CaptureFixture[str]) -> None:
    files = [_corpus("igwn/MS181101ab-update.json"), _corpus("igwn/MS181101ab-retraction.json")]
    assert main(["alerts", "parse", *map(str, files)]) == EXIT_OK
    update, retraction = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert update["region"] == {
        "kind": "skymap",
        "skymap_error": None,
        "area50_deg2": 8.9006,  # ligo.skymap's crossmatch: 8.900583, 30.979860
        "area90_deg2": 30.9799,
        "distance_mpc": {"mean": 39.76999609489013, "std": 8.308435058808886},
        "max_prob": {"ra": 194.30419921875, "dec": -17.856895095545468},
    }
    assert "region" not in retraction


@contextmanager
def _serving(body: bytes) -> Iterator[str]:
    """A real HTTP server on its own loop and thread (the CLI runs its own asyncio.run)."""
    loop = asyncio.new_event_loop()
    app = web.Application()

    async def handle(_: web.Request) -> web.Response:
        return web.Response(body=body)

    app.router.add_get("/map.fit", handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_parse_fetch_reads_a_map_published_by_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUTOTOO_SKYMAP_CACHE", str(tmp_path / "cache"))
    body = flat_map_bytes(gaussian_probabilities(6, 29.24, -63.62, 3.0, ring=True))
    payload = json.loads(_corpus("gcn-schema/fermi/gbm/trigger.final.example.json").read_bytes())
    with _serving(body) as base:
        payload["healpix_url"] = f"{base}/map.fit"
        path = tmp_path / "gbm.json"
        path.write_text(json.dumps(payload))
        assert main(["alerts", "parse", str(path)]) == EXIT_OK
        before = json.loads(capsys.readouterr().out)["region"]
        assert main(["alerts", "parse", "--fetch", str(path)]) == EXIT_OK
        after = json.loads(capsys.readouterr().out)["region"]
    assert before["kind"] == "circle"
    assert before["skymap_error"] == f"sky map at {base}/map.fit: not fetched (yet)"
    assert after["kind"] == "skymap"
    assert after["skymap_error"] is None
    # A 3-degree Gaussian: its 90% region is a disc of 6.44 degrees, 130 deg2.
    assert after["area90_deg2"] == pytest.approx(130.2, rel=0.03)
