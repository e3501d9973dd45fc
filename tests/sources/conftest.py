"""A librdkafka mock cluster for the Kafka source tests (no external Kafka).

librdkafka starts an in-process mock cluster for a client configured with
``test.mock.num.brokers``; the cluster lives as long as that client. The fixture keeps one
such "owner" producer for the session and reads the mock brokers' addresses from its
metadata, so every other client (our source under test, the producers, the offset checks)
connects to the same cluster through ordinary ``bootstrap.servers``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import confluent_kafka
import pytest

_TIMEOUT = 10.0


class MockKafka:
    def __init__(self) -> None:
        self._owner = confluent_kafka.Producer({"test.mock.num.brokers": 1})
        metadata = self._owner.list_topics(timeout=_TIMEOUT)
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in metadata.brokers.values())
        self._producer = confluent_kafka.Producer(
            {"bootstrap.servers": self.bootstrap, "log.connection.close": False}
        )

    def produce(self, topic: str, *values: bytes) -> None:
        """Append to partition 0 (the mock auto-creates topics with several partitions)."""
        for value in values:
            self._producer.produce(topic, value, partition=0)
        remaining = self._producer.flush(_TIMEOUT)
        assert remaining == 0, f"{remaining} messages not delivered to the mock cluster"

    def committed(self, group_id: str, topic: str, partition: int = 0) -> int:
        """The group's committed offset (the next offset to read); negative when none."""
        consumer = confluent_kafka.Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": group_id}
        )
        try:
            [tp] = consumer.committed(
                [confluent_kafka.TopicPartition(topic, partition)], timeout=_TIMEOUT
            )
            offset: int = tp.offset
            return offset
        finally:
            consumer.close()

    def close(self) -> None:
        self._producer.flush(_TIMEOUT)


@pytest.fixture(scope="session")
def mock_kafka() -> Iterator[MockKafka]:
    cluster = MockKafka()
    yield cluster
    cluster.close()


@pytest.fixture
def kafka_names() -> tuple[str, str, str]:
    """A topic, a heartbeat topic and a group id no other test uses."""
    suffix = uuid.uuid4().hex[:10]
    return f"gcn.notices.test.{suffix}", f"gcn.heartbeat.{suffix}", f"autotoo-{suffix}"
