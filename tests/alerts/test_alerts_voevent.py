"""VOEvent specifics: flags, notice types, kinds, keys, positions, hardening."""

from __future__ import annotations

import re

import pytest

from autotoo.alerts import AlertParseError, Reference, parse_alert
from autotoo.alerts.voevent import typed_value
from tests.alerts.alert_corpus import CORPUS
from tests.alerts.voevents import (
    citations,
    group,
    observatory_location,
    param,
    voevent,
    where_when,
)


def _corpus_bytes(name: str) -> bytes:
    assert CORPUS is not None
    return (CORPUS / name).read_bytes()


SWIFT_GRB = "voevent-classic/gwcelery-swift_grb_gcn.xml"


def test_swift_bat_flags_from_params() -> None:
    alert = parse_alert(_corpus_bytes(SWIFT_GRB), "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK")
    assert alert.notice_type == "SWIFT_BAT_GRB_POS_ACK"
    assert alert.packet_type == 61
    assert alert.instrument == "BAT"
    assert alert.flags["GRB_Identified"] is True
    assert alert.flags["StarTrack_Lost_Lock"] is False
    assert alert.flags["Def_NOT_a_GRB"] is False
    assert alert.flags["Target_in_Flt_Catalog"] is False
    assert alert.rate_signif == pytest.approx(13.96)
    assert alert.image_snr == pytest.approx(8.52)
    assert alert.event_name == "GRB 220907"
    assert alert.raw["Soln_Status"] == "0x20000003"  # hex flag words stay strings
    assert alert.raw["Merit_Val5"] == -1


@pytest.mark.parametrize("flag", ["StarTrack_Lost_Lock", "Def_NOT_a_GRB", "Target_in_Flt_Catalog"])
def test_swift_bat_bogus_trigger_flags_are_true(flag: str) -> None:
    raw, count = re.subn(
        rf'(name="{flag}"\s+value=")false"', r'\1true"', _corpus_bytes(SWIFT_GRB).decode()
    )
    assert count == 1
    alert = parse_alert(raw.encode())
    assert alert.flags[flag] is True


def test_flag_repeated_in_two_groups_is_true_if_either_says_so() -> None:
    raw = _corpus_bytes(SWIFT_GRB).decode()
    # Near_Bright_Star appears in Solution_Status and again in Misc_Flags; set only the second.
    first = raw.index('name="Near_Bright_Star"')
    second = raw.index('name="Near_Bright_Star"', first + 1)
    tail = raw[second:].replace('value="false"', 'value="true"', 1)
    alert = parse_alert((raw[:second] + tail).encode())
    assert alert.flags["Near_Bright_Star"] is True
    assert alert.raw["Near_Bright_Star"] is False  # raw keeps the first occurrence


def test_test_submission_flag_makes_a_test() -> None:
    raw = _corpus_bytes(SWIFT_GRB).decode()
    raw = raw.replace('"Test_Submission"          value="false"', '"Test_Submission" value="true"')
    assert parse_alert(raw.encode()).is_test is True


def test_every_param_marked_string_is_still_typed() -> None:
    # voevent-parse's SWIFT_bat_position_v2.0_example.xml marks every Param dataType="string".
    raw = voevent(
        param("Packet_Type", "61", data_type="string"),
        param("Pkt_Ser_Num", "1", data_type="string"),
        param("TrigID", "532871", data_type="string"),
        param("Rate_Signif", "20.32", data_type="string"),
        group("Solution_Status", param("StarTrack_Lost_Lock", "false", data_type="string")),
    )
    alert = parse_alert(raw)
    assert (alert.packet_type, alert.revision, alert.event_key) == (61, 1, "532871")
    assert alert.flags == {"StarTrack_Lost_Lock": False}
    assert alert.rate_signif == pytest.approx(20.32)


def test_swift_pointing_direction_is_recognised_and_has_no_source_position() -> None:
    raw = voevent(
        param("Packet_Type", "83"),
        param("Pkt_Ser_Num", "306"),
        param("TrigID", "48767"),
        param("Slew_RA", "11.5836", "deg"),
        param("Coords_Type", "2"),
        param("Coords_String", "pointing_direction"),
        ivorn="ivo://nasa.gsfc.gcn/SWIFT#Point_Dir_2017-11-28T08:22:38.00_1023458943-887",
        role="utility",
        where=where_when(position=("11.5836", "-72.6159", "0.0000")),
    )
    alert = parse_alert(raw)
    assert (alert.mission, alert.notice_type, alert.kind) == ("swift", "SWIFT_POINTDIR", "initial")
    assert alert.role == "utility"
    assert alert.ra is None
    assert alert.raw["Slew_RA"] == pytest.approx(11.5836)


