"""``too: {cover: auto, ...}``: rule syntax, load-time checks, and the rendered TOO bodies.

Every rendered body goes through swifttools' own TOO request model and its offline
validation (swifttools 4.0.5, ``SwiftTOORequest.validate``), and through our Swift client's
v1/v2 validation, as the example rules' requests do in test_contracts.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from swifttools.swift_too import TOO

from autotoo.alerts import NormalizedAlert, parse_alert
from autotoo.config.problems import ConfigError
from autotoo.rules import AlertContext, PlannedActions, load_rules, render_actions
from autotoo.rules.errors import RenderError
from autotoo.swift.model import TooRequest
from autotoo.swift.validation import validate_request
from tests.alerts.alert_corpus import CORPUS, capture_topic
from tests.rules.factory import REPO

EXAMPLE = REPO / "config" / "galaxies-example.csv"

RULE = """\
rules:
  - name: cover-it
    too:
      cover: auto
{extra}
      source_name: "{{{{ alert.event_key }}}}"
      source_type: Transient
      obs_type: Light Curve
      urgency: 2
      exp_time_per_visit: 2000
      num_of_visits: 1
      monitoring_freq: 1 day
      exposure_time_per_tile: 500
      xrt_countrate: 0.1
      immediate_objective: find the X-ray counterpart
      science_just: a transient whose region is wider than one XRT field
      exp_time_just: 2 ks reaches 1e-13 erg/cm2/s
"""


def _rule(tmp_path: Path, extra: str = "", name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(RULE.format(extra=extra), encoding="utf-8")
    return path


def _render(path: Path, alert: NormalizedAlert) -> PlannedActions:
    rule = load_rules([path]).get("cover-it")
    assert rule is not None
    assert alert.trigger_time is not None
    return render_actions(rule, AlertContext(alert, (), alert.trigger_time))


def _corpus(relative: str, edit: tuple[str, str] | None = None) -> NormalizedAlert:
    data = (CORPUS / relative).read_bytes()
    if edit is not None:
        data = data.replace(edit[0].encode(), edit[1].encode())
    return parse_alert(data, capture_topic(CORPUS / relative))


def _swifttools_accepts(body: dict[str, Any]) -> None:
    """swifttools' own TOO request built from the body, validated offline."""
    names = {"source_name": "target_name", "source_type": "target_type"}
    fields = {names.get(k, k): v for k, v in body.items()}
    too = TOO(username="anonymous", shared_secret="not-used-offline", **fields)
    assert too.validate(), too.status.errors
    for protocol in ("v1", "v2"):
        checked = validate_request(TooRequest.model_validate({**body, "marker": "t"}), protocol)
        assert checked.errors == [], checked.errors


def test_small_circle_renders_one_pointing(tmp_path: Path) -> None:
    sample = REPO / "daemon" / "autotoo" / "samples" / "ep_wxt_alert.json"
    alert = parse_alert(sample.read_bytes(), "gcn.notices.einstein_probe.wxt.alert")
    planned = _render(_rule(tmp_path), alert)
    assert planned.coverage is not None
    assert planned.coverage["choice"] == "single"
    assert planned.too is not None
    assert (planned.too["ra"], planned.too["dec"]) == (alert.ra, alert.dec)
    assert "tiling" not in planned.too
    assert "exposure_time_per_tile" not in planned.too
    assert planned.too_targets == [planned.too]
    _swifttools_accepts(planned.too)


@pytest.mark.parametrize(
    ("relative", "edit", "tiles"),
    [
        ("gcn-schema/maxi/gsc.unknown.ellipse.example.json", None, "4"),  # 13.2' x 11.4'
        (  # the KM3NeT multiplet's circle at 21' instead of 24.6'
            "gcn-schema/km3net/alert.multiplet.example.json",
            ('"ra_dec_error": 0.41', '"ra_dec_error": 0.35'),
            "7",
        ),
    ],
)
def test_regions_wider_than_the_field_render_tiling(
    tmp_path: Path, relative: str, edit: tuple[str, str] | None, tiles: str
) -> None:
    alert = _corpus(relative, edit)
    planned = _render(_rule(tmp_path), alert)
    too = planned.too
    assert too is not None
    assert planned.coverage is not None
    assert too["tiling"] is True
    assert too["number_of_tiles"] == tiles
    assert too["exposure_time_per_tile"] == 500
    assert too["tiling_justification"] == planned.coverage["explanation"]
    assert too["tiling_justification"].startswith(f"{tiles} tiles (100% to ")
    assert (too["ra"], too["dec"]) == (alert.ra, alert.dec)
    assert planned.too_targets == [too]
    _swifttools_accepts(too)


