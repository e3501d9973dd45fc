"""The rule keys of the checks before a TOO is sent: what a bad value says, and what a good
one becomes in the stored spec (the one serialization, store/specs.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from autotoo.pipeline.presend import BEFORE_TRIGGER, spec_policies
from autotoo.store.specs import Api, OnTarget, TooSpec, VisibilityPolicy, dumps, loads
from tests.rules.test_loader_errors import GOOD_TOO, problems, rule


def test_bad_values_are_located(tmp_path: Path) -> None:
    body = GOOD_TOO + (
        "  if_swift_on_target: maybe\n"
        "  on_target_radius_arcmin: 0\n"
        "  visibility: {within: 24h, otherwise_urgency: 5}\n"
    )
    assert problems(tmp_path, rule(body)) == [
        "r.yaml:12:27: rules.0.too.if_swift_on_target: Input should be 'skip' or 'submit'",
        "r.yaml:13:32: rules.0.too.on_target_radius_arcmin: Input should be greater than 0",
        (
            "r.yaml:14:52: rules.0.too.visibility.otherwise_urgency: Input should be less than "
            "or equal to 4"
        ),
    ]
    zero = GOOD_TOO + "  visibility: {within: 0s, otherwise_urgency: 3}\n"
    (problem,) = problems(tmp_path, rule(zero))
    assert problem == (
        "r.yaml:12:28: rules.0.too.visibility.within: Value error, a time after the submission, "
        "e.g. 24h"
    )


def test_policies_survive_the_store() -> None:
    trigger = datetime(2026, 12, 6, 20, 1, tzinfo=UTC)
    policy = {
        "if_swift_on_target": "skip",
        "on_target_radius_arcmin": 5.0,
        "visibility": {"within": 86400.0, "otherwise_urgency": 3},
        "trigger_time": trigger.isoformat(),
    }
    fields = spec_policies(policy)
    assert fields == {
        "on_target": OnTarget("skip", 5.0, trigger - BEFORE_TRIGGER),
        "visibility": VisibilityPolicy(timedelta(days=1), 3),
    }
    spec = TooSpec(body={"ra": 1.0, "dec": 2.0, "urgency": 1}, marker="k", **fields)
    assert loads(Api.TOO, dumps(spec)) == spec
    # a row written before these checks existed: not asked at all (no policy default)
    old = TooSpec(body={"ra": 1.0, "dec": 2.0}, marker="k")
    text = dumps(old).replace(',"on_target":null', "").replace(',"visibility":null', "")
    assert "on_target" not in text
    assert loads(Api.TOO, text) == old