def test_legacy_lvc_retraction_wins_over_its_alert_type() -> None:
    ivorns = [f"ivo://gwnet/LVC#MS181101ab-{n}" for n in ("1-Preliminary", "2-Initial")]
    raw = voevent(
        param("Packet_Type", "164", data_type="int"),
        param("Pkt_Ser_Num", "4", data_type="string"),
        param("GraceID", "MS181101ab", data_type="string"),
        param("AlertType", "Preliminary", data_type="string"),
        ivorn="ivo://gwnet/LVC#MS181101ab-4-Retraction",
        role="test",
        where=where_when(iso_time="2018-11-01T22:22:46.654437", position=None),
        extra=citations("retraction", *ivorns),
    )
    alert = parse_alert(raw)
    assert (alert.mission, alert.messenger, alert.kind) == ("lvk", "gw", "retraction")
    assert (alert.notice_type, alert.event_key, alert.revision) == (
        "LVC_RETRACTION",
        "MS181101ab",
        4,
    )
    assert alert.is_test is True
    assert alert.references == tuple(Reference(i, "retraction") for i in ivorns)
    assert alert.ra is None


def test_legacy_lvc_preliminary_classification_and_far() -> None:
    raw = voevent(
        param("Packet_Type", "150"),
        param("GraceID", "S190425z"),
        param("AlertType", "Preliminary"),
        param("FAR", "4.5e-13", "Hz"),
        group("Classification", param("BNS", "0.999"), param("Terrestrial", "0.001")),
        group("Properties", param("HasNS", "1.0"), param("HasRemnant", "0.0")),
        ivorn="ivo://gwnet/LVC#S190425z-1-Preliminary",
        where=where_when(position=None),
    )
    alert = parse_alert(raw, "gcn/classic/voevent/LVC_PRELIMINARY")
    assert (alert.kind, alert.is_test, alert.topic) == (
        "initial",
        False,
        "gcn.classic.voevent.LVC_PRELIMINARY",
    )
    assert alert.far == pytest.approx(4.5e-13)
    assert alert.classification == {"BNS": 0.999, "Terrestrial": 0.001}
    assert alert.properties == {"HasNS": 1.0, "HasRemnant": 0.0}


def test_legacy_lvc_update_groups_typed_by_attribute() -> None:
    # The shape of LVC VOEvents (e.g. S190814bv-5-Update): score groups carry type=, not name=.
    raw = voevent(
        param("Packet_Type", "152", data_type="int"),
        param("Pkt_Ser_Num", "5", data_type="string"),
        param("GraceID", "S190814bv", data_type="string"),
        param("AlertType", "Update", data_type="string"),
        param("HardwareInj", "0", data_type="int"),
        param("Instruments", "H1,L1,V1", data_type="string"),
        param("FAR", "2.03262501422e-33", "Hz", data_type="float"),
        param("Search", "AllSky", data_type="string"),
        group("LALInference.v1", param("skymap_fits", "x.fits.gz"), type_="GW_SKYMAP"),
        group(None, param("NSBH", "0.99789"), param("Terrestrial", "0.0"), type_="Classification"),
        group(None, param("HasNS", "0.997890295359"), type_="Properties"),
        ivorn="ivo://gwnet/LVC#S190814bv-5-Update",
        where=where_when(iso_time="2019-08-14T21:10:39.012957", position=None),
        extra=citations("supersedes", "ivo://gwnet/LVC#S190814bv-4-Update"),
    )
    alert = parse_alert(raw)
    assert (alert.notice_type, alert.kind, alert.revision, alert.is_test) == (
        "LVC_UPDATE",
        "update",
        5,
        False,
    )
    assert alert.classification == {"NSBH": 0.99789, "Terrestrial": 0.0}
    assert alert.properties == {"HasNS": pytest.approx(0.997890295359)}
    assert (alert.instrument, alert.far) == ("H1,L1,V1", pytest.approx(2.03262501422e-33))
    assert alert.references[0].cite == "supersedes"


