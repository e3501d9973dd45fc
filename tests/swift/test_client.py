"""Our client (both protocols) against the emulator: the seed's walkthrough, step by step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from autotoo.swift import (
    SwiftAuthError,
    SwiftClient,
    SwiftRejectedError,
    SwiftValidationError,
    make_client,
)
from tests.fixtures.swift_emulator import Emulator
from tests.swift.conftest import CONSTRAINED, seed_request

pytestmark = pytest.mark.parametrize("protocol", ["v2", "v1"])


def client_for(emu: Emulator, protocol: str, **kwargs: object) -> SwiftClient:
    url = emu.swift_v2_url if protocol == "v2" else emu.swift_v1_url
    options: dict[str, Any] = {"username": "myuser", "shared_secret": "my_shared_secret"}
    return make_client(protocol, url, poll_interval=0.01, **(options | kwargs))


async def test_seed_walkthrough(pole_emulator: Emulator, protocol: str) -> None:
    emu = pole_emulator
    async with client_for(emu, protocol) as swift:
        resolved = await swift.resolve("SMC X-3")
        assert (round(resolved.ra, 4), round(resolved.dec, 4)) == (13.0234, -72.4345)

        mode = await swift.uvot_mode(0x01AB)
        assert mode.text == "0x01ab"
        assert [e.filter_name for e in mode.entries] == ["u"]

        too = seed_request()
        validated = await swift.validate(too)
        assert validated.status == "Validated"
        assert validated.too_id is None
        assert "INFO: Total exposure time does not match total of individuals. Correcting." in (
            validated.warnings
        )

        with pytest.raises(SwiftRejectedError) as rejected:
            await swift.submit(too)
        assert rejected.value.constrained
        (message,) = rejected.value.errors
        assert CONSTRAINED.fullmatch(message)
        assert "24-hour" in message

        # The seed's recovery: an explicit new attempt at urgency 4.
        accepted = await swift.submit(too.model_copy(update={"urgency": 4}))
        assert accepted.accepted
        assert accepted.too_id is not None

        # The identical request again is a repeat (v1: the identical token, sent after its job
        # gave its final status, is a new submission, not a poll).
        with pytest.raises(SwiftRejectedError) as dup:
            await swift.submit(too.model_copy(update={"urgency": 4}))
        assert dup.value.duplicate
        assert dup.value.errors == [f"TOO already recently submitted. TOO ID: {accepted.too_id}"]
        # A changed request is a new request, not a repeat (a dry run, so no second real TOO).
        edited = await swift.submit(
            too.model_copy(update={"urgency": 4, "exp_time_just": "again", "debug": True})
        )
        assert edited.accepted
        assert edited.too_id != accepted.too_id

        debug = await swift.submit(too.model_copy(update={"urgency": 4, "debug": True}))
        assert debug.accepted
        assert debug.debug
        assert debug.too_id not in {r.too_id for r in await swift.list_toos()}

        # The accepted TOO: visible to its owner at once, then approved, scheduled and flown.
        record = await swift.get_too(accepted.too_id)
        assert record is not None
        assert record.decision == "Pending"
        assert record.science_just == too.science_just
        emu.clock.advance(timedelta(days=30))
        record = await swift.get_too(accepted.too_id)
        assert record is not None
        assert record.decision == "Approved"
        assert record.target_id == 945521  # SMC X-3's archive target ID is reused
        assert record.observed
        assert record.obsids[0] == "00945521004"  # segments 1-3 are in the archive
        calendar = await swift.calendar(too_id=accepted.too_id)
        assert len(calendar) == 7
        assert {e.obsid for e in calendar if e.observed} == set(record.obsids)
        flown = emu.sky.observations(945521)
        assert {o.obsid for o in flown} >= set(record.obsids)


async def test_local_validation_lists_every_problem(emulator: Emulator, protocol: str) -> None:
    too = seed_request(science_just=None, obs_type="Lightcurve", instrument="XRT2")
    async with client_for(emulator, protocol) as swift:
        with pytest.raises(SwiftValidationError) as exc:
            await swift.submit(too)
    assert "Missing key: science_just" in exc.value.errors
    assert "Instrument name (XRT2) not valid" in exc.value.errors
    assert (
        "Observation Type needs to be one of the following: "
        "['Spectroscopy', 'Light Curve', 'Position', 'Timing']"
    ) in exc.value.errors
    assert not emulator.swift.received  # nothing was sent


async def test_anonymous_cannot_submit(emulator: Emulator, protocol: str) -> None:
    async with client_for(emulator, protocol, username="anonymous", shared_secret="anonymous") as s:
        assert (await s.resolve("Crab")).name == "Crab"
        with pytest.raises(SwiftValidationError, match="Anonymous"):
            await s.submit(seed_request())


async def test_wrong_secret_is_an_auth_error(emulator: Emulator, protocol: str) -> None:
    async with client_for(emulator, protocol, shared_secret="wrong") as swift:
        with pytest.raises(SwiftAuthError):
            await swift.submit(seed_request(urgency=4))
    assert emulator.swift.toos == {}


async def test_find_submission_by_marker(emulator: Emulator, protocol: str) -> None:
    since = emulator.clock.now()
    async with client_for(emulator, protocol) as swift:
        accepted = await swift.submit(seed_request(urgency=4, marker="rule/EP1/too/0"))
        found = await swift.find_submission("rule/EP1/too/0", target_name="SMC X-3", since=since)
        assert found is not None
        assert found.too_id == accepted.too_id
        assert await swift.find_submission("rule/EP1/too/1", since=since) is None
