"""The durable floor: what an exactly-once consumer must pay, without any of autotoo's code.

Two baselines, each run in the same benchmark process as the bare one and ours:

* :func:`durable_consumer` (throughput): aiomqtt QoS 1 with paho's manual acknowledgement
  (the same private switch and Receive Maximum as ``MqttSource``), ``json.loads`` of each
  payload, a group-commit INSERT of every message received while the previous commit was
  being written (stdlib ``sqlite3``, WAL, ``synchronous=FULL``: an fsync per commit, on a
  thread so that the loop keeps receiving), then the PUBACKs of that group in arrival order.
  The row holds the topic, the payload's SHA-256 (UNIQUE: the dedup key exactly-once needs)
  and the raw bytes.
* :func:`durable_relay` (latency, run by ``bench/_relay.py --durable DB``): receive, an
  fsync'd INSERT of the claim (the payload's digest, UNIQUE) on the loop's thread, then the
  POST, one message at a time.

Neither parses an alert, evaluates a rule or plans anything: the gap between them and ours is
our Python, the gap between them and the bare baselines is durability.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

RECEIVE_MAXIMUM = 16
"""``MqttSettings.max_inflight``'s default: the broker's window of unacknowledged messages."""


def open_store(path: Path) -> sqlite3.Connection:
    """A WAL database whose every commit is fsynced (``synchronous=FULL``)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS inbox (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
        "digest BLOB NOT NULL UNIQUE, raw BLOB NOT NULL)"
    )
    return conn


def _insert(conn: sqlite3.Connection, rows: Sequence[tuple[str, bytes, bytes]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT OR IGNORE INTO inbox (topic, digest, raw) VALUES (?, ?, ?)", rows)
    conn.execute("COMMIT")


def _properties() -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call] # paho is untyped
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = RECEIVE_MAXIMUM
    return props


async def durable_consumer(port: int, ident: str, count: int, db: Path) -> float:
    """Messages per second, first received -> last acknowledged, of ``ident``'s backlog."""
    conn = open_store(db)
    client = aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=ident,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=_properties(),
    )
    client._client.manual_ack_set(on=True)  # noqa: SLF001 - as MqttSource does
    pending: list[tuple[aiomqtt.Message, tuple[str, bytes, bytes]]] = []
    wake = asyncio.Event()
    acked = 0
    first = 0.0

    async def writer() -> None:
        nonlocal acked, pending
        paho = client._client  # noqa: SLF001 - the acknowledgement is paho's
        while acked < count:
            await wake.wait()
            wake.clear()
            group, pending = pending, []
            if not group:
                continue
            await asyncio.to_thread(_insert, conn, [row for _, row in group])
            for message, _ in group:  # after the commit, in arrival order
                paho.ack(message.mid, message.qos)
            acked += len(group)

    try:
        async with asyncio.timeout(600), client:
            task = asyncio.create_task(writer())
            received = 0
            async for message in client.messages:
                if received == 0:
                    first = time.perf_counter()
                raw = message.payload
                assert isinstance(raw, bytes)
                json.loads(raw)
                pending.append((message, (message.topic.value, hashlib.sha256(raw).digest(), raw)))
                wake.set()
                received += 1
                if received == count:
                    break
            await task
            end = time.perf_counter()
    finally:
        conn.close()
    return (count - 1) / (end - first)


async def durable_relay(port: int, topic: str, url: str, db: Path) -> None:
    """Receive -> fsync'd claim -> POST, one at a time; prints READY once subscribed."""
    conn = open_store(db)
    async with (
        aiohttp.ClientSession() as session,
        aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5) as client,
    ):
        await client.subscribe(topic, qos=1)
        print("READY", flush=True)
        async for message in client.messages:
            raw: Any = message.payload
            assert isinstance(raw, bytes)
            # The claim, durable before the POST: on the loop's thread, as our 'submitting'.
            _insert(conn, [(message.topic.value, hashlib.sha256(raw).digest(), raw)])
            async with asyncio.timeout(10), session.post(url, data=raw) as resp:
                await resp.read()
