"""Emulator behaviour beyond the seed walk: sessions, raw wire errors, v1 jobs, business rules."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import jwt
import pytest
from pydantic import ValidationError

from autotoo.emulators.sky import Sky
from autotoo.emulators.swift.constraints import constrained_until
from autotoo.emulators.swift.rules import SwiftRules
from autotoo.emulators.users import Users
from autotoo.swift import SwiftRejectedError, SwiftV1Client, SwiftV2Client
from autotoo.swift.v1 import sign
from tests.fixtures.swift_emulator import Emulator, MakeEmulator
from tests.swift.conftest import BRIGHT_STAR, CONSTRAINED, seed_request

CREDS = {"username": "myuser", "shared_secret": "my_shared_secret"}

BASE_FORM = {
    "target_name": "X", "target_type": "Y", "ra": "10", "dec": "10", "obs_type": "Timing",
    "science_just": "s", "immediate_objective": "i", "exp_time_just": "e", "exposure": "1000",
    "xrt_countrate": "1", "username": "myuser",
}  # fmt: skip


async def _post_form(
    url: str, form: dict[str, str], *, user: tuple[str, str] = ("myuser", "my_shared_secret")
) -> tuple[int, dict[str, Any]]:
    """Log in to the v2 service at ``url`` as ``user`` and POST a TOO form: (status, body)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        login = {"username": user[0], "password": user[1]}
        async with http.post(f"{url}/login", json=login) as r:
            assert r.status == 200
        async with http.post(f"{url}/swift/too", data=form) as r:
            return r.status, await r.json()


