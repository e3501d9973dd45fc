"""The request model and local validation: the seed's messages verbatim, every problem at once."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from autotoo.swift import TooRequest, validate_request
from autotoo.swift.validation import EXPOSURE_CORRECTED
from autotoo.swift.wire import v1_api_data, v2_form
from tests.swift.conftest import SMC_X3, seed_request


def test_xrt_mode_by_name_or_number() -> None:
    too = TooRequest(xrt_mode="WT")
    assert (too.xrt_mode, too.xrt_mode_name) == (6, "WT")
    too.xrt_mode = 0
    assert too.xrt_mode_name == "Auto"
    too.xrt_mode = "PC"
    assert too.xrt_mode == 7


def test_bad_xrt_modes_raise_the_seed_messages() -> None:
    too = TooRequest()
    with pytest.raises(
        ValueError, match=re.escape("Unknown mode (Bananas), should be PC, WT or Auto")
    ):
        too.xrt_mode = "Bananas"
    with pytest.raises(
        ValueError, match=re.escape("Unknown mode (96), should be PC (7), WT (6) or Auto (0)")
    ):
        too.xrt_mode = 96
    assert too.xrt_mode == 7  # unchanged by the failed assignments


def test_uvot_mode_int_hex_or_text_shown_as_lower_case_hex() -> None:
    too = TooRequest(uvot_mode=0x01AB)
    assert too.uvot_mode_text == "0x01ab"
    too.uvot_mode = "0x30ED"
    assert (too.uvot_mode, too.uvot_mode_text) == (0x30ED, "0x30ed")
    too.uvot_mode = "0x30ed:uvw1,u,b"  # as the service writes approved modes
    assert too.uvot_mode == 0x30ED
    text = "I think I want all UV filters for this, whatever the UVOT team recommends."
    too.uvot_mode = text
    assert too.uvot_mode_text == text
    with pytest.raises(ValueError, match="Invalid UVOT mode"):
        too.uvot_mode = 0x10000


def test_skycoord_in_any_frame_becomes_j2000_degrees() -> None:
    icrs = SkyCoord(SMC_X3[0] * u.deg, SMC_X3[1] * u.deg)
    galactic = icrs.galactic
    too = TooRequest(skycoord=galactic)
    assert too.ra == pytest.approx(icrs.fk5.ra.deg, abs=1e-9)
    assert too.dec == pytest.approx(icrs.fk5.dec.deg, abs=1e-9)
    moved = TooRequest().at(SkyCoord("05h31m31.4s +21d58m55s", frame="fk4"))
    assert moved.ra == pytest.approx(83.633, abs=0.01)  # the Crab, B1950 -> J2000


def test_sexagesimal_strings() -> None:
    too = TooRequest(ra="00:52:05.625", dec="-72:26:04.2")
    assert too.ra == pytest.approx(13.0234375)
    assert too.dec == pytest.approx(-72.4345)
    too.ra = "0h52m05.625s"
    assert too.ra == pytest.approx(13.0234375)
    too.ra = "13.0234"
    assert too.ra == 13.0234
    with pytest.raises(ValueError, match="angle"):
        too.dec = "south"


def test_seed_names_and_quantities() -> None:
    too = TooRequest(source_name="SMC X-3", source_type="Be/X-ray Binary")
    assert (too.target_name, too.source_type) == ("SMC X-3", "Be/X-ray Binary")
    assert too.obs_types[1] == "Light Curve"
    too.monitoring_freq = 2 * u.day
    assert too.monitoring_freq == "2.0 days"
    too.monitoring_freq = timedelta(hours=6)
    assert too.monitoring_freq == "6.0 hours"
    too.grb_triggertime = "2024-01-01T12:00:00"
    assert too.grb_triggertime == datetime(2024, 1, 1, 12, tzinfo=UTC)
    too.grb_triggertime = "2024-01-01T14:00:00+02:00"
    assert too.grb_triggertime == datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_missing_science_just_as_in_the_seed(protocol: str) -> None:
    result = validate_request(seed_request(science_just=None), protocol)  # type: ignore[arg-type]
    assert result.errors == ["Missing key: science_just"]


@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_total_exposure_is_corrected_with_the_seed_notice(protocol: str) -> None:
    result = validate_request(seed_request(), protocol)  # type: ignore[arg-type]
    assert result.ok
    assert result.warnings == [EXPOSURE_CORRECTED]
    assert EXPOSURE_CORRECTED == (
        "INFO: Total exposure time does not match total of individuals. Correcting."
    )
    assert result.request.exposure == 7000
    explicit = validate_request(seed_request(exposure=7000), protocol)  # type: ignore[arg-type]
    assert explicit.warnings == []


def test_every_problem_is_listed_at_once() -> None:
    too = TooRequest(
        target_name="X", ra=400.0, dec=10.0, urgency=7, instrument="XMM", obs_type="Pretty",
        num_of_visits=3, monitoring_freq="2 fortnights", tiling=True, proposal=True,
        target_type="GRB", uvot_mode=0x30ED,
    )  # fmt: skip
    errors = validate_request(too, "v2").errors
    assert errors == [
        "Missing key: exp_time_just",
        "Missing key: science_just",
        "Missing key: immediate_objective",
        "Missing key: proposal_id",
        "Missing key: proposal_pi",
        "Missing key: proposal_trigger_just",
        "Missing key: grb_triggertime",
        "Missing key: grb_detector",
        (
            "Observation Type needs to be one of the following: "
            "['Spectroscopy', 'Light Curve', 'Position', 'Timing']"
        ),
        "Instrument name (XMM) not valid",
        "urgency: Input should be 0, 1, 2, 3 or 4",
        "ra: 400.0 is outside 0 <= ra < 360",
        "Must specify exposure time per visit if number of visits is specified.",
        "Monitoring unit (fortnight) not valid",
        "Must specify tiling justification if tiling is True.",
        (
            "Must specify at least one brightness value. If specifying optical brightness, "
            "ensure filter is set."
        ),
        "Must specify UVOT justification if UVOT mode is not filter of the day (0x9999).",
    ]


def test_v1_knows_units_v2_does_not() -> None:
    too = seed_request(monitoring_freq="12 hours")
    assert validate_request(too, "v1").ok
    assert validate_request(too, "v2").errors == ["Monitoring unit (hour) not valid"]
    assert validate_request(seed_request(urgency=0), "v1").errors == [
        "urgency: Input should be 1, 2, 3 or 4"
    ]


def test_v2_single_visit_gets_a_cadence() -> None:
    too = seed_request(num_of_visits=1, monitoring_freq=None, exposure=None)
    result = validate_request(too, "v2")
    assert result.ok
    assert (result.request.monitoring_freq, result.request.exposure) == ("1 day", 1000)


def test_wire_encodings() -> None:
    too = validate_request(
        seed_request(uvot_mode=0x01AB, grb_triggertime="2024-01-01 12:00:00", marker="k1"), "v2"
    ).request
    form = dict(v2_form(too, username="myuser"))
    assert form["uvot_mode"] == "0x01AB"
    assert form["xrt_mode"] == "6"
    assert (form["exposure"], form["exp_time_per_visit"]) == ("7000", "1000.0")
    assert form["grb_triggertime"] == "2024-01-01T12:00:00"
    assert form["science_just"].endswith("\n\n[autotoo:k1]")
    folded = validate_request(seed_request(science_just="Why.\n", marker="k1"), "v2").request
    assert dict(v2_form(folded, username="u"))["science_just"] == "Why.\n\n[autotoo:k1]"
    assert (form["debug"], form["quiet"], form["validate_only"]) == ("false", "true", "false")
    data = v1_api_data(too, username="myuser")
    assert (data["uvot_mode"], data["xrt_mode"], data["obs_n"]) == ("0x01ab", "WT", "multiple")
    assert data["exposure"] == 7000.0
    assert isinstance(data["exposure"], float)
    assert data["grb_triggertime"] == "2024-01-01 12:00:00"
    assert data["quiet"] is False