@pytest.mark.parametrize(("name", "value"), [("HardwareInj", "1"), ("Search", "MDC")])
def test_legacy_lvc_injections_and_mock_data_are_tests(name: str, value: str) -> None:
    raw = voevent(
        param("Packet_Type", "150"),
        param("GraceID", "S190814bv"),
        param(name, value),
        ivorn="ivo://gwnet/LVC#S190814bv-1-Preliminary",
        where=where_when(position=None),
    )
    assert parse_alert(raw).is_test is True


def test_icecube_gold_track_key_far_and_signalness() -> None:
    raw = voevent(
        param("Packet_Type", "173"),
        param("Pkt_Ser_Num", "2"),
        param("AMON_ID", "13419117593623"),
        param("Rev", "1"),
        param("run_id", "134191"),
        param("event_id", "17593623"),
        param("signalness", "0.8283"),
        param("FAR", "0.2894", "yr^-1"),
        param("src_error_90", "1.2199", "deg"),
        group("Trigger_ID", param("Test", "false"), param("Retraction", "false")),
        ivorn="ivo://nasa.gsfc.gcn/AMON#ICECUBE_GOLD_Event2020-06-15T14:49:17.37_24_134191_017593623_1",
        where=where_when(position=("142.9499", "3.6600", "1.2199")),
    )
    alert = parse_alert(raw)
    assert (alert.mission, alert.messenger, alert.notice_type) == (
        "icecube",
        "neutrino",
        "ICECUBE_ASTROTRACK_GOLD",
    )
    assert alert.event_key == "134191_17593623"  # the gcn-schema IceCube id spelling
    assert alert.kind == "update"  # Rev 1: the refined position of the first notice
    assert alert.far == pytest.approx(0.2894 / (365.25 * 86400))
    assert alert.p_astro == pytest.approx(0.8283)
    assert (alert.error_deg, alert.error_confidence) == (pytest.approx(1.2199), 0.9)


def test_icecube_retraction_flag() -> None:
    raw = voevent(
        param("Packet_Type", "174"),
        param("run_id", "1"),
        param("event_id", "2"),
        group("Trigger_ID", param("Retraction", "true")),
        ivorn="ivo://nasa.gsfc.gcn/AMON#ICECUBE_BRONZE_Event_1_2",
    )
    alert = parse_alert(raw)
    assert (alert.kind, alert.ra) == ("retraction", None)


def test_svom_retraction_on_the_grm_topic() -> None:
    name = "gcn-kafka-2026/000000000058_342_gcn_notices_svom_voevent_grm.xml"
    alert = parse_alert(_corpus_bytes(name), "gcn.notices.svom.voevent.grm")
    assert (alert.mission, alert.instrument, alert.notice_type) == (
        "svom",
        "ECLAIRs",
        "SVOM_RETRACTION",
    )
    assert (alert.kind, alert.event_key, alert.topic) == (
        "retraction",
        "sb26043009",
        "gcn.notices.svom.voevent.grm",
    )
    assert [r.cite for r in alert.references] == ["retraction"] * 3
    assert alert.references[0].target == "ivo://org.svom/fsc#sb26043009_grm-trigger"
    assert alert.ra is None  # the retraction repeats a position; rules must not use it
    assert alert.raw["Burst_Id"] == "sb26043009"


def test_svom_mxt_notice_type_drops_the_quality_suffix() -> None:
    name = "gcn-kafka-2026/000000001257_52_gcn_notices_svom_voevent_mxt.xml"
    alert = parse_alert(_corpus_bytes(name))
    assert (alert.notice_type, alert.instrument, alert.kind) == (
        "SVOM_MXT_INITIAL",
        "MXT",
        "update",
    )
    assert alert.ivorn == "ivo://org.svom/fsc#sb26051101_mxt-initial_qf4"
    assert alert.image_snr == pytest.approx(255.0)


def test_svom_grm_negative_error_means_not_stated() -> None:
    name = "gcn-kafka-2026/000000000037_330_gcn_notices_svom_voevent_grm.xml"
    alert = parse_alert(_corpus_bytes(name))
    assert (alert.ra, alert.dec, alert.error_deg) == (
        pytest.approx(171.5201),
        pytest.approx(-40.9497),
        None,
    )
    assert alert.rate_snr == pytest.approx(16.7)


