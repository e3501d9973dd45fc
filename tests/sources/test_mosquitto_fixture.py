"""The shared mosquitto fixture itself: restarts keep ports, every listener answers."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

import aiomqtt
import pytest

from tests.fixtures.mosquitto import BROKER_PASSWORD, BROKER_USER, Broker
from tests.sources.helpers import WAIT


async def round_trip(broker: Broker, topic: str, **client_options: Any) -> bytes:
    async with asyncio.timeout(WAIT), aiomqtt.Client(**client_options) as client:
        await client.subscribe(topic, qos=1)
        await client.publish(topic, b"ping", qos=1)
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            return message.payload
    raise AssertionError("no message")


async def test_all_listeners(mosquitto: Broker, unique_topic: str) -> None:
    host = mosquitto.host
    assert await round_trip(mosquitto, unique_topic, hostname=host, port=mosquitto.port) == b"ping"
    authenticated = await round_trip(
        mosquitto,
        unique_topic,
        hostname=host,
        port=mosquitto.auth_port,
        username=BROKER_USER,
        password=BROKER_PASSWORD,
    )
    assert authenticated == b"ping"
    tls = ssl.create_default_context(cafile=str(mosquitto.ca_file))
    over_tls = await round_trip(
        mosquitto, unique_topic, hostname=host, port=mosquitto.tls_port, tls_context=tls
    )
    assert over_tls == b"ping"
    with pytest.raises(aiomqtt.MqttError):
        await round_trip(mosquitto, unique_topic, hostname=host, port=mosquitto.auth_port)


async def test_kill_and_restart_keep_the_ports(
    mosquitto_factory: Callable[[], Broker], unique_topic: str
) -> None:
    broker = mosquitto_factory()
    port = broker.port
    broker.kill()
    assert not broker.running
    broker.start()
    broker.restart()
    assert broker.running
    assert broker.port == port
    assert await round_trip(broker, unique_topic, hostname=broker.host, port=port) == b"ping"
