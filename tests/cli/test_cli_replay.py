"""``autotoo replay`` over real saved alerts with the example rules, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from autotoo.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main
from autotoo.demo import DEMO_RULE
from autotoo.pipeline.keys import submission_key
from autotoo.pipeline.planner import SHARED
from tests.alerts.alert_corpus import CORPUS, REPO_ROOT

KAFKA = CORPUS / "gcn-kafka-2026"
SVOM_WAKEUP = "000000000045_315_gcn_notices_svom_voevent_eclairs.xml"  # sb26051001
SVOM_SLEWING = "000000000046_316_gcn_notices_svom_voevent_eclairs.xml"  # same burst
FERMI_CHAIN = [  # event 803272919: GND_POS x3 (the third one small enough), then FIN_POS
    "000000006114_2000_gcn_classic_voevent_fermi_gbm_gnd_pos.xml",
    "000000006115_2001_gcn_classic_voevent_fermi_gbm_gnd_pos.xml",
    "000000006117_2003_gcn_classic_voevent_fermi_gbm_gnd_pos.xml",
    "000000006118_1098_gcn_classic_voevent_fermi_gbm_fin_pos.xml",
]
GRM_TRIGGER = "000000000057_341_gcn_notices_svom_voevent_grm.xml"  # sb26043009
GRM_RETRACTION = "000000000058_342_gcn_notices_svom_voevent_grm.xml"  # Packet_Type 219

GRM_RULE = """\
rules:
  - name: grm-test
    match:
      topics: [gcn.notices.svom.voevent.grm]
      kinds: [initial, update]
    settle: 1h
    once_per: event
    too:
      source_name: "GRB {{ alert.event_key }}"
      source_type: GRB
      grb_detector: SVOM/GRM
      grb_triggertime: "{{ alert.trigger_time | swift_time }}"
      position: {ra: 150.0, dec: 2.0, poserr: 3.0}
      urgency: 2
      obs_type: Light Curve
      exp_time_per_visit: 1000
      num_of_visits: 1
      other_brightness: GRM trigger
      xrt_mode: PC
      immediate_objective: "Find the afterglow of {{ alert.event_key }}"
      science_just: "A test of {{ alert.event_key }}."
      exp_time_just: 1 ks is enough.
    xrt_products:
      submit: after_observation
      globals: {centroid: true, posErr: 1, useSXPS: false}
      products:
        EnhancedPos: {}
