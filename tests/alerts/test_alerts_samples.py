"""The packaged sample alerts parse with their topics and tell the stories they are kept for."""

from __future__ import annotations

import pytest

from autotoo.alerts import NormalizedAlert, parse_alert
from autotoo.samples import SAMPLES, Sample


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
def test_sample_parses_with_its_topic(sample: Sample) -> None:
    raw = sample.read_bytes()
    assert len(raw) < 16_000  # package data stays small
    alert = parse_alert(raw, sample.topic)
    assert alert.topic == sample.topic


def _by_prefix(prefix: str) -> list[NormalizedAlert]:
    return [parse_alert(s.read_bytes(), s.topic) for s in SAMPLES if s.name.startswith(prefix)]


def test_svom_chain_shares_one_event_and_refines_its_position() -> None:
    grm, eclairs, mxt = _by_prefix("svom_sb26050402")
    assert {a.group_key for a in (grm, eclairs, mxt)} == {"svom:sb26050402"}
    assert [a.kind for a in (grm, eclairs, mxt)] == ["initial", "update", "update"]
    assert grm.error_deg is None  # GRM sends a coarse position with error -1
    assert mxt.error_deg < eclairs.error_deg


def test_svom_retraction_cancels_the_burst_it_names() -> None:
    trigger, retraction = _by_prefix("svom_sb26043009")
    assert retraction.group_key == trigger.group_key == "svom:sb26043009"
    assert (trigger.kind, retraction.kind) == ("initial", "retraction")


def test_fermi_chain_narrows() -> None:
    alerts = _by_prefix("fermi_800400263")
    assert {a.group_key for a in alerts} == {"fermi:800400263"}
    assert [a.notice_type for a in alerts] == [
        "FERMI_GBM_ALERT",
        "FERMI_GBM_FLT_POS",
        "FERMI_GBM_GND_POS",
        "FERMI_GBM_FIN_POS",
    ]
    assert alerts[0].ra is None
    errors = [a.error_deg for a in alerts[1:]]
    assert errors == sorted(errors, reverse=True)


def test_igwn_sample_sky_map_is_a_tiny_multi_order_fits() -> None:
    (alert,) = _by_prefix("igwn_")
    skymap = alert.skymap_bytes()
    assert skymap is not None
    assert skymap.startswith(b"SIMPLE  =")
    assert b"NUNIQ" in skymap
    assert len(skymap) == 3 * 2880
