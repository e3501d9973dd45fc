"""A refused Swift login says which status code the service answered (issue 16, item 6:
the reason read "Login failed with status code." with no code). The real v2 client
against the emulator, which refuses a wrong shared secret."""

from __future__ import annotations

import pytest

from autotoo.swift import SwiftAuthError, SwiftV2Client
from tests.fixtures.swift_emulator import MakeEmulator


async def test_a_refused_login_names_its_status_code(make_emulator: MakeEmulator) -> None:
    emulator = await make_emulator()
    async with SwiftV2Client(
        emulator.swift_v2_url, username="myuser", shared_secret="not_my_secret"
    ) as client:
        with pytest.raises(SwiftAuthError) as info:
            await client.list_toos()
    assert str(info.value) == ("Login failed with status code 401. Please check your credentials.")
