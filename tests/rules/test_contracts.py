"""The rendered actions of the example rules are accepted by the real request builders.

The Swift client's TooRequest model and its v1/v2 validation, and the UKSSDC client's
XrtRequest, are the final validators of what a rule renders; these tests hold the field
tables of the rules engine to them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

import pytest

from autotoo.alerts import NormalizedAlert
from autotoo.rules import AlertContext, load_rules, render_actions
from autotoo.rules.fields import TOO_FIELDS, XRT_GLOBALS, XRT_PRODUCT_PARAMS
from autotoo.swift.model import TooRequest
from autotoo.swift.validation import validate_request
from autotoo.xrtrequest.params import GLOBAL_BY_NAME, product
from autotoo.xrtrequest.request import XrtRequest
from tests.rules.factory import REPO, parse_file, real_alerts

RULES = load_rules([REPO / "rules" / "*.yaml"])


def matched_examples() -> list[tuple[str, NormalizedAlert, timedelta]]:
    """One real (or minimally edited real) alert per example rule that makes it fire."""
    gold = parse_file(
        "gcn-schema/icecube/single_neutrino_alerts.gold_bronze_track_alerts.example.json",
        "gcn.notices.icecube.gold_bronze_track_alerts",
        edit=("Bronze Track Alert", "Gold Track Alert"),
    )
    return [
        ("ep-wxt-bright", real_alerts("einstein_probe_wxt_alert.json")[0][1], timedelta(0)),
        (
            "svom-eclairs-grb",
            parse_file(
                "gcn-kafka-2026/000000000042_312_gcn_notices_svom_voevent_eclairs.xml",
                "gcn.notices.svom.voevent.eclairs",
            ),
            timedelta(0),
        ),
        (
            "fermi-gbm-small-error",
            next(a for _, a in real_alerts("gnd_pos.xml") if (a.error_deg or 99) <= 1.5),
            timedelta(0),
        ),
        ("icecube-gold-track", gold, timedelta(days=180)),
        (
            "swift-bat-grb-xrt",
            parse_file(
                "voevent-classic/gwcelery-swift_grb_gcn.xml",
                "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
            ),
            timedelta(0),
        ),
    ]


@pytest.mark.parametrize(("name", "alert", "later"), matched_examples())
@pytest.mark.parametrize("protocol", ["v1", "v2"])
def test_example_actions_are_valid_requests(
    name: str, alert: NormalizedAlert, later: timedelta, protocol: Literal["v1", "v2"]
) -> None:
    rule = RULES.get(name)
    assert rule is not None
    assert alert.trigger_time is not None
    planned = render_actions(rule, AlertContext(alert, (), alert.trigger_time + later))
    if planned.too is not None:
        request = TooRequest.model_validate({**planned.too, "marker": "autotoo-test"})
        checked = validate_request(request, protocol)
        assert checked.errors == [], checked.errors
    if planned.xrt is not None:
        xrt = XrtRequest("someone@example.org")
        globals_ = {**planned.xrt["globals"], "name": f"autotoo {name}"}
        if planned.xrt["submit"] == "after_observation":
            globals_["targ"] = "00012345"  # what the tracker adds once Swift has observed
        xrt.set_globals(**globals_)
        for what, pars in planned.xrt["products"].items():
            xrt.add_product(what, **pars)
        ok, report = xrt.is_valid()
        assert ok, report


def test_too_fields_exist_in_the_swift_model() -> None:
    names = set(TooRequest.model_fields) | {"source_name", "source_type"}
    assert set(TOO_FIELDS) <= names


def test_xrt_tables_are_the_ukssdc_tables() -> None:
    assert set(XRT_GLOBALS) == set(GLOBAL_BY_NAME)
    for name, params in XRT_PRODUCT_PARAMS.items():
        prod = product(name)
        own = {p.name for p in prod.pars if list not in p.types}
        assert own | set(prod.use_globals) == set(params)
