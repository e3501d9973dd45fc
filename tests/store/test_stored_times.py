"""The store's time text: fixed width, UTC, in time order, read back exactly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from autotoo.store.rows import parse_ts, ts


def _reference(value: datetime) -> str:
    """The format as first written (strftime), which stored rows already hold."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_written_and_read_as_the_strftime_format_was() -> None:
    rng = random.Random(5)
    start = datetime(1980, 1, 1, tzinfo=UTC)
    for n in range(20_000):
        value = start + timedelta(microseconds=rng.randrange(100 * 365 * 86_400 * 10**6))
        if n % 5 == 0:
            value = value.replace(microsecond=0)  # a whole second keeps its six zeros
        if n % 7 == 0:
            value = value.astimezone(timezone(timedelta(hours=rng.randint(-12, 14))))
        text = ts(value)
        assert text == _reference(value)
        assert parse_ts(text) == value
        assert datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) == value


def test_text_order_is_time_order() -> None:
    times = [datetime(2026, 12, 7, 12, 0, tzinfo=UTC) + timedelta(microseconds=k) for k in (0, 1)]
    times += [times[0] + timedelta(seconds=9), times[0] + timedelta(seconds=10)]
    texts = [ts(t) for t in times]
    assert texts == sorted(texts)
    assert len({len(t or "") for t in texts}) == 1


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-07T12:58:43.749106",  # no Z
        "2026-12-07T12:58:43.749106+05:00Z",  # an offset: not ours, not to be relabelled UTC
        "2026-12-07 12:58:43.749106+00:00",
        "yesterday",
    ],
)
def test_text_that_is_not_a_stored_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a stored time|Invalid isoformat"):
        parse_ts(text)


def test_none_stays_none() -> None:
    assert ts(None) is None
    assert parse_ts(None) is None