"""


def _config(tmp_path: Path, extra: str = "", rules: str | None = None) -> Path:
    if rules is None:
        patterns = [str(REPO_ROOT / "rules" / "*.yaml")]
    else:
        (tmp_path / "rules.yaml").write_text(rules)
        patterns = [str(tmp_path / "rules.yaml")]
    path = tmp_path / "autotoo.yaml"
    path.write_text(f"rules: {json.dumps(patterns)}\n{extra}")
    return path


def _replay(
    capsys: pytest.CaptureFixture[str], config: Path, *paths: Path | str, code: int = EXIT_OK
) -> list[dict[str, Any]]:
    assert main(["replay", "-c", str(config), "--json", *map(str, paths)]) == code
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def _rule(report: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = (r for r in report["rules"] if r["rule"] == name)
    return found


def _form(action: dict[str, Any]) -> dict[str, str]:
    return dict(action["request"]["body"])


def test_svom_update_of_a_planned_event_sends_no_second_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "swift: {username: myuser}\n")
    wakeup, slewing = _replay(capsys, config, KAFKA / SVOM_WAKEUP, KAFKA / SVOM_SLEWING)
    assert wakeup["topic"] == "gcn.notices.svom.voevent.eclairs"
    assert (wakeup["topic_source"], wakeup["group_key"]) == ("file name", "svom:sb26051001")
    assert len(wakeup["rules"]) == 7  # explain: a decision for every rule, matched or not
    rule = _rule(wakeup, "svom-eclairs-grb")
    assert (rule["matched"], rule["stage"], rule["reason"]) == (
        True,
        "matched",
        "condition is true",
    )
    (too,) = rule["actions"]
    # once_per: transient (the example rule): the key is the transient's, shared by its rules
    key = submission_key(SHARED, "T:svom:sb26051001", "too")
    assert (too["action"], too["status"], too["key"]) == ("too", "new request", key)
    assert too["request"]["form"] == "swift v2 form"
    form = _form(too)
    assert form["target_name"] == "GRB sb26051001"
    assert form["username"] == "myuser"
    assert form["science_just"].endswith(f"[autotoo:{key}]")  # the idempotency marker
    assert (form["exposure"], form["debug"], form["validate_only"]) == ("4000", "false", "false")
    assert too["request"]["problems"] == []
    assert _rule(wakeup, "fermi-gbm-small-error")["stage"] == "filtered"

    assert slewing["group_key"] == "svom:sb26051001"
    (again,) = _rule(slewing, "svom-eclairs-grb")["actions"]
    assert again["key"] == key
    assert again["request"] is None
    assert again["status"].startswith("already planned for this transient")
    assert again["status"].endswith("no second request")
    assert "dry-run" in again["status"]


def test_fermi_chain_settles_then_re_renders_with_the_final_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "swift: {username: myuser}\n")
    reports = _replay(capsys, config, *(KAFKA / name for name in FERMI_CHAIN))
    assert {r["group_key"] for r in reports} == {"fermi:803272919"}
    first, second, third, final = (_rule(r, "fermi-gbm-small-error") for r in reports)
    for early in (first, second):  # GBM ground errors above 1.5 deg: the clause says so
        assert (early["matched"], early["stage"]) == (False, "condition")
        assert early["clause"] == "alert.error_deg <= 1.5"
        assert early["actions"] == []
    (planned,) = third["actions"]
    assert planned["status"] == "new request, settling until 2026-06-16 03:33:58Z"
    (replanned,) = final["actions"]
    assert replanned["key"] == planned["key"]
    assert replanned["status"] == "already planned for this event (would re-render while settling)"
    before, after = _form(planned), _form(replanned)
    assert before["tiling"] == after["tiling"] == "true"
    # position: best keeps the GND_POS position (1.14 deg) over the later FIN_POS (1.37 deg),
    # while the re-rendered texts describe the FIN_POS alert: the update superseded the plan.
    for form in (before, after):
        assert (form["ra"], form["dec"]) == ("93.37", "-33.39")
        assert float(form["poserr"]) == pytest.approx(1.14 * 60)
    assert before["other_brightness"] == "GBM GRB, error 1.14 deg"
    assert after["other_brightness"] == "GBM GRB, error 1.37 deg"
    assert after["science_just"].endswith(f"[autotoo:{planned['key']}]")


def test_retraction_withholds_the_planned_requests_of_its_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    publish = "publish: {mqtt: {url: 'mqtt://localhost:1883'}}\n"
    config = _config(tmp_path, "swift: {protocol: v1}\n" + publish, rules=GRM_RULE)
    trigger, retraction = _replay(capsys, config, KAFKA / GRM_TRIGGER, KAFKA / GRM_RETRACTION)
    too, xrt = _rule(trigger, "grm-test")["actions"]
    assert too["request"]["form"] == "swift v1 json"
    body = too["request"]["body"]
    assert (body["api_name"], body["api_version"]) == ("Swift_TOO_Request", "1.2")
    assert body["api_data"]["source_name"] == "GRB sb26043009"  # v1 field names
    assert body["api_data"]["xrt_mode"] == "PC"
    assert too["request"]["problems"] == ["Anonymous users cannot submit TOO requests."]
    assert xrt["status"] == "new request, waiting for the Swift observation of the TOO"
    job = xrt["request"]["body"]
    assert job["name"] == f"autotoo grm-test svom:sb26043009 {xrt['key']}"
    assert (job["api_name"], job["UserID"], job["doenh"]) == ("xrt_prods", "<ukssdc.user_id>", 1)
    assert xrt["request"]["problems"] == [
        "ukssdc.user_id is not set: the daemon would park this job as needs_human"
    ]
    assert (retraction["kind"], retraction["group_key"]) == ("retraction", "svom:sb26043009")
    assert trigger["notes"] == [
        "would publish (mqtt): grm-test too planned (settling until 00:24:53Z)",
        "would publish (mqtt): grm-test xrt_products planned (waiting for the Swift observation)",
    ]
    assert retraction["notes"] == [
        "retraction: 2 unsent request(s) of this event withheld",
        "would publish (mqtt): grm-test too cancelled (event retracted)",
        "would publish (mqtt): grm-test xrt_products cancelled (event retracted)",
    ]
    assert _rule(retraction, "grm-test")["stage"] == "filtered"


def test_xrt_body_and_topic_option_for_a_file_without_a_topic_in_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert CORPUS is not None
    bat = CORPUS / "voevent-classic" / "gwcelery-swift_grb_gcn.xml"
    config = _config(tmp_path, "ukssdc: {user_id: me@example.org}\n")
    (plain,) = _replay(capsys, config, bat)
    # The payload names its stream (Packet_Type 61): the rules of that topic see it, as they
    # would see it dropped into the daemon's folder.
    topic = "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK"
    assert (plain["topic"], plain["topic_source"]) == (topic, "payload")
    assert _rule(plain, "swift-bat-grb-xrt")["matched"] is True
    assert main(["replay", "-c", str(config), str(bat)]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"topic {topic} (named by the payload)" in out
    assert "without a topic" not in out
    assert "MATCH swift-bat-grb-xrt" in out
    assert (
        main(
            [
                "replay",
                "-c",
                str(config),
                "--json",
                "--topic",
                "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
                str(bat),
            ]
        )
        == EXIT_OK
    )
    (given,) = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert given["topic_source"] == "--topic"
    (xrt,) = _rule(given, "swift-bat-grb-xrt")["actions"]
    body = xrt["request"]["body"]
    assert body["UserID"] == "me@example.org"
    assert body["name"] == f"autotoo swift-bat-grb-xrt swift:1123129 {xrt['key']}"
    assert (body["getTargs"], body["getT0"], body["doenh"], body["lc"]) == (1, 1, 1, 1)
    assert (body["binMeth"], body["pccounts"]) == ("counts", 20)
    assert xrt["request"]["problems"] == []


def test_directories_are_replayed_in_issue_order_and_failures_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "alerts"
    folder.mkdir()
    shutil.copy(KAFKA / SVOM_SLEWING, folder / SVOM_SLEWING)
    shutil.copy(KAFKA / SVOM_WAKEUP, folder / SVOM_WAKEUP)
    shutil.copy(KAFKA / SVOM_WAKEUP, folder / "999_copy.xml")  # same IVORN: stored once
    (folder / "zz_broken.json").write_text('{"not": "an alert"')
    (folder / "notes.txt").write_text("not an alert file")
    config = _config(tmp_path)
    reports = _replay(capsys, config, folder, code=EXIT_FAILURE)
    assert [Path(r["file"]).name for r in reports] == [
        SVOM_WAKEUP,
        "999_copy.xml",  # issued with the wake-up (the same alert): ties go by name
        SVOM_SLEWING,
        "zz_broken.json",  # no issue time to go by: after the others
    ]
    wakeup, copy, slewing, broken = reports
    assert broken["parsed"] is False
    assert broken["error"].startswith("JSON is not well formed")
    (too,) = _rule(wakeup, "svom-eclairs-grb")["actions"]
    assert too["status"] == "new request"
    assert _rule(slewing, "svom-eclairs-grb")["actions"][0]["request"] is None
    assert copy["duplicate_of"] == str(folder / SVOM_WAKEUP)
    assert copy["rules"] == []
    assert _replay(capsys, config, folder / SVOM_WAKEUP) != []  # all parsed: exit 0


def test_human_output_one_block_per_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "swift: {username: myuser}\n")
    paths = [KAFKA / FERMI_CHAIN[0], KAFKA / SVOM_WAKEUP, tmp_path / "missing.xml"]
    assert main(["replay", "-c", str(config), *map(str, paths)]) == EXIT_FAILURE
    out = capsys.readouterr().out
    blocks = out.split("\n== ")
    assert blocks[0].startswith(f"replay of {config} (mode dry-run, 7 rules, Swift API v2)")
    fermi, svom, missing = blocks[1:]
    assert "topic gcn.classic.voevent.FERMI_GBM_GND_POS (from the file name)" in fermi
    assert "fermi FERMI_GBM_GND_POS  event fermi:803272919  kind update" in fermi
    assert "   no    fermi-gbm-small-error: condition is false [alert.error_deg <= 1.5]\n" in fermi
    assert "   MATCH svom-eclairs-grb: condition is true\n" in svom
    assert "         too: new request (key atoo-" in svom
    assert "           swift v2 form:\n             target_name=GRB sb26051001\n" in svom
    assert "           warning: INFO: Total exposure time does not match" in svom
    assert missing.startswith(f"{tmp_path / 'missing.xml'}\n")
    assert "NOT PARSED: cannot read:" in missing


def test_a_bad_config_is_exit_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "mode: sometimes\n")
    assert main(["replay", "-c", str(config), str(KAFKA / SVOM_WAKEUP)]) == EXIT_CONFIG
    assert "mode" in capsys.readouterr().err


def test_a_rendering_failure_is_shown_as_no_match_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = GRM_RULE.replace("position: {ra: 150.0, dec: 2.0, poserr: 3.0}", "position: alert")
    config = _config(tmp_path, rules=rules)
    (trigger,) = _replay(capsys, config, KAFKA / GRM_TRIGGER)  # GRM triggers carry no position
    rule = _rule(trigger, "grm-test")
    assert (rule["matched"], rule["stage"], rule["actions"]) == (False, "matched", [])
    assert rule["reason"].startswith("matched, but rendering failed:")
    assert "the alert has no position" in rule["reason"]


def test_a_truncated_copy_first_does_not_hide_the_notice_and_copies_are_one_alert(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replay dedups as the daemon does (issue 16, item 2): by exact bytes, then by the IVORN
    of a *parsed* alert; a future-dated alert is refused (item 4)."""
    folder = tmp_path / "alerts"
    folder.mkdir()
    raw = (KAFKA / SVOM_WAKEUP).read_bytes()
    (folder / f"000_{SVOM_WAKEUP}").write_bytes(raw[:1200])  # its IVORN, cut short
    shutil.copy(KAFKA / SVOM_WAKEUP, folder / f"001_{SVOM_WAKEUP}")
    (folder / f"002_{SVOM_WAKEUP}").write_bytes(raw + b"\n")  # another copy, other bytes
    start = raw.index(b"<ISOTime>") + len(b"<ISOTime>")
    future = raw[:start] + b"3026" + raw[start + 4 :]
    (folder / f"003_{SVOM_WAKEUP}").write_bytes(future.replace(b'ivorn="', b'ivorn="x', 1))
    # Named one by one, in this order: a directory would put the unparsable copy last.
    reports = _replay(capsys, _config(tmp_path), *sorted(folder.iterdir()), code=EXIT_FAILURE)
    truncated, complete, copy, dated = reports
    assert truncated["parsed"] is False
    assert complete["duplicate_of"] is None
    assert _rule(complete, "svom-eclairs-grb")["actions"][0]["status"] == "new request"
    assert copy["duplicate_of"] == str(folder / f"001_{SVOM_WAKEUP}")
    assert dated["error"].startswith("refused: its trigger time 3026-")


