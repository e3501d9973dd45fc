"""The shared pieces: idempotent ack, reconnect delays, health transitions, settings checks."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from autotoo.sources import create_source
from autotoo.sources.base import Received, Retry, SourceHealth
from autotoo.sources.errors import SourceConfigError
from autotoo.sources.settings import (
    Backoff,
    DirectorySettings,
    HttpSettings,
    KafkaSettings,
    MqttSettings,
)

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def test_ack_runs_the_transport_once_even_when_raced() -> None:
    calls: list[int] = []

    async def transport_ack() -> None:
        calls.append(1)
        await asyncio.sleep(0.01)

    received = Received.create(
        raw=b"x", identity="i", topic="t", received_at=T0, source="s", ack=transport_ack
    )
    assert not received.acked
    await asyncio.gather(received.ack(), received.ack())
    await received.ack()
    assert calls == [1]
    assert received.acked
    assert "raw" not in repr(received)


def test_retry_grows_caps_jitters_and_resets_after_a_stable_connection() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, multiplier=2.0, reset_after=60.0)
    retry = Retry(backoff, random.Random(1))
    delays = [retry.next_delay(None) for _ in range(8)]
    caps = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]
    assert all(0.5 <= delay <= cap for delay, cap in zip(delays, caps, strict=True))
    assert max(delays[3:]) > 4.0  # it does reach the higher caps
    assert retry.next_delay(connected_for=10.0) <= 8.0  # short uptime: no reset
    assert retry.next_delay(connected_for=61.0) <= 1.0  # stable connection: start over


def test_health_transitions_record_since_and_one_line_errors() -> None:
    now = [T0]
    health = SourceHealth("bridge", "mqtt", clock=lambda: now[0])
    health.mark_disconnected("Connection refused\n  by 127.0.0.1")
    assert health.last_error == "Connection refused by 127.0.0.1"
    assert health.since is None
    now[0] = T0 + timedelta(seconds=5)
    health.mark_connected()
    assert (health.connected, health.since, health.connects) == (True, now[0], 1)
    now[0] = T0 + timedelta(seconds=9)
    health.mark_connected()  # a reconnect without a seen drop: counted, since unchanged
    assert (health.since, health.connects) == (T0 + timedelta(seconds=5), 2)
    health.mark_message(now[0])
    status = health.status()
    assert (status.name, status.kind, status.messages) == ("bridge", "mqtt", 1)
    assert status.last_message_at == now[0]


@pytest.mark.parametrize(
    "changes",
    [
        {"topics": ()},
        {"client_id": ""},
        {"session_expiry": 0},
        {"session_expiry": 2**32},
        {"max_inflight": 0},
        {"ca_file": Path("/etc/ssl/ca.pem")},  # without tls=True
        {"password": SecretStr("p")},  # without a username
    ],
)
def test_mqtt_settings_refuse_what_cannot_work(changes: dict[str, object]) -> None:
    values: dict[str, Any] = {"name": "m", "host": "h", "client_id": "c", "topics": ("t",)}
    values.update(changes)
    with pytest.raises(SourceConfigError):
        MqttSettings(**values)


def test_other_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(SourceConfigError):
        HttpSettings(token=SecretStr(""))
    with pytest.raises(SourceConfigError):
        DirectorySettings(name="d", path=Path("/tmp"), poll_interval=0)
    with pytest.raises(SourceConfigError):
        Backoff(initial=5.0, maximum=1.0)


def test_create_source_picks_the_transport() -> None:
    mqtt = create_source(MqttSettings(name="m", host="h", client_id="c", topics=("t",)))
    kafka = create_source(KafkaSettings(name="k", group_id="g", topics=("t",)))
    folder = create_source(DirectorySettings(name="d", path=Path("/nonexistent")))
    assert [type(source).__name__ for source in (mqtt, kafka, folder)] == [
        "MqttSource",
        "KafkaSource",
        "DirectorySource",
    ]
    assert [source.health.kind for source in (mqtt, kafka, folder)] == [
        "mqtt",
        "kafka",
        "directory",
    ]


def test_importing_the_package_loads_no_transport() -> None:
    probe = (
        "import sys, autotoo.sources; "
        "print(sorted(m for m in ('confluent_kafka', 'paho', 'aiomqtt') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