def test_lvk_map_renders_galaxy_targets(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "galaxies.csv")  # relative to the rule file
    path = _rule(tmp_path, "      galaxies: galaxies.csv\n      max_targets: 3")
    alert = parse_alert((CORPUS / "igwn" / "MS181101ab-preliminary.json").read_bytes(), "igwn")
    planned = _render(path, alert)
    coverage = planned.coverage
    assert coverage is not None
    assert coverage["choice"] == "galaxies"
    assert coverage["explanation"].startswith(
        "7 tiles would catch 4% of the probability (90% region 31 deg2): galaxies instead, "
        "top 3 of 41 hold 95% of the catalogue's probability (dP/dV x mass); their XRT "
        "fields hold "
    )
    names = [t["name"] for t in coverage["targets"]]
    assert names == ["NGC 4968", "NGC 4993", "NGC 4970"]
    assert [b["source_name"] for b in planned.too_targets] == [f"MS181101ab {n}" for n in names]
    assert planned.too == planned.too_targets[0]
    for body, target in zip(planned.too_targets, coverage["targets"], strict=True):
        assert (body["ra"], body["dec"], body["poserr"]) == (target["ra"], target["dec"], 0.0)
        assert "tiling" not in body
        _swifttools_accepts(body)
    assert planned.to_json()["too_targets"] == planned.too_targets


def test_no_pattern_and_no_catalogue_fails_to_render(tmp_path: Path) -> None:
    alert = _corpus("gcn-schema/km3net/alert.multiplet.example.json")  # 24.6' > 24'
    with pytest.raises(RenderError) as caught:
        _render(_rule(tmp_path), alert)
    assert caught.value.problems == {
        "too.cover": "cover: 7 tiles would catch 89% of the probability (90% region 0.528 "
        "deg2): no galaxy catalogue to choose targets from"
    }
    nineteen = _render(_rule(tmp_path, "      tile_patterns: [4, 7, 19]"), alert)
    assert nineteen.too is not None
    assert nineteen.too["number_of_tiles"] == "19"


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_rules([path])
    return [str(p) for p in caught.value.problems]


def test_catalogue_errors_are_load_errors_located_in_both_files(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("name,ra,dec,distance_mpc\nA,1,2,40\nB,1,-95,40\n")
    path = _rule(tmp_path, "      galaxies: bad.csv")
    bad = tmp_path / "bad.csv"
    where = f"{path}:5:17: rules.0.too.galaxies: galaxy catalogue: {bad}:3"
    assert _problems(path) == [f"{where}: dec: -95.0 is not in [-90, 90] degrees"]
    missing = _rule(tmp_path, "      galaxies: nowhere.csv", "missing.yaml")
    (problem,) = _problems(missing)
    assert problem.startswith(f"{missing}:5:17: rules.0.too.galaxies: galaxy catalogue: ")
    assert "nowhere.csv: cannot read the galaxy catalogue: No such file or directory" in problem


def test_cover_keys_are_checked_at_load(tmp_path: Path) -> None:
    text = RULE.format(extra="      tiling: true\n      position: {ra: 1, dec: 2}")
    text = text.replace("      cover: auto\n", "      cover: auto\n      max_targets: 0\n")
    path = tmp_path / "r.yaml"
    path.write_text(text.replace("      exposure_time_per_tile: 500\n", ""))
    found = "\n".join(_problems(path))
    assert "rules.0.too.max_targets: Input should be greater than or equal to 1" in found
    path.write_text(text.replace("      max_targets: 0\n", ""))
    problems = _problems(path)
    assert any("rules.0.too.position: cover: auto plans the position itself" in p for p in problems)
    assert any("rules.0.too.tiling: cover: auto sets tiling itself" in p for p in problems)
    path.write_text(RULE.format(extra="").replace("      cover: auto\n", "      max_targets: 3\n"))
    (problem,) = _problems(path)
    assert problem.endswith("rules.0.too.max_targets: max_targets is used only with cover: auto")
    path.write_text(RULE.format(extra="").replace("      exposure_time_per_tile: 500\n", ""))
    (problem,) = _problems(path)
    assert problem.endswith(
        "rules.0.too.cover: cover: auto needs exposure_time_per_tile (if it tiles)"
    )


def test_the_rule_digest_follows_the_catalogue(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "galaxies.csv")
    path = _rule(tmp_path, "      galaxies: galaxies.csv")
    before = load_rules([path]).get("cover-it")
    with (tmp_path / "galaxies.csv").open("a") as out:
        out.write("NGC 4762,193.233,11.231,16,5\n")
    after = load_rules([path]).get("cover-it")
    assert before is not None
    assert after is not None
    assert before.digest != after.digest
    assert after.uses_skymaps