def test_a_directory_replays_a_retraction_after_the_notice_it_retracts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Names that sort the other way round (a retraction saved first): the issue times decide,
    so the retraction withholds the request its trigger planned, as in the daemon."""
    folder = tmp_path / "alerts"
    folder.mkdir()
    topic = "gcn_notices_svom_voevent_grm"
    shutil.copy(KAFKA / GRM_RETRACTION, folder / f"000000000001_1_{topic}.xml")
    shutil.copy(KAFKA / GRM_TRIGGER, folder / f"000000000002_2_{topic}.xml")
    config = _config(tmp_path, rules=GRM_RULE)
    trigger, retraction = _replay(capsys, config, folder)
    assert Path(trigger["file"]).name == f"000000000002_2_{topic}.xml"
    assert trigger["kind"] == "initial"
    assert retraction["kind"] == "retraction"
    assert retraction["notes"][0] == "retraction: 2 unsent request(s) of this event withheld"


def test_the_error_radius_is_sent_without_float_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """0.05096604 deg is 3.0579624 arcmin; multiplied in binary floating point it reads
    3.0579623999999996, which would be sent to Swift and printed as such."""
    config = _config(tmp_path, rules=DEMO_RULE)  # the EP rule without Sun or Moon conditions
    ep = Path(__file__).resolve().parents[2] / "daemon/autotoo/samples/ep_wxt_alert.json"
    topic = "gcn.notices.einstein_probe.wxt.alert"
    assert main(["replay", "-c", str(config), "--topic", topic, str(ep)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "poserr=3.0579624\n" in out, out
    assert "(mode dry-run, 1 rule, Swift API v2)" in out  # not "1 rules"


def test_replay_says_what_swift_will_be_asked_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replay is offline: the checks before sending (pipeline/presend.py) are announced."""
    checked = GRM_RULE.replace(
        "      urgency: 2\n",
        "      urgency: 2\n      visibility: {within: 24h, otherwise_urgency: 3}\n",
    )
    config = _config(tmp_path, rules=checked)
    (report,) = _replay(capsys, config, KAFKA / GRM_TRIGGER)
    too = next(a for a in _rule(report, "grm-test")["actions"] if a["action"] == "too")
    assert too["before_sending"] == (
        "before sending, Swift will be asked whether it already serves the position (TOO "
        "listing, PlanQuery, ObsQuery within 11.8 arcmin; if so, nothing is sent) and when it "
        "can next observe the target (VisQuery; not within 1 day: urgency 3)"
    )
    assert main(["replay", "-c", str(config), str(KAFKA / GRM_TRIGGER)]) == EXIT_OK
    assert "           before sending, Swift will be asked whether" in capsys.readouterr().out

    submitting = GRM_RULE.replace(
        "      urgency: 2\n", "      urgency: 2\n      if_swift_on_target: submit\n"
    )
    (report,) = _replay(capsys, _config(tmp_path, rules=submitting), KAFKA / GRM_TRIGGER)
    too = next(a for a in _rule(report, "grm-test")["actions"] if a["action"] == "too")
    assert too["before_sending"] is None


