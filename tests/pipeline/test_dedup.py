"""Deduplication never lets an unparsed message hide a real one (issue 16, item 2).

The inbox keys messages by their exact bytes (and transport identity); an alert's own name,
its IVORN, counts only once it parsed: a later copy of a *parsed* alert is marked a
duplicate by the processor. Real store, real parsers, real VOEvents from the corpus.
"""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from autotoo.alerts import parse_alert
from autotoo.config.yamlfile import load_yaml_text
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_documents
from autotoo.sources.base import Received
from autotoo.store.db import Database, migrations
from autotoo.store.repository import Repository
from autotoo.store.rows import InboxRow
from tests.pipeline.conftest import KAFKA, Pipeline

GBM_TOPIC = "gcn.classic.voevent.FERMI_GBM_ALERT"
RULE = """\
rules:
  - name: gbm-notify
    match: {topics: [gcn.classic.voevent.FERMI_GBM_ALERT]}
    notify: [mqtt]
"""


def _gbm() -> bytes:
    return sorted(KAFKA.glob("*fermi_gbm_alert.xml"))[0].read_bytes()


async def _inbox(p: Pipeline) -> list[InboxRow]:
    return sorted(await p.repo.inbox_list(limit=100), key=lambda r: r.id)


async def test_a_truncated_copy_first_does_not_shadow_the_complete_notice(
    make_emulator, make_pipeline
) -> None:
    p: Pipeline = await make_pipeline(await make_emulator(), RULE)
    raw = _gbm()
    await p.feed(raw[:1500], GBM_TOPIC)  # the IVORN is in the first 1500 bytes
    assert b"ivorn=" in raw[:1500]
    await p.feed(raw, GBM_TOPIC)
    truncated, complete = await _inbox(p)
    assert truncated.status == "unparsed"
    assert (complete.status, complete.duplicate_of) == ("processed", None)
    assert p.processor.counters.parsed == 1  # the complete notice was evaluated
    assert [n["rule"] for n in await p.notices() if "/actions/" in n["_topic"]] == ["gbm-notify"]


async def test_text_that_only_mentions_an_ivorn_blocks_nothing(
    make_emulator, make_pipeline
) -> None:
    p: Pipeline = await make_pipeline(await make_emulator(), RULE)
    raw = _gbm()
    start = raw.index(b"ivorn=")
    ivorn = raw[start : raw.index(b'"', start + 7) + 1]
    await p.feed(b"<note " + ivorn + b">not a VOEvent</note>", GBM_TOPIC)
    await p.feed(raw, GBM_TOPIC)
    assert [r.status for r in await _inbox(p)] == ["unparsed", "processed"]
    assert p.processor.counters.parsed == 1


async def test_a_second_copy_of_a_parsed_notice_is_its_duplicate(
    make_emulator, make_pipeline
) -> None:
    """Different bytes (another serialisation), the same IVORN: one alert, evaluated once."""
    p: Pipeline = await make_pipeline(await make_emulator(), RULE)
    raw = _gbm()
    await p.feed(raw, GBM_TOPIC)
    await p.feed(raw + b"\n<!-- relayed -->\n", GBM_TOPIC)
    await p.feed(raw, GBM_TOPIC)  # the exact bytes again: stored once by the inbox
    first, copy = await _inbox(p)
    assert (copy.status, copy.duplicate_of) == ("processed", first.id)
    assert copy.reason == f"duplicate of inbox #{first.id}"
    assert first.seen_count == 3  # the exact redelivery and the copy
    assert (p.processor.counters.parsed, p.processor.counters.duplicates) == (1, 1)
    assert p.inbox.counters.duplicates == 1
    assert len([n for n in await p.notices() if "/actions/" in n["_topic"]]) == 1


async def test_copies_in_one_round_are_evaluated_once(make_emulator, make_pipeline) -> None:
    """Both copies waiting in the inbox when the processor wakes: the second is a duplicate."""
    p: Pipeline = await make_pipeline(await make_emulator(), RULE)
    raw = _gbm()
    for number, payload in enumerate([raw, raw + b"\n", raw + b"\n\n"]):
        await p.inbox(
            Received.create(
                raw=payload, identity=f"round:{number}", topic=GBM_TOPIC,
                received_at=p.clock(), source="test",
            )
        )  # fmt: skip
    await p.processor.step()
    first, *copies = await _inbox(p)
    assert [(c.status, c.duplicate_of) for c in copies] == [("processed", first.id)] * 2
    assert p.processor.counters.parsed == 1


async def test_a_schema_2_state_file_loads_and_keeps_its_alerts_identities(
    tmp_path: Path,
) -> None:
    """A state file written before schema 3: its parsed VOEvent (keyed by IVORN in the inbox)
    still has its copies recognised, and its unparsed row keyed by an IVORN no longer
    shadows the complete notice."""
    raw = _gbm()
    other = sorted(KAFKA.glob("*fermi_gbm_alert.xml"))[1].read_bytes()
    ivorn, other_ivorn = parse_alert(raw, GBM_TOPIC).ivorn, parse_alert(other, GBM_TOPIC).ivorn
    assert ivorn and other_ivorn and ivorn != other_ivorn
    path = tmp_path / "state.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        for version, _name, sql in migrations():
            if version <= 2:
                conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        now = "2026-12-01T00:00:00.000000Z"
        conn.executescript(
            f"""BEGIN;
            INSERT INTO inbox (id, dedup_key, source, topic, digest, raw, received_at, status)
            VALUES (1, 'ivorn:{ivorn}', 'old', '{GBM_TOPIC}', 'd1', x'{raw.hex()}', '{now}',
                    'processed'),
                   (2, 'ivorn:{other_ivorn}', 'old', '{GBM_TOPIC}', 'd2', x'{other[:900].hex()}',
                    '{now}', 'unparsed');
            INSERT INTO events (id, group_key, mission, event_key, first_seen, last_seen)
            VALUES (1, 'fermi:1', 'fermi', '1', '{now}', '{now}');
            INSERT INTO alerts (inbox_id, event_id, mission, notice_type, event_key, kind,
                                is_test, normalized, created_at)
            VALUES (1, 1, 'fermi', 'FERMI_GBM_ALERT', '1', 'initial', 0,
                    '{{"ivorn": "{ivorn}"}}', '{now}');
            COMMIT;"""
        )
    db = await Database.open(path)
    try:
        repo = Repository(db)
        assert repo.alerts_by_identity([f"ivorn:{ivorn}"]) == {f"ivorn:{ivorn}": 1}
        processor = Processor(
            repo,
            rules=lambda: load_documents([load_yaml_text(RULE, "rules.yaml")]),
            settings=lambda: PipelineSettings(mode="dry-run", max_alert_age=timedelta(days=3650)),
        )
        inbox = Inbox(repo)
        for number, payload in enumerate([raw + b"\n", other]):
            await inbox(
                Received.create(
                    raw=payload, identity=f"new:{number}", topic=GBM_TOPIC,
                    received_at=datetime.now(UTC), source="new",
                )
            )  # fmt: skip
        await processor.step()
        rows = {r.id: r for r in await repo.inbox_list(limit=10)}
    finally:
        await db.close()
    assert (rows[3].status, rows[3].duplicate_of) == ("processed", 1)  # a copy of alert 1
    assert (rows[4].status, rows[4].duplicate_of) == ("processed", None)  # evaluated
    assert processor.counters.parsed == 1