def test_fermi_alert_without_position_and_update_with_citation() -> None:
    alert = parse_alert(
        _corpus_bytes("gcn-kafka-2026/000000000002_3969_gcn_classic_voevent_fermi_gbm_alert.xml")
    )
    assert (alert.kind, alert.ra, alert.notice_type) == ("initial", None, "FERMI_GBM_ALERT")
    flt = parse_alert(
        _corpus_bytes("gcn-kafka-2026/000000000252_8512_gcn_classic_voevent_fermi_gbm_flt_pos.xml")
    )
    assert (flt.kind, flt.event_key, flt.most_likely_index) == ("update", "798397594", 1)
    assert flt.references == (
        Reference(
            "ivo://nasa.gsfc.gcn/Fermi#GBM_Alert_2026-04-20T17:06:29.18_798397594_1-026",
            "followup",
        ),
    )
    assert (flt.ra, flt.dec, flt.error_deg) == (
        pytest.approx(347.8667),
        pytest.approx(-24.4167),
        pytest.approx(16.9333),
    )
    assert str(flt.trigger_time) == "2026-04-20 17:06:29.180000+00:00"


def test_comments_cdata_and_latin1_are_fine() -> None:
    raw = voevent(
        "<!-- a comment -->",
        param("Packet_Type", "61"),
        param("TrigID", "7"),
        "<Description><![CDATA[Bright <burst>]]></Description>",
    ).replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    assert parse_alert(raw).event_key == "7"


def test_default_namespace_voevent() -> None:
    raw = (
        '<VOEvent xmlns="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://nasa.gsfc.gcn/'
        'SWIFT#BAT_GRB_Pos_1-1" role="observation" version="2.0"><What>'
        '<Param name="Packet_Type" value="61"/><Param name="TrigID" value="1"/></What>'
        f"{where_when()}</VOEvent>"
    ).encode()
    alert = parse_alert(raw)
    assert (alert.notice_type, alert.event_key, alert.ra) == ("SWIFT_BAT_GRB_POS_ACK", "1", 10.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01709261081", "01709261081"),
        ("0x20000003", "0x20000003"),
        ("False", False),
        ("true", True),
        ("-3", -3),
        ("1.5e3", 1500.0),
        ("4", 4),
        ("14:05:14.18", "14:05:14.18"),
        ("nan", "nan"),
    ],
)
def test_typed_param_values(text: str, expected: object) -> None:
    value = typed_value(text)
    assert value == expected
    assert type(value) is type(expected)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="x"><What>
<Param name="TrigID" value="&lol3;"/></What></voe:VOEvent>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE v [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<VOEvent ivorn="x"><What><Param name="TrigID" value="&xxe;"/></What></VOEvent>"""


PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE v [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]><VOEvent/>"""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (BILLION_LAUGHS, "DTD or markup declaration"),
        (EXTERNAL_ENTITY, "DTD or markup declaration"),
        (PARAMETER_ENTITY, "DTD or markup declaration"),
        (b"<!DOCTYPE VOEvent><VOEvent/>", "DTD or markup declaration"),
        (BILLION_LAUGHS.decode().encode("utf-16"), "neither JSON nor XML"),
        (BILLION_LAUGHS.decode().encode("utf-16-le"), "not ASCII-compatible"),
        (b'<?xml version="1.0" encoding="cp037"?>' + "<VOEvent/>".encode("cp037"), "cp037"),
        (b"<VOEvent><What>", "not well formed"),
        (b"<html><body/></html>", "not <VOEvent>"),
        (voevent(param("Packet_Type", "sixty")), "Packet_Type is not an integer"),
        (voevent(param("TrigID", "1"), where=where_when(position=("ten", "1", "1"))), "C1"),
        (voevent(param("TrigID", "1"), where=where_when(system="GAL-TOPO")), "not equatorial"),
        (voevent(param("TrigID", "1"), where=where_when(iso_time="yesterday")), "ISOTime"),
        (voevent(param("TrigID", "1"), where=where_when(position=("10", "95", "1"))), "dec"),
        (voevent(param("TrigID", "1"), ivorn="urn:nothing"), "names no mission"),
        (b"<VOEvent>" + b"<x/>" * 300_000 + b"</VOEvent>", "exceeds"),
    ],
)
def test_bad_voevents_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(AlertParseError) as info:
        parse_alert(raw)
    assert reason in info.value.reason
    assert "\n" not in info.value.reason


