"""The bare relay of the latency benchmark: aiomqtt receive -> aiohttp POST, nothing else.

No parsing, rules or store: the payload is POSTed as it came to the emulator's TOO route.
Prints ``READY`` once subscribed. ``python -m bench._relay PORT TOPIC URL``
"""

from __future__ import annotations

import asyncio
import sys

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
    asyncio.run(relay(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
