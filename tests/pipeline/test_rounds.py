"""The workers' rounds: when another round follows, and who is woken after whom.

On the way from an alert to its POST every step runs on the one event loop, so work that
runs between the submitter's request and the request's first bytes (a publisher round, an
empty processor round) is latency. These pin down the order the daemon relies on.
"""

from __future__ import annotations

import asyncio

from autotoo.config.yamlfile import load_yaml_text
from autotoo.demo import DEMO_RULE
from autotoo.pipeline.intake import Inbox
from autotoo.pipeline.processor import Processor
from autotoo.pipeline.settings import PipelineSettings
from autotoo.pipeline.submitter import Submitter
from autotoo.pipeline.worker import Worker
from autotoo.rules import load_documents
from autotoo.store.repository import Repository
from autotoo.store.rows import SubmissionState
from tests.pipeline.test_batching import ep_alert, received


class _WokenDuringAnIdleRound(Worker):
    """Its first round finds nothing, but new work is announced while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0
        self.second = asyncio.Event()

    def idle_seconds(self) -> float:
        return 3600.0  # only a wake-up can start another round in the test's time

    async def step(self) -> int:
        self.rounds += 1
        if self.rounds == 1:
            self.wake.set()  # e.g. an inbox row stored while this round read an empty inbox
        else:
            self.second.set()
        return 0


async def test_a_wake_up_during_a_round_that_found_nothing_is_not_lost() -> None:
    worker = _WokenDuringAnIdleRound()
    task = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(5):
            await worker.second.wait()
    finally:
        worker.stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert worker.rounds >= 2


class _CountingProcessor(Processor):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.rounds: list[int] = []
        self.round_done = asyncio.Event()

    async def step(self, limit: int = 200) -> int:
        taken = await super().step(limit)
        self.rounds.append(taken)
        self.round_done.set()
        return taken


async def test_the_processor_runs_again_only_when_woken(repo: Repository) -> None:
    """A round that took fewer rows than its limit left none behind (every new row wakes
    the processor), so no empty round follows it on the way to the submitter's POST."""
    ruleset = load_documents([load_yaml_text(DEMO_RULE, "rules.yaml")])
    settings = PipelineSettings(mode="dry-run")
    processor = _CountingProcessor(repo, rules=lambda: ruleset, settings=lambda: settings)
    inbox = Inbox(repo, on_new=processor.notify_new)
    task = asyncio.create_task(processor.run())
    try:
        async with asyncio.timeout(10):
            await processor.round_done.wait()  # the first round: an empty inbox
            processor.round_done.clear()
            await inbox(received(ep_alert("R1"), "r:1"))
            await processor.round_done.wait()
            await asyncio.sleep(0.2)  # time enough for a needless round
            assert processor.rounds == [0, 1]
            await inbox(received(ep_alert("R2"), "r:2"))  # and a new row still wakes it
            while processor.rounds[-1] != 1 or len(processor.rounds) < 3:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        processor.stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert processor.rounds == [0, 1, 1]


async def test_the_submitter_wakes_the_publisher_after_each_row(repo: Repository) -> None:
    """Status notices leave after the row they describe was handled (its POST sent), and
    a round with nothing due still passes on the processor's own notices."""
    ruleset = load_documents([load_yaml_text(DEMO_RULE, "rules.yaml")])
    settings = PipelineSettings(mode="dry-run")
    states: list[list[str]] = []

    def record() -> None:  # in the call itself: what is stored at that moment
        rows = repo.db.read(lambda conn: conn.execute("SELECT state FROM submissions").fetchall())
        states.append(sorted(str(row[0]) for row in rows))

    submitter = Submitter(repo, settings=lambda: settings, too=None, xrt=None, on_notices=record)
    assert await submitter.step() == 0
    assert states == [[]]  # nothing due: woken all the same

    processor = Processor(repo, rules=lambda: ruleset, settings=lambda: settings)
    await Inbox(repo)(received(ep_alert("P1"), "p:1"))
    assert await processor.step() == 1
    planned = await repo.submissions()
    assert planned
    assert {row.state for row in planned} == {SubmissionState.PLANNED}
    states.clear()
    handled = await submitter.step()
    assert handled >= 1  # the TOO (its XRT follow-up waits for the observation)
    assert len(states) == handled
    # woken after each row, once it was handled (dry-run: 'done')
    for handled_so_far, seen in enumerate(states, start=1):
        assert seen.count(SubmissionState.DONE.value) == handled_so_far