def test_unknown_packet_type_takes_its_name_from_the_topic_or_the_number() -> None:
    raw = voevent(param("Packet_Type", "250"), param("TrigID", "9"))
    bare = parse_alert(raw)
    assert (bare.mission, bare.notice_type) == ("swift", "PACKET_250")  # mission from the ivorn
    named = parse_alert(raw, "gcn.classic.voevent.SWIFT_NEW_THING")
    assert (named.mission, named.notice_type) == ("swift", "SWIFT_NEW_THING")


def test_test_packet_type_is_a_test() -> None:
    raw = voevent(param("Packet_Type", "82"), param("TrigID", "9"))
    alert = parse_alert(raw)
    assert (alert.notice_type, alert.is_test) == ("SWIFT_BAT_GRB_POS_TEST", True)


def test_maxi_unknown_source_voevent() -> None:
    raw = voevent(
        param("Packet_Type", "134"),
        param("Pkt_Ser_Num", "1"),
        param("TrigID", "9995289617"),
        ivorn="ivo://nasa.gsfc.gcn/MAXI#Unknown_Source_2023-02-20T08:56:01_9995289617-1",
        where=where_when(iso_time="2023-02-20T08:56:01", position=("346.56", "18.61", "0.4")),
    )
    alert = parse_alert(raw, "gcn/classic/voevent/MAXI_UNKNOWN")
    assert (alert.mission, alert.notice_type, alert.instrument) == ("maxi", "MAXI_UNKNOWN", None)
    assert (alert.event_key, alert.kind, alert.error_deg) == ("9995289617", "initial", 0.4)


def test_icecube_first_revision_is_initial() -> None:
    raw = voevent(
        param("Packet_Type", "174"),
        param("Pkt_Ser_Num", "6"),
        param("run_id", "136973"),
        param("event_id", "28816141"),
        param("Rev", "0"),
        ivorn="ivo://nasa.gsfc.gcn/AMON#ICECUBE_BRONZE_Event2022-08-22T20:26:30.03_25_136973_028816141_0",
    )
    alert = parse_alert(raw)
    assert (alert.notice_type, alert.kind, alert.event_key) == (
        "ICECUBE_ASTROTRACK_BRONZE",
        "initial",
        "136973_28816141",
    )


@pytest.mark.parametrize(
    ("name", "packet", "ivorn"),
    [
        ("IceCube", "173", "ivo://nasa.gsfc.gcn/AMON#ICECUBE_GOLD_Event_134191_17593623_0"),
        ("KM3NeT", None, "ivo://km3net.org/alerts#KM3NeT_test_1"),
        ("ANTARES", None, "ivo://nasa.gsfc.gcn/Antares_Alert#1438351269"),
    ],
)
def test_an_observatory_location_with_its_own_coordinates_is_not_the_source(
    name: str, packet: str | None, ivorn: str
) -> None:
    """Neutrino telescopes state where they are (geodetic) before where the source is."""
    params = [param("Packet_Type", packet)] if packet else []
    raw = voevent(
        *params,
        param("run_id", "134191"),
        param("event_id", "17593623"),
        ivorn=ivorn,
        where=where_when(
            iso_time="2026-05-01T10:00:00.00",
            position=("142.9499", "3.6600", "1.2199"),
            observatory=observatory_location(name),
        ),
    )
    alert = parse_alert(raw, "gcn.notices.icecube.lvk_nu_track_search" if not packet else None)
    assert (alert.ra, alert.dec, alert.error_deg) == (
        pytest.approx(142.9499),
        pytest.approx(3.66),
        pytest.approx(1.2199),
    )
    assert alert.trigger_time is not None and alert.trigger_time.year == 2026


def test_a_geodetic_source_position_is_still_refused() -> None:
    raw = voevent(param("TrigID", "1"), where=where_when(system="UTC-GEOD-TOPO"))
    with pytest.raises(AlertParseError, match="not equatorial"):
        parse_alert(raw, "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK")


def test_deeply_nested_where_when_is_refused_or_parsed_without_crashing() -> None:
    deep = "<Group>" * 5000 + "</Group>" * 5000
    raw = voevent(param("TrigID", "1"), where=f"<WhereWhen>{deep}</WhereWhen>")
    alert = parse_alert(raw, "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK")
    assert alert.ra is None
