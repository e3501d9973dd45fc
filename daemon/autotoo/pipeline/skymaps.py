"""Sky maps published by URL, on the processor's path: fetched before their alerts are
evaluated, and a decision that had to do without one says why.

The fetch itself is the ``SkymapPort`` of :mod:`autotoo.pipeline.ports` (an adapter holds the
HTTP client); the maps land in the on-disk cache :data:`autotoo.alerts.skymaps.SKYMAPS`
reads, where the region functions find them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from autotoo.alerts.model import NormalizedAlert
from autotoo.alerts.skymaps import SKYMAPS, skymap_url
from autotoo.logs import get_logger
from autotoo.pipeline.ports import SkymapPort
from autotoo.rules import RuleSet

log = get_logger("autotoo.processor")


async def fetch_skymaps(
    port: SkymapPort, ruleset: RuleSet, alerts: Sequence[NormalizedAlert]
) -> None:
    """Fetch the maps these alerts publish by URL, all at once, when a rule may ask about a
    region (``RuleSet.uses_skymaps``). The processor's round waits at most the port's
    timeout (every alert of the round, a few at most while the daemon keeps up; later
    rounds not at all); a map already cached costs a file's ``stat``. A map that cannot be
    had is left to the rules to do without (:func:`without_skymap`). After a crash the same
    inbox rows are taken again and find the map in the cache, or fetch it again."""
    if not ruleset.uses_skymaps:
        return
    urls = {url for a in alerts if a.skymap_b64 is None and (url := skymap_url(a))}
    if not urls:
        return
    try:
        async with asyncio.timeout(port.timeout_s + 1.0):  # the port's promise, enforced
            await asyncio.gather(*(port.fetch(url) for url in sorted(urls)))
    except TimeoutError:
        log.warning("sky map fetches overran their timeout", urls=sorted(urls))


def without_skymap(alert: NormalizedAlert, error: str | None) -> str:
    """What a decision's reason adds when its rule asked about the alert's region and the
    alert's sky map could not be had (not fetched, unreadable): the rule saw the alert's
    circle or position instead, and the record (and a replay) says why. Nothing when the map
    was read, when the rule never asked (nothing loaded it), or when the decision's error
    already says it."""
    loaded = SKYMAPS.peek(alert)
    if loaded is None or loaded.error is None or (error and loaded.error in error):
        return ""
    return f"; evaluated without its sky map: {loaded.error}"
