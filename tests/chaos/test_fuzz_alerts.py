"""Fuzzed alerts: the parsers never crash, and the real inbox and processor store every bad
alert as unparsed with a one-line reason.

Two layers. The bulk (``AUTOTOO_CHAOS_FUZZ_ALERTS``: CI 5,000, the bench 100,000) goes
through :func:`parse_alert` under hypothesis: mutations of every packaged real alert (byte
flips, insertions, deletions, truncation, JSON values replaced by other types, XML text
replaced) plus arbitrary bytes and JSON documents, under each alert's topic or none. A second
set (``AUTOTOO_CHAOS_FUZZ_PIPELINE``: CI 1,000, bench 5,000) is made by a seeded mutator and
fed through the real Inbox and Processor into a real SQLite file, where every row must end
``processed`` or ``unparsed`` with a reason. atheris is not used: it has no wheel for this
Python and needs a clang toolchain to build; hypothesis's mutations cover the same parsers.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from autotoo.alerts import AlertParseError, parse_alert
from autotoo.config.yamlfile import load_yaml_text
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.keys import inbox_key
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_documents
from autotoo.samples import SAMPLES
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from tests.chaos.conftest import Record, scale
from tests.chaos.streams import RULES

CORPUS: list[tuple[bytes, str]] = [(s.read_bytes(), s.topic) for s in SAMPLES]
BULK = scale("fuzz_alerts", 5_000)
THROUGH_PIPELINE = scale("fuzz_pipeline", 1_000)
_XML_TEXT = re.compile(rb">([^<]{1,40})<")


def _json_values() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw, _topic = draw(st.sampled_from(CORPUS))
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "value", "xml"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[at:]
        elif op == "value" and data[:1] == b"{":
            try:
                doc = json.loads(bytes(data))
            except ValueError:
                continue
            if isinstance(doc, dict) and doc:
                doc[draw(st.sampled_from(sorted(doc)))] = draw(_json_values())
                data = bytearray(json.dumps(doc).encode())
        elif op == "xml":
            texts = list(_XML_TEXT.finditer(bytes(data)))
            if texts:
                match = draw(st.sampled_from(texts))
                new = draw(st.sampled_from([b"", b"NaN", b"-1e999", b"&lol;", b"]]>", b"\xff"]))
                data[match.start(1) : match.end(1)] = new
    return bytes(data)


PAYLOADS = st.one_of(
    mutated(),
    st.binary(max_size=1024),
    st.recursive(
        _json_values(),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids),
        max_leaves=12,
    ).map(lambda v: json.dumps(v).encode()),
)
TOPICS = st.sampled_from([None, *sorted({t for _, t in CORPUS})])

_bulk_seen = {"parsed": 0, "refused": 0}


@settings(
    max_examples=BULK,
    deadline=None,
    database=None,
    phases=[Phase.generate],  # a count of generated cases, not a shrinking search
    suppress_health_check=list(HealthCheck),
)
@given(payload=PAYLOADS, topic=TOPICS)
def _parse_or_refuse(payload: bytes, topic: str | None) -> None:
    try:
        parse_alert(payload, topic)
    except AlertParseError as exc:
        assert exc.reason
        assert "\n" not in exc.reason
        _bulk_seen["refused"] += 1
    else:
        _bulk_seen["parsed"] += 1


def test_bulk_fuzzed_alerts_parse_or_are_refused_with_a_reason(chaos_record: Record) -> None:
    _parse_or_refuse()  # hypothesis runs BULK generated cases
    total = sum(_bulk_seen.values())
    chaos_record("fuzzed alerts through parse_alert", generated=total, **_bulk_seen)
    assert total >= BULK


_IVORN = re.compile(rb'ivorn="([^"]*)"')


def seeded_mutation(rng: random.Random, number: int) -> tuple[bytes, str | None]:
    """A mutated real alert; VOEvents get their own IVORN first, so that each one that
    still parses is evaluated instead of being marked a copy of an earlier one."""
    raw, topic = rng.choice(CORPUS)
    raw = _IVORN.sub(lambda m: b'ivorn="' + m[1] + b"-fuzz%d" % number + b'"', raw, count=1)
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(max(len(data), 1))
        match rng.randrange(4):
            case 0 if data:
                data[at] ^= 1 << rng.randrange(8)
            case 1:
                data[at:at] = rng.randbytes(rng.randint(1, 16))
            case 2:
                del data[at : at + rng.randint(1, 64)]
            case _:
                del data[at:]
    return bytes(data), rng.choice([topic, None])


async def test_fuzzed_alerts_through_the_real_inbox_and_processor(
    tmp_path: Path, chaos_seed: int, chaos_record: Record
) -> None:
    rng = random.Random(chaos_seed)
    db = await Database.open(tmp_path / "state.db")
    try:
        repo = Repository(db)
        ruleset = load_documents([load_yaml_text(RULES, "rules.yaml")])
        snapshot = PipelineSettings(mode="dry-run", max_alert_age=timedelta(days=3650))
        processor = Processor(repo, rules=lambda: ruleset, settings=lambda: snapshot)
        inbox = Inbox(repo)
        keys: set[str] = set()
        for number in range(THROUGH_PIPELINE):
            raw, topic = seeded_mutation(rng, number)
            keys.add(inbox_key(raw, topic or "unknown")[0])
            await inbox(
                Received.create(
                    raw=raw,
                    identity=f"fuzz:{number}",
                    topic=topic or "unknown",
                    received_at=datetime.now(UTC),
                    source="fuzz",
                )
            )
            if number % 50 == 0:
                await processor.step()
        while await processor.step():
            pass
        rows = await repo.inbox_list(limit=THROUGH_PIPELINE + 1)
    finally:
        await db.close()
    status = {s: sum(1 for r in rows if r.status == s) for s in {r.status for r in rows}}
    unexplained = [r.id for r in rows if r.status == "unparsed" and not (r.reason or "").strip()]
    multi_line = [r.id for r in rows if "\n" in (r.reason or "")]
    chaos_record(
        "fuzzed alerts through the real inbox and processor",
        fed=THROUGH_PIPELINE,
        inbox_rows=len(rows),
        distinct_inbox_keys=len(keys),
        statuses=status,
        unparsed_without_reason=len(unexplained),
    )
    assert len(rows) == len(keys)  # each distinct alert stored once, none lost
    assert set(status) <= {"processed", "unparsed"}, status
    assert status.get("unparsed", 0) > 0
    assert unexplained == []
    assert multi_line == []