async def test_v2_paths_with_and_without_slash_and_anonymous_reads(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as http:
        for path in ("/resolve", "/resolve/"):
            async with http.get(f"{emulator.swift_v2_url}{path}", params={"name": "smc x-3"}) as r:
                assert r.status == 200
                body = await r.json()
        assert (body["name"], body["ra"]) == ("SMC X-3", 13.02343792)
        async with http.get(f"{emulator.swift_v2_url}/resolve", params={"name": "Nowhere"}) as r:
            body = await r.json()
        assert body["status"]["status"] == "Rejected"
        async with http.post(f"{emulator.swift_v2_url}/swift/too", data={"a": "b"}) as r:
            assert r.status == 401  # anonymous (no session) may not submit
        async with http.get(f"{emulator.swift_v2_url}/session") as r:
            assert (await r.json()) == {"username": "anonymous"}


async def test_v2_login_and_malformed_form(emulator: Emulator) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        bad = {"username": "myuser", "password": "nope"}
        async with http.post(f"{emulator.swift_v2_url}/login", json=bad) as r:
            assert r.status == 401
        good = {"username": "myuser", "password": "my_shared_secret"}
        async with http.post(f"{emulator.swift_v2_url}/login", json=good) as r:
            assert r.status == 200
        form = {"target_name": "X", "ra": "north", "username": "myuser"}
        async with http.post(f"{emulator.swift_v2_url}/swift/too/", data=form) as r:
            assert r.status == 422
            detail = (await r.json())["detail"]
        fields = {d["loc"][-1] for d in detail}
        assert {"ra", "target_type", "science_just", "exposure", "obs_type"} <= fields
        async with http.get(f"{emulator.swift_v2_url}/session") as r:
            assert (await r.json()) == {"username": "myuser"}


async def test_v2_expired_session_is_renewed_once(emulator: Emulator) -> None:
    async with SwiftV2Client(emulator.swift_v2_url, **CREDS) as swift:
        await swift.list_toos()
        emulator.swift.sessions.clear()  # the service forgot every session
        assert await swift.list_toos() == []
        assert len(emulator.swift.sessions) == 1


async def test_v2_username_must_match_the_session(make_emulator: MakeEmulator) -> None:
    users = Users(swift={"myuser": "my_shared_secret", "other": "s2"})
    emu = await make_emulator(users=users)
    status, body = await _post_form(emu.swift_v2_url, BASE_FORM, user=("other", "s2"))
    assert status == 400
    assert body["status"]["errors"] == ["TOO username does not match the logged-in user."]


async def test_v1_token_is_a_job_polled_by_resending(emulator: Emulator) -> None:
    data = {"username": "myuser", "name": "Crab"}
    token = sign("Swift_Resolve", data, "my_shared_secret")
    async with aiohttp.ClientSession() as http:
        async with http.get(emulator.swift_v1_url, params={"jwt": token}) as r:  # GET form
            reply = await r.json()
        assert reply["api_version"] == "1.2"
        assert reply["api_data"]["ra"] == pytest.approx(83.633, abs=1e-3)
        forged = jwt.encode({"api_name": "Swift_Resolve", "api_data": data}, "x" * 32)
        async with http.post(emulator.swift_v1_url, data={"jwt": forged}) as r:
            assert r.status == 200
            assert r.content_type == "text/html"  # the real service's bad-signature answer

        too = seed_request(urgency=4, uvot_just=None)
        async with SwiftV1Client(emulator.swift_v1_url, poll_interval=0.01, **CREDS) as swift:
            token = sign("Swift_TOO_Request", {"username": "myuser"}, "my_shared_secret")
            states = []
            for _ in range(3):
                async with http.post(emulator.swift_v1_url, data={"jwt": token}) as r:
                    states.append((await r.json())["api_data"]["status"])
            # Polled until its final status; after that the same token is a new submission.
            assert states == ["Queued", "Rejected", "Queued"]
            accepted = await swift.submit(too)
            assert accepted.jobnumber is not None
            status = await swift.job_status(accepted.jobnumber)
            assert (status["status"], status["too_id"]) == ("Accepted", accepted.too_id)
    assert len(emulator.swift.toos) == 1


@pytest.mark.parametrize("protocol", ["v1", "v2"])
async def test_uvot_rules(emulator: Emulator, protocol: str) -> None:
    betelgeuse = {"ra": 88.79293899, "dec": 7.40703634}
    if protocol == "v2":
        client: SwiftV1Client | SwiftV2Client = SwiftV2Client(emulator.swift_v2_url, **CREDS)
    else:
        client = SwiftV1Client(emulator.swift_v1_url, poll_interval=0.01, **CREDS)
    async with client as swift:
        with pytest.raises(SwiftRejectedError) as exc:
            await swift.submit(seed_request(urgency=4, uvot_mode=0x30ED, **betelgeuse))
        assert exc.value.errors == [BRIGHT_STAR]
        with pytest.raises(SwiftRejectedError, match="not allowed due to a bright star: u"):
            await swift.uvot_mode(0x01AB, **betelgeuse)
        with pytest.raises(SwiftRejectedError) as exc:
            await swift.submit(seed_request(urgency=4, uvot_mode=0x1234))
        assert exc.value.errors == ["UVOT mode 0x1234 is not a valid UVOT mode."]


async def test_sun_constraint_for_a_4_hour_too(emulator: Emulator) -> None:
    from astropy.coordinates import get_body  # noqa: PLC0415 -- astropy only where needed
    from astropy.time import Time  # noqa: PLC0415

    sun = get_body("sun", Time(emulator.clock.now()))  # geocentric: as seen from Swift
    too = seed_request(urgency=1, ra=float(sun.ra.deg), dec=float(sun.dec.deg))
    async with SwiftV2Client(emulator.swift_v2_url, **CREDS) as swift:
        with pytest.raises(SwiftRejectedError) as exc:
            await swift.submit(too)
        assert exc.value.constrained
        assert CONSTRAINED.fullmatch(exc.value.errors[0])
        assert "4-hour" in exc.value.errors[0]
        accepted = await swift.submit(too.model_copy(update={"urgency": 3}))
    entry = emulator.swift.toos[accepted.too_id or 0]
    until = constrained_until(emulator.swift.rules, too.ra or 0, too.dec or 0, emulator.clock.now())
    assert until is not None
    # The Sun moves ~1 deg/day along the ecliptic: 46 deg away takes about 47 days.
    assert timedelta(days=44) < until - emulator.clock.now() < timedelta(days=50)
    assert entry.observations[0].start >= until  # scheduled once the Sun has moved on


async def test_lifecycle_visibility_and_the_shared_sky(make_emulator: MakeEmulator) -> None:
    users = Users(swift={"myuser": "my_shared_secret", "other": "s2"})
    emu = await make_emulator(users=users, rules=SwiftRules(constraints=False))
    too = seed_request(target_name="EP240101a", ra=150.0, dec=20.0, urgency=2, num_of_visits=2)
    async with (
        SwiftV2Client(emu.swift_v2_url, **CREDS) as mine,
        SwiftV2Client(emu.swift_v2_url, username="other", shared_secret="s2") as theirs,
    ):
        accepted = await mine.submit(too)
        assert accepted.too_id is not None
        assert await theirs.list_toos(mine=False) == []  # not approved yet
        assert await mine.calendar(too_id=accepted.too_id) == []
        emu.clock.advance(timedelta(hours=2, minutes=1))
        (seen,) = await theirs.list_toos(mine=False)
        assert seen.decision == "Approved"
        assert seen.science_just is None  # texts only for the owner
        target_id = seen.target_id
        assert target_id is not None
        assert target_id >= Sky.FIRST_NEW_TARGET_ID
        planned = await mine.calendar(too_id=accepted.too_id)
        assert [e.observed for e in planned] == [False, False]
        assert emu.sky.observations(target_id) == []  # nothing flown yet: no XRT data
        emu.clock.advance(timedelta(days=3))
        flown = await mine.calendar(too_id=accepted.too_id)
        assert [e.obsid for e in flown] == [f"{target_id:08d}001", f"{target_id:08d}002"]
        record = await mine.get_too(accepted.too_id)
        assert record is not None
        assert (record.done, record.observed) == (True, True)
    target = emu.sky.get(target_id)
    assert target is not None
    assert target.name == "EP240101a"
    assert [o.obsid for o in emu.sky.observations(target_id)] == record.obsids


async def test_v1_processing_replies_are_configurable(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(rules=SwiftRules(v1_pending_replies=3))
    token = sign("Swift_TOO_Request", {"username": "myuser"}, "my_shared_secret")
    async with aiohttp.ClientSession() as http:
        states = []
        for _ in range(5):
            async with http.post(emu.swift_v1_url, data={"jwt": token}) as r:
                states.append((await r.json())["api_data"]["status"])
    assert states == ["Queued", "Processing", "Processing", "Rejected", "Queued"]


async def test_v2_concurrent_requests_share_one_login(emulator: Emulator) -> None:
    async with SwiftV2Client(emulator.swift_v2_url, **CREDS) as swift:
        await asyncio.gather(*(swift.list_toos() for _ in range(5)))
        assert len(emulator.swift.sessions) == 1
        emulator.swift.sessions.clear()
        await asyncio.gather(*(swift.list_toos() for _ in range(5)))
        assert len(emulator.swift.sessions) == 1


async def test_repeat_window_and_debug_namespace(make_emulator: MakeEmulator) -> None:
    emu = await make_emulator(rules=SwiftRules(constraints=False))
    too = seed_request(urgency=3)
    async with SwiftV2Client(emu.swift_v2_url, **CREDS) as swift:
        first = await swift.submit(too.model_copy(update={"debug": True}))
        real = await swift.submit(too)  # a dry run never blocks a real TOO
        with pytest.raises(SwiftRejectedError, match=f"TOO ID: {real.too_id}$"):
            await swift.submit(too)
        with pytest.raises(SwiftRejectedError, match=f"TOO ID: {first.too_id}$"):
            await swift.submit(too.model_copy(update={"debug": True}))
        emu.clock.advance(timedelta(hours=24, minutes=1))
        again = await swift.submit(too)  # outside the window: a new TOO
        with pytest.raises(SwiftRejectedError, match=f"TOO ID: {again.too_id}$"):
            await swift.submit(too)  # the repeat is of the new one: the old one is forgotten
    assert sorted(emu.swift.toos) == sorted([real.too_id, again.too_id])


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"xrt_countrate": ""}, "Must specify at least one brightness value."),
        ({"proposal": "true"}, "Must specify proposal ID and PI if GI proposal."),
        ({"tiling": "true"}, "Must specify tiling justification if tiling is True."),
        ({"target_type": "GRB"}, "Must specify GRB trigger time and detector"),
        ({"uvot_mode": "0x30ed"}, "Must specify UVOT justification"),
        ({"num_of_visits": "3", "exposure": "900"}, "Must specify monitoring frequency"),
        ({"monitoring_freq": "2 fortnights"}, "Monitoring cadence (2 fortnights) not valid."),
    ],
)
async def test_v2_server_side_content_rules(
    emulator: Emulator, change: dict[str, str], error: str
) -> None:
    form = {k: v for k, v in (BASE_FORM | change).items() if v != ""}
    status, body = await _post_form(emulator.swift_v2_url, form)
    assert status == 400
    assert body["status"]["status"] == "Rejected"
    assert any(e.startswith(error) for e in body["status"]["errors"])
    assert not emulator.swift.toos


