"""Made tests/data/state-schema3.db, run with the store of commit 562fa22 (schema 3:
`git worktree add /tmp/old 562fa22; cd /tmp/old; PYTHONPATH=daemon python <this> <db>`): a TOO whose
outcome is unknown after one listing without it and one that failed, and an XRT job retried
for 'no data yet' (first_try_at in its request)."""

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from autotoo.pipeline.intake import Inbox
from autotoo.sources.base import Received
from autotoo.store.db import Database
from autotoo.store.repository import Repository
from autotoo.store.rows import AlertOutcome, PlannedSubmission
from autotoo.store.rows import SubmissionState as S

TOO = {
    "body": {"source_name": "GRB 260101A", "ra": 10.5, "dec": -20.25, "poserr": 3.0, "urgency": 2},
    "marker": "too-key",
    "policy": {"constrained": {"urgency": [3, 4]}},
    "budget": {"max": 2, "per_s": 86400.0},
    "notify": ["mqtt", "webhook"],
    "debug": False,
    "server_validate": True,
    "check_uvot_mode": True,
    "uvot_fallback": "0x9999",
}
XRT = {
    "request": {
        "globals": {"RA": 10.5, "Dec": -20.25, "getTargs": True},
        "products": {"LightCurve": {"binMeth": "obsid"}},
    },
    "name": "autotoo r1 swift:1 xrt-key",
    "notify": None,
    "retry_every_s": 600.0,
    "retry_for_s": 86400.0,
    "submit": "immediately",
}


async def main(path: Path) -> None:
    db = await Database.open(path)
    repo = Repository(db)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    await Inbox(repo)(
        Received.create(raw=b"{}", identity="x", topic="t", received_at=now, source="t")
    )
    (row,) = await repo.inbox_pending()
    plans = [
        PlannedSubmission(key="too-key", api="swift_too", rule="r1", action="too", request=TOO),
        PlannedSubmission(
            key="xrt-key", api="ukssdc_xrt", rule="r1", action="xrt_products", request=XRT
        ),
    ]
    await repo.commit_alert(
        AlertOutcome(
            inbox_id=row.id,
            normalized={},
            group_key="swift:1",
            mission="swift",
            event_key="1",
            kind="initial",
            is_test=False,
            error_deg=0.05,
            plans=plans,
        )
    )
    too = await repo.submission_by_key("too-key")
    xrt = await repo.submission_by_key("xrt-key")
    await repo.transition(too.id, expect=[S.PLANNED], to=S.SUBMITTING, sent_at=now)
    await repo.transition(
        too.id,
        expect=[S.SUBMITTING],
        to=S.UNKNOWN,
        next_at=now,
        request={**TOO, "_reconcile": {"missing": 1, "errors": 1}},
    )
    await repo.transition(
        xrt.id,
        expect=[S.PLANNED],
        to=S.PLANNED,
        next_at=now,
        request={**XRT, "first_try_at": "2025-12-31T23:00:00.000000Z"},
    )
    await db.close()


asyncio.run(main(Path(sys.argv[1])))
