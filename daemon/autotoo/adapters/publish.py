"""Status-message channels: MQTT (one persistent connection) and a webhook (e.g. Slack).

Both raise on failure; the publisher keeps the notice in the store and retries, so neither
needs a queue of its own.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import aiohttp
import aiomqtt
from pydantic import SecretStr

from autotoo.logs import get_logger

log = get_logger("autotoo.adapters.publish")


class MqttPublisher:
    """Keeps one MQTT connection for status messages; reconnects with capped backoff."""

    name = "mqtt-publisher"
    intake = False

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str | None = None,
        username: str | None = None,
        password: SecretStr | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._kwargs: dict[str, Any] = {
            "hostname": host,
            "port": port,
            "identifier": client_id,
            "username": username,
            "password": password.get_secret_value() if password else None,
            "tls_context": tls_context,
            "timeout": 10,
        }
        self._client: aiomqtt.Client | None = None
        self._lost = asyncio.Event()
        self.connected = False

    async def run(self) -> None:
        delay = 1.0
        while True:
            try:
                # The client is built inside the running loop (aiomqtt's constructor needs it).
                async with aiomqtt.Client(**self._kwargs) as client:
                    self._client, self.connected, delay = client, True, 1.0
                    self._lost.clear()
                    log.info("status publishing connected")
                    await self._lost.wait()  # a failed publish tells us the link is gone
            except aiomqtt.MqttError as exc:
                log.warning("status publishing disconnected", error=str(exc), retry_s=delay)
            finally:
                self._client, self.connected = None, False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)

    async def publish(self, channel: str, topic: str, payload: str, *, retain: bool) -> None:
        del channel
        client = self._client
        if client is None:
            raise ConnectionError("not connected to the MQTT broker")
        try:
            await client.publish(topic, payload, qos=1, retain=retain, timeout=10)
        except aiomqtt.MqttError:
            self._lost.set()
            raise


class WebhookPublisher:
    """POSTs the notice JSON to a URL kept secret (a Slack webhook URL is a credential)."""

    def __init__(self, session: aiohttp.ClientSession, url: SecretStr) -> None:
        self._session = session
        self._url = url

    async def publish(self, channel: str, topic: str, payload: str, *, retain: bool) -> None:
        del channel, topic, retain
        async with (
            asyncio.timeout(15),
            self._session.post(
                self._url.get_secret_value(),
                data=payload,
                headers={"Content-Type": "application/json"},
            ) as resp,
        ):
            if resp.status >= 300:
                raise RuntimeError(f"the webhook answered HTTP {resp.status}")