@pytest.mark.parametrize(
    ("tiles", "accepted"), [("19", True), ("Other", True), ("5", False), ("nineteen", False)]
)
async def test_v2_number_of_tiles_is_one_of_the_patterns(
    emulator: Emulator, tiles: str, accepted: bool
) -> None:
    """The form's field is one of '4', '7', '19', '37' or 'Other' (swifttools 4's schema)."""
    form = BASE_FORM | {
        "tiling": "true",
        "tiling_justification": "a GW error region",
        "number_of_tiles": tiles,
    }
    status, body = await _post_form(emulator.swift_v2_url, form)
    if accepted:
        assert status == 201, body
        (too,) = emulator.swift.toos.values()
        assert too.form.number_of_tiles == tiles
    else:
        assert status == 422, body
        (problem,) = body["detail"]
        assert problem["loc"][-1] == "number_of_tiles"
        assert problem["msg"] == "Input should be '4', '7', '19', '37' or 'Other'"
        assert not emulator.swift.toos


def test_v1_number_of_tiles_may_be_a_number() -> None:
    """swifttools 3 sends an int; the v1 service reads it as the same pattern."""
    from autotoo.emulators.swift.forms import TooFormV1  # noqa: PLC0415

    base = {k: v for k, v in BASE_FORM.items() if k != "xrt_countrate"} | {"tiling": True}
    assert TooFormV1.model_validate(base | {"number_of_tiles": 19}).number_of_tiles == "19"
    with pytest.raises(ValidationError):
        TooFormV1.model_validate(base | {"number_of_tiles": 5})
