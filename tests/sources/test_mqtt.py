"""MQTT source against a real mosquitto: delivery, manual ack across restarts, broker restarts.

The redelivery tests guard the private-API manual acknowledgement (ecosystem.md §1.4): if
aiomqtt or paho stop honouring ``manual_ack_set``, the unacknowledged message is not
redelivered and ``test_unacked_message_is_redelivered_acked_one_is_not`` fails.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from pydantic import SecretStr

from autotoo.credentials import read_credential
from autotoo.sources.base import Received, Sink, payload_digest
from autotoo.sources.errors import SourceConfigError
from autotoo.sources.mqtt import MqttSource
from autotoo.sources.settings import Backoff, MqttSettings
from tests.fixtures.mosquitto import BROKER_PASSWORD, BROKER_USER, Broker
from tests.sources.helpers import WAIT, Collector, eventually, running

FAST = Backoff(initial=0.05, maximum=0.3, reset_after=5.0)


def settings_for(broker: Broker, topic_filter: str, **changes: Any) -> MqttSettings:
    values: dict[str, Any] = {
        "name": "bridge",
        "host": broker.host,
        "port": broker.port,
        "client_id": f"autotoo-test-{uuid.uuid4().hex[:12]}",
        "topics": (topic_filter,),
        "session_expiry": 600,
        "timeout": 5.0,
        "backoff": FAST,
    }
    values.update(changes)
    return MqttSettings(**values)


async def publish(broker: Broker, topic: str, *payloads: bytes) -> None:
    """Publish with QoS 1: each call returns once the broker has the message."""
    async with asyncio.timeout(10), aiomqtt.Client(broker.host, broker.port) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


async def run_until_sink_fails(
    source: MqttSource, sink: Sink, broker: Broker, topic: str, payload: bytes
) -> None:
    """Publish ``payload`` once the source is connected and await ``run()``, which must end."""
    task = asyncio.create_task(source.run(sink))
    try:
        await eventually(lambda: source.health.connected)
        await publish(broker, topic, payload)
        async with asyncio.timeout(WAIT):
            await task
    finally:
        task.cancel()


async def test_delivers_with_identity_topic_and_ack(mosquitto: Broker, unique_topic: str) -> None:
    settings = settings_for(mosquitto, f"{unique_topic}/#")
    source = MqttSource(settings)
    sink = Collector()
    before = datetime.now(UTC)
    async with running(source, sink):
        await eventually(lambda: source.health.connected)
        await publish(mosquitto, f"{unique_topic}/gcn", b"one", b"two", b"three")
        await sink.wait_for_count(3)
    assert sink.payloads == [b"one", b"two", b"three"]
    first = sink.items[0]
    assert first.topic == f"{unique_topic}/gcn"
    assert first.identity == f"mqtt:{unique_topic}/gcn:sha256:{payload_digest(b'one')}"
    assert first.source == "bridge"
    assert first.received_at >= before
    assert first.received_at.tzinfo is not None
    assert all(item.acked for item in sink.items)
    status = source.health.status()
    assert status.messages == 3
    assert status.last_message_at is not None
    assert not status.connected  # the task was cancelled, the connection closed


async def test_unacked_message_is_redelivered_acked_one_is_not(
    mosquitto: Broker, unique_topic: str
) -> None:
    settings = settings_for(mosquitto, unique_topic)
    first_run = Collector()
    stuck = first_run.hold(b"second")  # never released: the process "crashes" mid-store
    first_source = MqttSource(settings)
    async with running(first_source, first_run):
        await eventually(lambda: first_source.health.connected)
        await publish(mosquitto, unique_topic, b"first", b"second", b"third")
        await first_run.wait_entered(b"second")
    assert not stuck.is_set()
    # Sink calls overlap (the inbox's group commit): "third" may have been stored while
    # "second" was held, but no PUBACK goes out after the held one: both come again.
    assert first_run.payloads in ([b"first"], [b"first", b"third"])

    # A new process: a new source object with the same client identifier.
    second_run = Collector()
    async with running(MqttSource(settings), second_run):
        await second_run.wait_for_count(2)
        await asyncio.sleep(0.3)  # time for a wrong redelivery of "first" to show up
    assert second_run.payloads == [b"second", b"third"]


async def test_ack_from_another_thread_is_honoured(mosquitto: Broker, unique_topic: str) -> None:
    settings = settings_for(mosquitto, unique_topic)
    acked_elsewhere: list[Received] = []

    async def sink_acking_from_a_thread(received: Received) -> None:
        # asyncio.run in a worker thread runs ack() on a loop that is not the source's.
        await asyncio.to_thread(asyncio.run, received.ack())
        acked_elsewhere.append(received)

    source = MqttSource(settings)
    async with running(source, sink_acking_from_a_thread):
        await eventually(lambda: source.health.connected)
        await publish(mosquitto, unique_topic, b"alert")
        await eventually(lambda: len(acked_elsewhere) == 1)
        await asyncio.sleep(0.1)  # let the loop send the PUBACK it was handed

    redelivered = Collector()
    async with running(MqttSource(settings), redelivered):
        await publish(mosquitto, unique_topic, b"marker")
        await redelivered.wait_for_count(1)
    assert redelivered.payloads == [b"marker"]


async def test_sink_error_propagates_without_ack(mosquitto: Broker, unique_topic: str) -> None:
    settings = settings_for(mosquitto, unique_topic)
    with pytest.raises(RuntimeError, match="inbox is full"):
        await run_until_sink_fails(
            MqttSource(settings), Collector(fail_on=b"bad"), mosquitto, unique_topic, b"bad"
        )

    again = Collector()
    async with running(MqttSource(settings), again):
        await again.wait_for_count(1)
    assert again.payloads == [b"bad"]


async def test_sink_calls_overlap_but_acks_keep_arrival_order(
    mosquitto: Broker, unique_topic: str
) -> None:
    """Later messages may be stored while an earlier one is still in the sink (the inbox's
    group commit needs that), but none is acknowledged before every earlier one is."""
    settings = settings_for(mosquitto, unique_topic)
    sink = Collector()
    sink.hold(b"m0")  # never released
    source = MqttSource(settings)
    async with running(source, sink):
        await eventually(lambda: source.health.connected)
        await publish(mosquitto, unique_topic, b"m0", b"m1", b"m2")
        await sink.wait_for_count(2)  # m1 and m2 stored while m0 is still in the sink
        assert sink.payloads == [b"m1", b"m2"]
        await asyncio.sleep(0.2)  # room for a wrong PUBACK to reach the broker
    again = Collector()
    async with running(MqttSource(settings), again):
        await again.wait_for_count(3)
    assert again.payloads == [b"m0", b"m1", b"m2"]  # m1 and m2 were not acknowledged


async def test_broker_restart_mid_stream_loses_nothing(
    mosquitto_factory: Callable[[], Broker], unique_topic: str
) -> None:
    broker = mosquitto_factory()
    settings = settings_for(broker, f"{unique_topic}/#")
    source = MqttSource(settings)
    sink = Collector()
    release = sink.hold(b"m0")
    before_restart = [f"m{i}".encode() for i in range(5)]
    after_restart = [f"m{i}".encode() for i in range(5, 10)]
    async with running(source, sink):
        await eventually(lambda: source.health.connected)
        await publish(broker, f"{unique_topic}/a", *before_restart)
        await sink.wait_entered(b"m0")  # m0 holds the line: nothing after it is acked
        broker.restart()
        await publish(broker, f"{unique_topic}/a", *after_restart)
        release.set()
        await sink.wait_until(lambda: set(sink.payloads) >= {*before_restart, *after_restart})
        assert source.health.connects >= 2
    # Redelivery may repeat messages (the inbox dedupes) but must not lose or reorder the
    # first copies handed to the sink.
    assert set(sink.payloads) == {*before_restart, *after_restart}
    first_seen = list(dict.fromkeys(sink.entered))
    assert first_seen == before_restart + after_restart


async def test_reconnects_forever_and_records_errors(
    mosquitto_factory: Callable[[], Broker], unique_topic: str
) -> None:
    broker = mosquitto_factory()
    broker.stop()
    source = MqttSource(settings_for(broker, unique_topic))
    sink = Collector()
    async with running(source, sink):
        await eventually(lambda: source.health.last_error is not None)
        assert not source.health.connected
        broker.start()
        await eventually(lambda: source.health.connected)
        await publish(broker, unique_topic, b"after outage")
        await sink.wait_for_count(1)


async def test_password_from_credential_file_and_shared_subscription(
    mosquitto: Broker, unique_topic: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "mqtt-password"
    secret_file.write_text(BROKER_PASSWORD + "\n")
    settings = settings_for(
        mosquitto,
        f"$share/autotoo/{unique_topic}/+",
        port=mosquitto.auth_port,
        username=BROKER_USER,
        password=read_credential(str(secret_file)),
    )
    assert BROKER_PASSWORD not in repr(settings)
    source = MqttSource(settings)
    sink = Collector()
    async with running(source, sink):
        await eventually(lambda: source.health.connected)
        await publish(mosquitto, f"{unique_topic}/lvk", b"shared")
        await sink.wait_for_count(1)
    assert sink.items[0].topic == f"{unique_topic}/lvk"


async def test_wrong_password_keeps_retrying_without_leaking(
    mosquitto: Broker, unique_topic: str
) -> None:
    wrong = "definitely-wrong-password"
    source = MqttSource(
        settings_for(
            mosquitto,
            unique_topic,
            port=mosquitto.auth_port,
            username=BROKER_USER,
            password=SecretStr(wrong),
        )
    )
    async with running(source, Collector()) as task:
        await eventually(lambda: source.health.last_error is not None)
        first_error_at = source.health.last_error_at
        await eventually(lambda: source.health.last_error_at != first_error_at)
        assert not task.done()
    assert not source.health.connected
    assert wrong not in (source.health.last_error or "")


async def test_bad_ca_file_is_a_config_error(tmp_path: Path, unique_topic: str) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    settings = MqttSettings(
        name="tls",
        host="127.0.0.1",
        client_id="x",
        topics=(unique_topic,),
        tls=True,
        ca_file=bogus,
    )
    with pytest.raises(SourceConfigError, match="does not load"):
        await MqttSource(settings).run(Collector())


async def test_sink_oserror_is_not_mistaken_for_a_lost_connection(
    mosquitto: Broker, unique_topic: str
) -> None:
    source = MqttSource(settings_for(mosquitto, unique_topic))

    async def disk_full(received: Received) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        await run_until_sink_fails(source, disk_full, mosquitto, unique_topic, b"alert")
    assert source.health.connects == 1


async def test_messages_published_while_down_arrive_at_next_start(
    mosquitto: Broker, unique_topic: str
) -> None:
    settings = settings_for(mosquitto, unique_topic)
    source = MqttSource(settings)
    async with running(source, Collector()):
        await eventually(lambda: source.health.connected)  # the session now exists
    await publish(mosquitto, unique_topic, b"d1", b"d2", b"d3")
    sink = Collector()
    async with running(MqttSource(settings), sink):
        await sink.wait_for_count(3)
    assert sink.payloads == [b"d1", b"d2", b"d3"]


async def test_receive_maximum_bounds_unacknowledged_messages(
    mosquitto_factory: Callable[[], Broker], unique_topic: str
) -> None:
    broker = mosquitto_factory()
    settings = settings_for(broker, unique_topic, max_inflight=2)
    source = MqttSource(settings)
    sink = Collector()
    release = sink.hold(b"p0")
    payloads = [f"p{i}".encode() for i in range(6)]
    async with running(source, sink):
        await eventually(lambda: source.health.connected)
        await publish(broker, unique_topic, *payloads)
        await sink.wait_entered(b"p0")
        await asyncio.sleep(0.3)  # the broker would send more now if it did not honour it
        # The broker's own log: PUBLISH packets it sent to our client so far.
        sent = broker.log().count(f"Sending PUBLISH to {settings.client_id} ")
        assert sent == 2
        release.set()
        await sink.wait_for_count(6)
    assert sink.entered == payloads  # handed over in arrival order
    assert sorted(sink.payloads) == payloads


async def test_tls_with_a_private_ca_file(mosquitto: Broker, unique_topic: str) -> None:
    settings = settings_for(
        mosquitto, unique_topic, port=mosquitto.tls_port, tls=True, ca_file=mosquitto.ca_file
    )
    source = MqttSource(settings)
    sink = Collector()
    async with running(source, sink):
        await eventually(lambda: source.health.connected)
        await publish(mosquitto, unique_topic, b"over tls")
        await sink.wait_for_count(1)
    assert sink.payloads == [b"over tls"]


async def test_tls_without_the_ca_is_refused(mosquitto: Broker, unique_topic: str) -> None:
    source = MqttSource(settings_for(mosquitto, unique_topic, port=mosquitto.tls_port, tls=True))
    async with running(source, Collector()):
        await eventually(lambda: source.health.last_error is not None)
    assert "CERTIFICATE_VERIFY_FAILED" in (source.health.last_error or "")
    assert source.health.connects == 0


async def test_retained_alert_is_not_replayed_on_every_reconnect(
    mosquitto_factory: Callable[[], Broker], unique_topic: str
) -> None:
    broker = mosquitto_factory()
    async with asyncio.timeout(WAIT), aiomqtt.Client(broker.host, broker.port) as client:
        await client.publish(unique_topic, b"retained", qos=1, retain=True)
    source = MqttSource(settings_for(broker, unique_topic))
    sink = Collector()
    async with running(source, sink):
        await sink.wait_for_count(1)
        await asyncio.sleep(0.2)  # let the PUBACK leave; restart() blocks the loop
        broker.restart()
        await eventually(lambda: source.health.connects == 2)
        await publish(broker, unique_topic, b"live")
        await sink.wait_for_count(2)
    assert sink.payloads == [b"retained", b"live"]


async def test_session_and_queued_messages_survive_a_broker_restart_while_down(
    mosquitto_factory: Callable[[], Broker], unique_topic: str
) -> None:
    broker = mosquitto_factory()
    settings = settings_for(broker, unique_topic)
    source = MqttSource(settings)
    async with running(source, Collector()):
        await eventually(lambda: source.health.connected)
    await publish(broker, unique_topic, b"queued before restart")
    broker.restart()  # only the persistence file carries the session and the message over
    await publish(broker, unique_topic, b"queued after restart")
    sink = Collector()
    async with running(MqttSource(settings), sink):
        await sink.wait_for_count(2)
    assert sink.payloads == [b"queued before restart", b"queued after restart"]


async def test_a_share_group_splits_the_messages_between_its_members(
    mosquitto: Broker, unique_topic: str
) -> None:
    """Two instances in one share group ($share/<group>/<topic>): the broker gives each
    message to one of them; together they have every message, each exactly once, with its
    own topic (not the $share filter)."""
    sources = [
        MqttSource(settings_for(mosquitto, f"{unique_topic}/#", share_group="autotoo"))
        for _ in range(2)
    ]
    sinks = [Collector(), Collector()]
    payloads = [f"alert-{i}".encode() for i in range(20)]
    async with running(sources[0], sinks[0]), running(sources[1], sinks[1]):
        await eventually(lambda: all(s.health.connected for s in sources))
        await publish(mosquitto, f"{unique_topic}/gcn", *payloads)
        await eventually(lambda: len(sinks[0].payloads) + len(sinks[1].payloads) >= 20)
        await asyncio.sleep(0.3)  # nothing more arrives
    first, second = (set(s.payloads) for s in sinks)
    assert first and second, "the broker gave every message to one member"
    assert not first & second
    assert sorted(first | second) == sorted(payloads)
    assert len(sinks[0].payloads) + len(sinks[1].payloads) == 20
    assert {item.topic for s in sinks for item in s.items} == {f"{unique_topic}/gcn"}
