"""Raw payloads stored compressed when large, and every reader gets the exact bytes back
(issue 20): the inbox, the processor's event history, export, and state files written before
the encoding existed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from autotoo.cli import EXIT_OK, main
from autotoo.pipeline.keys import inbox_key
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.rules import load_rules
from autotoo.store.db import Database, migrations
from autotoo.store.payloads import COMPRESS_AT
from autotoo.store.repository import Repository
from autotoo.store.retention import compress_old
from autotoo.store.rows import utcnow
from tests.alerts.alert_corpus import REPO_ROOT
from tests.fixtures.stores import store_args

DATA = REPO_ROOT / "tests" / "data" / "alerts"
SKY_MAPS = sorted((DATA / "igwn").glob("MS181101ab-*.json"))
NOTICE = DATA / "gcn-kafka-2026" / "000000005938_278_gcn_notices_einstein_probe_wxt_alert.json"
IGWN = "igwn.gwalert"


@pytest.fixture
async def repo(store_db: Database) -> Repository:
    return Repository(store_db)  # on SQLite and on PostgreSQL (tests/fixtures/postgres.py)


async def _put(repo: Repository, raw: bytes, topic: str) -> int:
    key, digest = inbox_key(raw, topic)
    put = await repo.inbox_put(
        dedup_key=key,
        source="test",
        identity=None,
        topic=topic,
        digest=digest,
        raw=raw,
        received_at=utcnow(),
    )
    return put.inbox_id


def _stored(path: Path | Database) -> dict[int, tuple[str, int, int | None, str]]:
    """Each inbox row's encoding, stored length, original size and digest (a file's, or an
    open store's on either backend)."""
    if isinstance(path, Database):
        rows = path.read(
            lambda conn: conn.execute(
                "SELECT id, encoding, length(raw), raw_size, digest FROM inbox"
            ).fetchall()
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
    with sqlite3.connect(path) as conn:
        return {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in conn.execute("SELECT id, encoding, length(raw), raw_size, digest FROM inbox")
        }


async def test_sky_maps_are_stored_compressed_and_every_reader_gets_the_bytes(
    repo: Repository, tmp_path: Path
) -> None:
    """The inbox stores every payload as received (its processor must not wait for a
    compression); the pruner's round compresses the large ones afterwards."""
    originals = {path: path.read_bytes() for path in [*SKY_MAPS, NOTICE]}
    ids = {
        path: await _put(repo, raw, IGWN if path in SKY_MAPS else "gcn.x")
        for path, raw in originals.items()
    }
    stored = _stored(repo.db)
    assert {v[0] for v in stored.values()} == {"identity"}
    assert all(length == size for _e, length, size, _d in stored.values())
    report = await compress_old(repo, pause_s=0)
    assert report.payloads == len(SKY_MAPS) - 1  # the retraction (252 bytes) is small
    stored = _stored(repo.db)
    for path, raw in originals.items():
        encoding, length, size, digest = stored[ids[path]]
        assert size == len(raw)
        assert digest == hashlib.sha256(raw).hexdigest()  # over the bytes received
        if len(raw) >= COMPRESS_AT:
            assert encoding == "zlib"
            assert length < len(raw) / 1.4, path.name  # measured: 1.48x for sky maps
        else:  # the notices (and the retraction, 252 bytes) as received: no work on them
            assert (encoding, length) == ("identity", len(raw))
        row = await repo.inbox_get(ids[path])
        assert row is not None and row.raw == raw and row.size == len(raw)
    # The same sky map again is a duplicate by its digest over the original bytes.
    assert await _put(repo, originals[SKY_MAPS[0]], IGWN) == ids[SKY_MAPS[0]]

    # export writes the bytes as received
    out = tmp_path / "export"
    export = ["alerts", "export", *store_args(repo.db, tmp_path), "--out", str(out)]
    assert await asyncio.to_thread(main, export) == EXIT_OK  # the CLI runs its own loop
    index = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    by_id = {e["id"]: e for e in index}
    for path, raw in originals.items():
        entry = by_id[ids[path]]
        assert (out / entry["file"]).read_bytes() == raw
        assert entry["bytes"] == len(raw)


async def test_the_processor_reads_compressed_payloads_and_their_event_history(
    repo: Repository,
) -> None:
    """A sky map is parsed from its compressed row; a later alert of the same superevent,
    evaluated by a processor with nothing cached (a restart), gets the earlier ones'
    payloads as received."""
    initial = next(p for p in SKY_MAPS if p.name.endswith("-initial.json"))
    update = next(p for p in SKY_MAPS if p.name.endswith("-update.json"))
    first = await _put(repo, initial.read_bytes(), IGWN)
    processor = Processor(repo, rules=lambda: load_rules([]), settings=PipelineSettings)
    assert await processor.step() == 1
    assert processor.counters.parsed == 1, "the compressed sky map did not parse"
    await _put(repo, update.read_bytes(), IGWN)
    histories = await repo.event_history(["lvk:MS181101ab"])
    ((_alert_id, topic, raw),) = histories["lvk:MS181101ab"].sources
    assert (topic, raw) == (IGWN, initial.read_bytes())
    fresh = Processor(repo, rules=lambda: load_rules([]), settings=PipelineSettings)
    assert await fresh.step() == 1
    assert fresh.counters.parsed == 1
    row = await repo.inbox_get(first)
    assert row is not None and row.status == "processed"


async def test_a_state_file_from_before_the_encoding_reads_as_it_was(tmp_path: Path) -> None:
    """Rows written by schema 3 hold the bytes as received: after the upgrade they read the
    same ('identity'), sizes included, and are compressed as new rows beside them are."""
    path = tmp_path / "state.db"
    sky = SKY_MAPS[0].read_bytes()
    with sqlite3.connect(path) as conn:
        for version, _name, sql in migrations()[:3]:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        conn.execute(
            "INSERT INTO inbox (dedup_key, source, topic, digest, raw, received_at, status) "
            "VALUES ('old', 'kafka', ?, ?, ?, '2026-01-01T00:00:00.000000Z', 'unparsed')",
            (IGWN, hashlib.sha256(sky).hexdigest(), sky),
        )
    db = await Database.open(path)
    try:
        repo = Repository(db)
        (old,) = await repo.inbox_list()
        assert old.raw == sky and old.size == len(sky) and old.pruned_at is None
        new_id = await _put(repo, SKY_MAPS[1].read_bytes(), IGWN)
        stored = _stored(path)
        assert stored[old.id][:3] == ("identity", len(sky), None)
        assert stored[new_id][0] == "identity"  # as received, until the pruner's round
        await compress_old(repo, pause_s=0)
        stored = _stored(path)
        assert stored[old.id][0] == stored[new_id][0] == "zlib"
        for inbox_id, raw in ((old.id, sky), (new_id, SKY_MAPS[1].read_bytes())):
            row = await repo.inbox_get(inbox_id)
            assert row is not None and row.raw == raw
    finally:
        await db.close()


async def test_the_dashboard_lists_unparsed_alerts_without_their_payloads(
    repo: Repository,
) -> None:
    """It refreshes every few seconds: it must not load and decompress sky maps."""
    sky = SKY_MAPS[0].read_bytes()
    inbox_id = await _put(repo, sky, IGWN)
    await repo.commit_alerts([], unparsed=[(inbox_id, "not parsed")])
    (full,) = await repo.inbox_list(status="unparsed")
    (light,) = await repo.inbox_list(status="unparsed", payloads=False)
    assert full.raw == sky and light.raw == b""
    assert (light.id, light.size, light.reason, light.topic) == (
        full.id,
        len(sky),
        "not parsed",
        IGWN,
    )


async def test_payloads_stored_before_compression_are_compressed_later(tmp_path: Path) -> None:
    """An upgraded store keeps its old sky maps as received until the pruner's round
    compresses them, a batch at a time; they read the same before and after."""
    from autotoo.store.retention import storage_stats  # noqa: PLC0415

    path = tmp_path / "state.db"
    skies = [p.read_bytes() for p in SKY_MAPS[:3]]
    notice = NOTICE.read_bytes()
    with sqlite3.connect(path) as conn:
        for version, _name, sql in migrations()[:3]:
            conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        for i, raw in enumerate([*skies, notice]):
            conn.execute(
                "INSERT INTO inbox (dedup_key, source, topic, digest, raw, received_at, status) "
                "VALUES (?, 'kafka', 't', ?, ?, '2026-01-01T00:00:00.000000Z', 'processed')",
                (f"old{i}", hashlib.sha256(raw).hexdigest(), raw),
            )
    db = await Database.open(path)
    try:
        repo = Repository(db)
        before = await storage_stats(repo)
        assert before.stored_bytes == before.original_bytes == sum(map(len, [*skies, notice]))
        report = await compress_old(repo, batch_bytes=1, pause_s=0)  # one row per batch
        assert report.payloads == 3 and report.after_bytes < report.before_bytes / 1.4
        stored = _stored(path)
        assert [stored[i + 1][0] for i in range(4)] == ["zlib", "zlib", "zlib", "identity"]
        assert [(await repo.inbox_get(i + 1)).raw for i in range(4)] == [*skies, notice]  # type: ignore[union-attr]
        after = await storage_stats(repo)
        assert after.original_bytes == before.original_bytes
        assert after.stored_bytes == before.stored_bytes - report.before_bytes + report.after_bytes
        assert (await compress_old(repo)).payloads == 0  # nothing left to do
    finally:
        await db.close()


def test_the_schema_of_a_state_file_is_read_by_a_relative_path_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon asks before opening (wiring.announce_upgrade); its default state path,
    ./autotoo-state/state.db, is relative."""
    from autotoo.store.db import schema_version_of  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    (tmp_path / "autotoo-state").mkdir()
    with sqlite3.connect(tmp_path / "autotoo-state" / "state.db") as conn:
        conn.execute("PRAGMA user_version = 3")
    assert schema_version_of(Path("autotoo-state/state.db")) == 3
    assert schema_version_of(Path("nowhere/state.db")) is None
