"""``autotoo replay`` of one burst four missions saw (aligned real notices): each alert says
which transient its event belongs to and why, and a rule whose request another rule's covers
says so, in the words ``autotoo transients show`` prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autotoo.cli import EXIT_OK, main
from autotoo.replay import export_filename
from tests.pipeline.bursts import BAT, ECLAIRS, GBM, GBM_FIN, WXT, aligned
from tests.pipeline.test_transients import GRB_RULES

KEY = "T:fermi:800400263"


def _burst(folder: Path) -> list[Path]:
    """The notices of ``tests/pipeline/test_transients.py``'s burst, as ``alerts export``
    names them (the topic in the name), in the order they arrive."""
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    ep_at = (GBM_FIN[0] + 0.02, GBM_FIN[1] - 0.01)
    notices = [
        *((aligned(n, t, trigger=t0), t) for n, t in GBM[:2]),
        (aligned(*BAT, trigger=t0 + timedelta(seconds=2), position=GBM_FIN), BAT[1]),
        (aligned(*WXT, trigger=t0 + timedelta(seconds=60), position=ep_at), WXT[1]),
        (aligned(*ECLAIRS, trigger=t0 + timedelta(seconds=1), position=GBM_FIN), ECLAIRS[1]),
        *((aligned(n, t, trigger=t0), t) for n, t in GBM[2:]),
    ]
    files = []
    for i, (raw, topic) in enumerate(notices, 1):
        path = folder / export_filename(i, topic, raw)
        path.write_bytes(raw)
        files.append(path)
    return files


def _config(tmp_path: Path) -> Path:
    (tmp_path / "rules.yaml").write_text(GRB_RULES)
    config = tmp_path / "autotoo.yaml"
    config.write_text(f"rules: [{json.dumps(str(tmp_path / 'rules.yaml'))}]\n")
    return config


def test_replay_says_which_transient_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _burst(tmp_path)
    assert main(["replay", "-c", str(_config(tmp_path)), *map(str, files)]) == EXIT_OK
    out = capsys.readouterr().out
    blocks = out.split("\n== ")[1:]
    assert len(blocks) == 7
    lines = [[line.strip() for line in b.splitlines()] for b in blocks]
    transient = [next(x for x in b if x.startswith("transient ")) for b in lines]
    assert transient[0] == (
        f"transient {KEY}: event fermi:800400263: new transient: no other mission's event "
        "triggered near this time"
    )
    assert transient[2].startswith(
        f"transient {KEY}: event swift:1123129: joined {KEY} because it triggered 2.0 s after "
        "fermi:800400263 (fermi GBM) (window -300…+300 s for grb-grb); "
    )
    assert "within their 99% radii" in transient[2]
    assert all(t.startswith(f"transient {KEY}: ") for t in transient)
    # Replayed at their issue times, the GRB rule's TOO is sent (dry-run: done) before EP's
    # alert: the EP rule's match is covered by it, and nothing is requested twice.
    covered = [x for b in lines for x in b if "covered by" in x]
    assert covered == ["MATCH ep-wxt: condition is true; covered by rule grb-any's TOO (done)"]
    assert sum(x.startswith("too: new request") for b in lines for x in b) == 1
    again = [x for b in lines for x in b if x.startswith("too: already planned for this transient")]
    assert len(again) == 3  # SVOM, GBM GND_POS and FIN_POS (BAT came while it settled)


def test_replay_json_has_the_transient(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = _burst(tmp_path)
    assert main(["replay", "-c", str(_config(tmp_path)), "--json", *map(str, files)]) == EXIT_OK
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["transient"] for r in reports} == {KEY}
    bat = next(r for r in reports if r["group_key"] == "swift:1123129")
    assert bat["association"].startswith(f"joined {KEY} because it triggered 2.0 s after")
