"""Bad alerts are kept, explained and never stop the processor (real store, real parsers)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pipeline.conftest import KAFKA, Pipeline

RULE = """\
rules:
  - name: notify-all
    match: {topics: [gcn.notices.einstein_probe.wxt.alert]}
    notify: [mqtt]
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"
 ivorn="ivo://x/y#1" role="observation">
<What><Param name="x" value="&lol3;"/></What></voe:VOEvent>"""


def _bad_payloads() -> dict[str, bytes]:
    real_xml = sorted(KAFKA.glob("*fermi_gbm_alert.xml"))[0].read_bytes()
    real_json = json.loads(sorted(KAFKA.glob("*einstein_probe*.json"))[0].read_bytes())
    return {
        "truncated XML": real_xml[: len(real_xml) // 2],
        "billion laughs": BILLION_LAUGHS,
        "wrong types": json.dumps({**real_json, "ra": "north", "dec": [1, 2]}).encode(),
        "NaN coordinates": json.dumps(real_json)
        .replace(f'"ra": {real_json["ra"]}', '"ra": NaN')
        .encode(),
        "out of range": json.dumps({**real_json, "dec": 123.0}).encode(),
        "10 MB body": b"{" + b" " * (10 * 1024 * 1024) + b"}",
        "not text": bytes(range(256)) * 10,
        "empty": b"",
    }


async def test_each_bad_alert_is_stored_unparsed_with_its_reason(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULE)
    bad = _bad_payloads()
    for raw in bad.values():
        await p.feed(raw, "gcn.notices.einstein_probe.wxt.alert")
    good = sorted(KAFKA.glob("*einstein_probe*.json"))[0].read_bytes()
    await p.feed(good, "gcn.notices.einstein_probe.wxt.alert")  # and the processor goes on
    rows = await p.repo.inbox_list(limit=100)
    unparsed = {r.raw: r for r in rows if r.status == "unparsed"}
    for name, raw in bad.items():
        assert raw in unparsed, f"{name}: not stored as unparsed"
        reason = unparsed[raw].reason or ""
        assert reason, name
        assert "\n" not in reason
    assert [r.status for r in rows if r.raw == good] == ["processed"]
    assert p.processor.counters.unparsed == len(bad)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payload=st.one_of(
        st.binary(max_size=2048),
        st.text(max_size=512).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=20),
            lambda kids: (
                st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_fuzzed_payloads_never_escape_the_parser_contract(payload: bytes) -> None:
    """The processor's contract with parsers: AlertParseError or an alert, nothing else."""
    from autotoo.alerts import AlertParseError, parse_alert  # noqa: PLC0415

    for topic in (
        None,
        "gcn.notices.einstein_probe.wxt.alert",
        "igwn.gwalert",
        "gcn.classic.voevent.FERMI_GBM_ALERT",
    ):
        try:
            parse_alert(payload, topic)
        except AlertParseError as exc:
            assert exc.reason
            assert "\n" not in exc.reason


async def test_a_parsed_alert_without_rules_matching_plans_nothing(
    make_emulator, make_pipeline
) -> None:
    emulator = await make_emulator()
    p: Pipeline = await make_pipeline(emulator, RULE)
    await p.feed(
        sorted(KAFKA.glob("*fermi_gbm_alert.xml"))[0].read_bytes(),
        "gcn.classic.voevent.FERMI_GBM_ALERT",
    )
    assert await p.rows() == []