COVER_RULE = """\
rules:
  - name: lvk-galaxies
    match: {missions: [lvk]}
    accept_test: true  # MS... superevents are mock alerts
    too:
      cover: auto
      galaxies: %s
      max_targets: 3
      exposure_time_per_tile: 500
      source_name: "{{ alert.event_key }}"
      source_type: GW counterpart
      urgency: 1
      obs_type: Light Curve
      exp_time_per_visit: 1000
      num_of_visits: 1
      monitoring_freq: 1 day
      other_brightness: unknown
      immediate_objective: "X-ray counterpart of {{ alert.event_key }}"
      science_just: A compact binary merger.
      exp_time_just: 1 ks per galaxy.
"""


def test_replay_notes_say_how_a_sky_map_is_covered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalogue = REPO_ROOT / "config" / "galaxies-example.csv"
    config = _config(tmp_path, "swift: {username: myuser}\n", COVER_RULE % catalogue)
    (report,) = _replay(capsys, config, CORPUS / "igwn" / "MS181101ab-preliminary.json")
    assert _rule(report, "lvk-galaxies")["matched"]
    (note,) = (n for n in report["notes"] if n.startswith("lvk-galaxies: cover:"))
    assert note.startswith(
        "lvk-galaxies: cover: galaxies (3 TOO bodies): 7 tiles would catch 4% of the "
        "probability (90% region 31 deg2): galaxies instead, top 3 of 41 hold 95%"
    )
