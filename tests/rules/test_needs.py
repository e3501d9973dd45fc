"""The load-time scan of what a condition reads, and that the narrowed context decides alike."""

from __future__ import annotations

import pytest

from autotoo.rules.context import HELPER_NAMES
from autotoo.rules.needs import EVERYTHING, HELPER_FIELDS, Needs, condition_needs
from tests.rules.factory import outcome_of


def needs(source: str) -> Needs:
    return condition_needs(source, HELPER_NAMES)


def test_fields_and_raw_keys() -> None:
    found = needs("alert.error_deg < 0.1 && alert.raw.net_count_rate >= 0.05 && raw.SNR > 8.0")
    assert found == Needs(
        fields=frozenset({"error_deg", "raw"}),
        raw_keys=frozenset({"net_count_rate", "SNR"}),
        alert_raw=True,
        top_raw=True,
    )


def test_helper_arguments_need_only_the_position_fields() -> None:
    found = needs("abs(galactic_latitude(alert)) > 10.0 && since_trigger(alert) < 3600.0")
    assert found.fields == HELPER_FIELDS
    assert not found.alert_raw


def test_what_cannot_be_followed_means_everything() -> None:
    assert needs("size(alert) > 3").fields is None
    assert needs("alert['ra'] > 3.0").fields is None
    assert needs("alert.raw['net_count_rate'] > 0.0").raw_keys is None
    assert needs("alert.raw.exists(k, k == 'x')").raw_keys is None
    assert needs("size(raw) > 0").raw_keys is None


def test_strings_and_members_of_other_names_are_ignored() -> None:
    found = needs("alert.instrument == 'alert.ra raw.x' && event.best.raw > 1")
    assert found.fields == frozenset({"instrument"})
    assert found.raw_keys == frozenset()
    assert found.event


def test_union() -> None:
    assert (needs("alert.ra > 1.0") | needs("alert.dec > 1.0")).fields == frozenset({"ra", "dec"})
    assert (needs("alert.ra > 1.0") | EVERYTHING) == EVERYTHING


@pytest.mark.parametrize(
    "source",
    [
        "alert.error_deg < 0.1 && alert.raw.net_count_rate >= 0.05",
        "has(alert.raw.nope) || alert.raw.id[0] == '01709261081'",
        "alert.raw.net_count_rate > 1.0",
        "alert.magg > 1.0",
        "sun_distance(alert) > 46.0 && error_arcmin(alert) < 6.0",
        "raw.net_count_rate == alert.raw.net_count_rate && event.count == 1",
        "alert.flags.size() == 0 && !has(alert.ellipse.a_deg)",
    ],
)
def test_narrowed_context_decides_like_the_full_one(source: str) -> None:
    assert outcome_of(source, needs=needs(source)) == outcome_of(source)
