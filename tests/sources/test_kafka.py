"""Kafka source against librdkafka's mock cluster: offsets are committed only by ack()."""

from __future__ import annotations

import asyncio

import pytest
from gcn_kafka.core import get_config
from pydantic import SecretStr

from autotoo.sources.errors import SourceConfigError
from autotoo.sources.kafka import KafkaSource, consumer_config
from autotoo.sources.settings import KafkaSettings
from tests.fixtures.kafka_mock import MockKafka
from tests.sources.helpers import Collector, eventually, running

GROUP_WAIT = 30.0
"""Joining a consumer group on the mock cluster takes 3-5 s; allow for a loaded machine."""


def settings_for(cluster: MockKafka, names: tuple[str, str, str]) -> KafkaSettings:
    topic, heartbeat, group = names
    return KafkaSettings(
        name="gcn",
        group_id=group,
        topics=(topic,),
        heartbeat_topic=heartbeat,
        # The same gcn_kafka.Consumer as production; only brokers and security differ.
        extra_config={
            "bootstrap.servers": cluster.bootstrap,
            "security.protocol": "plaintext",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
        },
        poll_interval=0.05,
    )


async def committed(cluster: MockKafka, group: str, topic: str) -> int:
    return await asyncio.to_thread(cluster.committed, group, topic)


async def wait_committed(cluster: MockKafka, group: str, topic: str, offset: int) -> None:
    async with asyncio.timeout(GROUP_WAIT):
        while await committed(cluster, group, topic) != offset:  # noqa: ASYNC110 - broker state
            await asyncio.sleep(0.05)


async def test_commits_only_after_ack_and_a_restart_rereads(
    mock_kafka: MockKafka, kafka_names: tuple[str, str, str]
) -> None:
    topic, heartbeat, group = kafka_names
    settings = settings_for(mock_kafka, kafka_names)
    mock_kafka.produce(heartbeat, b'{"alert_datetime": "2026-11-21T12:00:00Z"}')
    mock_kafka.produce(topic, b"a0", b"a1", b"a2")

    first = Collector(wait=GROUP_WAIT)
    crashed = first.hold(b"a1")  # the process dies while a1 is being stored
    source = KafkaSource(settings)
    async with running(source, first):
        await first.wait_entered(b"a1")
        await wait_committed(mock_kafka, group, topic, 1)  # a0 acked: next to read is 1
        await eventually(lambda: source.health.last_heartbeat_at is not None)
        await asyncio.sleep(0.2)
        # a1 is in the sink and a2 prefetched, but neither was acknowledged.
        assert await committed(mock_kafka, group, topic) == 1
        assert source.health.connected
    assert not crashed.is_set()
    assert first.payloads == [b"a0"]
    assert first.items[0].identity == f"kafka:{topic}:0:0"
    assert first.items[0].topic == topic
    assert all(item.topic != heartbeat for item in first.items)
    # The last heartbeat offset is committed on close, so a restart skips old heartbeats.
    assert await committed(mock_kafka, group, heartbeat) == 1

    second = Collector(fail_on=b"a2", wait=GROUP_WAIT)
    with pytest.raises(RuntimeError, match="inbox is full"):
        async with running(KafkaSource(settings), second) as task:
            await asyncio.wait_for(task, GROUP_WAIT)
    assert second.payloads == [b"a1"]
    assert second.items[0].identity == f"kafka:{topic}:0:1"
    assert await committed(mock_kafka, group, topic) == 2

    third = Collector(wait=GROUP_WAIT)
    async with running(KafkaSource(settings), third):
        await third.wait_for_count(1)
        await wait_committed(mock_kafka, group, topic, 3)
    assert third.payloads == [b"a2"]


async def test_unknown_librdkafka_property_is_a_config_error(
    mock_kafka: MockKafka, kafka_names: tuple[str, str, str]
) -> None:
    settings = settings_for(mock_kafka, kafka_names)
    broken = KafkaSettings(
        name=settings.name,
        group_id=settings.group_id,
        topics=settings.topics,
        extra_config={**settings.extra_config, "no.such.property": "1"},
    )
    with pytest.raises(SourceConfigError, match=r"no\.such\.property"):
        async with asyncio.timeout(GROUP_WAIT):
            await KafkaSource(broken).run(Collector(wait=GROUP_WAIT))


@pytest.mark.parametrize("key", ["enable.auto.commit", "group.id"])
def test_settings_refuse_overrides_that_break_commit_after_store(key: str) -> None:
    with pytest.raises(SourceConfigError, match="may not override"):
        KafkaSettings(name="gcn", group_id="g", topics=("t",), extra_config={key: "x"})


def test_settings_need_both_oidc_credentials() -> None:
    with pytest.raises(SourceConfigError, match="both"):
        KafkaSettings(name="gcn", group_id="g", topics=("t",), client_id=SecretStr("id"))
    secret = SecretStr("very-secret")
    settings = KafkaSettings(
        name="gcn", group_id="g", topics=("t",), client_id=SecretStr("id"), client_secret=secret
    )
    assert "very-secret" not in repr(settings)


def test_production_config_uses_oidc_for_the_chosen_domain() -> None:
    """The same settings path as the tests, with credentials and no extra config: gcn_kafka
    turns them into SASL/OIDC against the domain (checked without any network)."""
    settings = KafkaSettings(
        name="gcn",
        group_id="autotoo-prod",
        topics=("gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",),
        domain="test.gcn.nasa.gov",
        client_id=SecretStr("client-id"),
        client_secret=SecretStr("client-secret"),
    )
    config = get_config(
        "consumer",
        consumer_config(settings, on_error=print),
        client_id="client-id",
        client_secret="client-secret",
        domain=settings.domain,
    )
    assert config["bootstrap.servers"] == "kafka.test.gcn.nasa.gov"
    assert config["security.protocol"] == "sasl_ssl"
    assert (
        config["sasl.oauthbearer.token.endpoint.url"]
        == "https://auth.test.gcn.nasa.gov/oauth2/token"
    )
    assert config["group.id"] == "autotoo-prod"
    assert config["enable.auto.commit"] is False
