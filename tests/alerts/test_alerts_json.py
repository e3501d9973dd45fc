"""gcn-schema JSON and IGWN JSON specifics: inference, times, errors, retractions, sky maps."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from autotoo.alerts import AlertParseError, Ellipse, Reference, parse_alert
from tests.alerts.alert_corpus import CORPUS

EP_TOPIC = "gcn.notices.einstein_probe.wxt.alert"
EP_CAPTURE = "gcn-kafka-2026/000000001258_255_gcn_notices_einstein_probe_wxt_alert.json"


def _load(name: str) -> dict[str, Any]:
    assert CORPUS is not None
    obj: dict[str, Any] = json.loads((CORPUS / name).read_text())
    return obj


def _parse(obj: dict[str, Any], topic: str | None = None) -> Any:
    return parse_alert(json.dumps(obj).encode(), topic)


def _reason(obj: dict[str, Any] | bytes, topic: str | None = None) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    with pytest.raises(AlertParseError) as info:
        parse_alert(raw, topic)
    assert "\n" not in info.value.reason
    assert not info.value.reason.startswith("internal")
    return info.value.reason


def test_einstein_probe_real_alert_lacks_mission_type_and_datetime() -> None:
    obj = _load(EP_CAPTURE)
    assert not {"mission", "alert_type", "alert_datetime"} & obj.keys()
    alert = _parse(obj)
    assert (alert.mission, alert.instrument, alert.kind) == ("einstein_probe", "WXT", "initial")
    assert alert.notice_type == "einstein_probe/wxt/alert"
    assert alert.event_key == "01709261081"  # leading zero kept
    assert alert.issued_time is None
    assert alert.trigger_time == datetime(2026, 4, 30, 2, 32, 47, 999000, tzinfo=UTC)
    assert (alert.error_deg, alert.error_confidence) == (pytest.approx(0.05096604), 0.9)
    assert alert.raw["net_count_rate"] == pytest.approx(0.08)


def test_mission_from_topic_when_the_payload_names_none() -> None:
    obj = _load(EP_CAPTURE)
    del obj["$schema"]
    assert "names no mission" in _reason(obj)
    for topic in (
        EP_TOPIC,
        "gcn/notices/einstein_probe/wxt/alert",
        "/gcn/notices/einstein_probe/wxt/alert/",
    ):
        alert = _parse(obj, topic)
        assert (alert.mission, alert.notice_type, alert.topic) == (
            "einstein_probe",
            "einstein_probe/wxt/alert",
            EP_TOPIC,
        )


def test_payload_mission_name_becomes_a_slug() -> None:
    obj = _load("gcn-schema/superk/sn_alert.real.example.json")
    del obj["$schema"]
    assert _parse(obj).mission == "superk"  # "Super-Kamiokande"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-11 18:06:53.220Z", datetime(2024, 5, 11, 18, 6, 53, 220000, tzinfo=UTC)),
        ("2024-08-24T02:14:40.43", datetime(2024, 8, 24, 2, 14, 40, 430000, tzinfo=UTC)),
        ("2024-09-18 07:19:03+02:00", datetime(2024, 9, 18, 5, 19, 3, tzinfo=UTC)),
        ("2024-01-01T00:00:00.123456789Z", datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_trigger_time_spellings_are_utc(text: str, expected: datetime) -> None:
    obj = _load(EP_CAPTURE) | {"trigger_time": text}
    assert _parse(obj).trigger_time == expected


@pytest.mark.parametrize(
    ("ident", "key"),
    [("0858800020", "0858800020"), (["745121685", "bn240812094"], "745121685"), (42, "42")],
)
def test_id_as_string_list_or_number(ident: object, key: str) -> None:
    assert _parse(_load(EP_CAPTURE) | {"id": ident}).event_key == key


def test_maxi_ellipse_is_kept_and_radius_is_the_semi_major_axis() -> None:
    alert = _parse(_load("gcn-schema/maxi/gsc.unknown.ellipse.example.json"))
    assert alert.ellipse == Ellipse(0.22, 0.19, 153.0)
    assert alert.error_deg == pytest.approx(0.22)


def test_maxi_rectangle_becomes_the_circle_through_its_far_corner() -> None:
    alert = _parse(_load("gcn-schema/maxi/gsc.unknown.rectangle.example.json"))
    # Corner (345.72, 19.547) from (346.56, 18.61): about 0.79 deg in RA, 0.94 deg in Dec.
    assert alert.error_deg == pytest.approx(1.22, abs=0.02)


def test_position_a_b_error_fields_of_newer_schemas() -> None:
    obj = _load(EP_CAPTURE) | {"position_a_error": 0.3, "position_b_error": 0.1}
    del obj["ra_dec_error"]
    alert = _parse(obj)
    assert (alert.ellipse, alert.error_deg) == (Ellipse(0.3, 0.1, 0.0), 0.3)


def test_retraction_has_no_position_even_if_the_payload_repeats_one() -> None:
    obj = _load("gcn-schema/maxi/gsc.known.example.json") | {"alert_type": "retraction"}
    alert = _parse(obj)
    assert (alert.kind, alert.ra, alert.error_deg) == ("retraction", None, None)


def test_guano_sky_map_only_update_has_no_position_but_keeps_the_map() -> None:
    alert = _parse(_load("gcn-schema/swift/bat/guano.loc_map.example.json"))
    assert (alert.kind, alert.ra, alert.skymap_b64) == ("update", None, "hhhh...")
    with pytest.raises(AlertParseError, match="not valid base64"):
        alert.skymap_bytes()  # the example's placeholder, refused only when someone decodes it
    assert alert.references == (Reference("Fermi 694215970"),)


def test_icecube_lvk_search_references_the_superevent() -> None:
    alert = _parse(_load("gcn-schema/icecube/lvk_nu_track_search.example.json"))
    assert alert.messenger == "neutrino"
    assert alert.references == (Reference("S230914ak"), Reference("S230914ak-2-Preliminary"))


@pytest.mark.parametrize("tense", ["test", "injection"])
def test_alert_tense_test_and_injection_are_tests(tense: str) -> None:
    alert = _parse(_load(EP_CAPTURE) | {"alert_tense": tense})
    assert (alert.is_test, alert.alert_tense) == (True, tense)


def test_icecube_test_topic_makes_a_test() -> None:
    obj = _load("gcn-schema/icecube/single_neutrino_alerts.gold_bronze_track_alerts.example.json")
    assert _parse(obj, "gcn.notices.icecube.test.gold_bronze_track_alerts").is_test is True
    assert _parse(obj, "gcn.notices.icecube.gold_bronze_track_alerts").is_test is False


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ra": "178.3"}, "ra is not a number"),
        ({"ra": True}, "ra is not a number"),
        ({"ra": 400.0}, "ra out of range"),
        ({"dec": -91}, "dec out of range"),
        ({"dec": None}, "only one of ra and dec"),
        ({"trigger_time": 1714444367}, "trigger_time"),
        ({"trigger_time": "last Tuesday"}, "trigger_time is not an ISO 8601 time"),
        ({"id": {"a": 1}}, "gcn JSON field id"),
        ({"record_number": "3"}, "record_number"),
        ({"ra_dec_error": [0.1, 0.2, 0.3, 0.4]}, "4 elements"),
        ({"ra_dec_error": "small"}, "ra_dec_error is not a number"),
        ({"id": ["x" * 201]}, "event_key is empty or longer than 200"),
        ({"id": ["   "], "$schema": None}, "names no mission"),
        (
            {"$schema": "https://gcn.nasa.gov/schema/main/gcn/notices/core/Pointing.schema.json"},
            "core",
        ),
    ],
)
def test_wrong_types_and_ranges_name_the_field(changes: dict[str, Any], reason: str) -> None:
    assert reason in _reason(_load(EP_CAPTURE) | changes)


def test_nan_coordinates_are_refused() -> None:
    raw = json.dumps(_load(EP_CAPTURE) | {"ra": float("nan")}).encode()
    assert b"NaN" in raw
    assert "ra is not finite" in _reason(raw)


def test_wrong_type_statistics_are_absent_not_fatal() -> None:
    obj = _load(EP_CAPTURE) | {"image_snr": "9.4", "far": float("inf"), "classification": [1]}
    alert = _parse(obj)
    assert (alert.image_snr, alert.far, alert.classification) == (None, None, {})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty payload"),
        (b"   \n", "empty payload"),
        (b"[1, 2]", "not an object"),
        (b'{"a": ', "not well formed"),
        (b'{"a": "\xff"}', "invalid unicode"),
        (b'{"a": 1} trailing', "trailing characters"),
        (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nests too deeply"),
        (b"SIMPLE  =                    T", "neither JSON nor XML"),
        (
            (
                b'{"$schema": "https://gcn.nasa.gov/schema/v4.1.0/gcn/notices/core/Alert.schema.json",'
                b' "alert_datetime": "2024-07-25T15:50:35.792451Z"}'
            ),
            "heartbeat",
        ),
    ],
)
def test_undecodable_payloads(raw: bytes, reason: str) -> None:
    assert reason in _reason(raw)


def test_bom_and_leading_whitespace_are_tolerated() -> None:
    raw = b"\xef\xbb\xbf \n" + json.dumps(_load(EP_CAPTURE)).encode()
    assert parse_alert(raw).event_key == "01709261081"


# ---- IGWN ----------------------------------------------------------------------------------


def test_igwn_preliminary_fields_and_lazy_sky_map() -> None:
    alert = _parse(_load("igwn/MS181101ab-preliminary.json"))
    assert (alert.format, alert.mission, alert.messenger) == ("igwn_json", "lvk", "gw")
    assert (alert.notice_type, alert.kind, alert.is_test) == ("PRELIMINARY", "initial", True)
    assert alert.far == pytest.approx(9.11069936486e-14)
    assert alert.p_astro == pytest.approx(0.99)  # 1 - Terrestrial
    assert alert.classification["BNS"] == pytest.approx(0.95)
    assert alert.properties["HasNS"] == pytest.approx(0.95)
    assert alert.instrument == "H1,L1,V1"
    assert alert.issued_time == datetime(2018, 11, 1, 22, 34, 49, tzinfo=UTC)
    assert (alert.ra, alert.error_deg) == (None, None)
    skymap = alert.skymap_bytes()
    assert skymap is not None
    assert skymap.startswith(b"SIMPLE  =")
    assert alert.to_json_dict()["has_skymap"] is True


@pytest.mark.parametrize("spelling", ["EARLYWARNING", "EARLY_WARNING", "earlywarning"])
def test_igwn_early_warning_spellings(spelling: str) -> None:
    obj = _load("igwn/MS181101ab-earlywarning.json") | {"alert_type": spelling}
    assert _parse(obj).notice_type == "EARLY_WARNING"


def test_igwn_real_superevent_is_not_a_test_and_mdc_search_is() -> None:
    obj = _load("igwn/MS181101ab-initial.json") | {"superevent_id": "S181101ab"}
    assert _parse(obj).is_test is True  # search MDC
    obj["event"] = obj["event"] | {"search": "AllSky"}
    assert _parse(obj).is_test is False


def test_igwn_retraction_with_null_event() -> None:
    alert = _parse(_load("igwn/MS181101ab-retraction.json"))
    assert (alert.kind, alert.event_key, alert.trigger_time, alert.skymap_b64) == (
        "retraction",
        "MS181101ab",
        None,
        None,
    )


def test_igwn_external_coincidence_is_a_reference() -> None:
    alert = _parse(_load("igwn/MS181101ab-ext-update.json"))
    assert alert.references == (
        Reference("ivo://nasa.gsfc.gcn/Fermi#GBM_Fin_Pos2017-08-17T12:41:06.47_524666471_0-389"),
    )


def test_igwn_topic_forces_the_igwn_parser() -> None:
    obj = _load("igwn/MS181101ab-preliminary.json") | {"alert_type": "SOMETHING"}
    assert "not a known stage" in _reason(obj, "igwn.gwalert")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"event": None}, "without an event"),
        ({"superevent_id": ""}, "superevent_id"),
        ({"superevent_id": 5}, "superevent_id"),
        ({"time_created": "soon"}, "time_created"),
    ],
)
def test_igwn_bad_fields(changes: dict[str, Any], reason: str) -> None:
    assert reason in _reason(_load("igwn/MS181101ab-preliminary.json") | changes, "igwn.gwalert")


def test_classic_json_topic_names_mission_and_notice_type() -> None:
    # gcn-classic-to-json's SWIFT_BAT_GRB_POS_ACK example: no $schema, no id, a space for T.
    raw = (
        b'{"trigger_time": "2024-05-11 18:06:53.220Z", "ra": 336.66450000000003,'
        b' "dec": 8.5135, "ra_dec_error": 0.05}'
    )
    alert = parse_alert(raw, "gcn.classic.json.SWIFT_BAT_GRB_POS_ACK")
    assert (alert.mission, alert.notice_type, alert.kind) == (
        "swift",
        "SWIFT_BAT_GRB_POS_ACK",
        "initial",
    )
    assert alert.event_key.startswith("sha256:")  # names no event: each alert its own
    assert alert.trigger_time == datetime(2024, 5, 11, 18, 6, 53, 220000, tzinfo=UTC)
