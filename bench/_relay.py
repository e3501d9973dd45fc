"""The relays of the latency benchmark: aiomqtt receive -> aiohttp POST.

Bare: no parsing, rules or store: the payload is POSTed as it came to the emulator's TOO
route. Durable (``--durable DB``): an fsync'd SQLite insert of the claim before each POST
(``bench/_durable.py``), the floor of an exactly-once relay. Prints ``READY`` once subscribed.
``python -m bench._relay PORT TOPIC URL [--durable DB]``
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
import aiomqtt


async def relay(port: int, topic: str, url: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client,
    ):
        await client.subscribe(topic, qos=1)
        print("READY", flush=True)
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            # One POST at a time, in order, as the daemon's submitter sends them.
            async with asyncio.timeout(10), session.post(url, data=message.payload) as resp:
                await resp.read()


if __name__ == "__main__":
    port, topic, url = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if sys.argv[4:5] == ["--durable"]:
        from bench._durable import durable_relay

        asyncio.run(durable_relay(port, topic, url, Path(sys.argv[5])))
    else:
        asyncio.run(relay(port, topic, url))
