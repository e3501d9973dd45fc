"""The dashboard's transients: the recent ones, and one transient's timeline, as JSON
(``GET /api/transients``, ``GET /api/transients/{id}``) for the page's transient section.

The same rows and sentences as ``autotoo transients list|show``
(:mod:`autotoo.store.transient_reads`): the page lays them out, it says nothing of its own.
They are apart from ``/api/status`` on purpose: a timeline is read when someone asks for
one, not every 3 s with everything else.
"""

from __future__ import annotations

from typing import Any

from autotoo.store.repository import Repository


async def recent(repo: Repository, *, limit: int = 20) -> list[dict[str, Any]]:
    return [t.to_json() for t in await repo.recent_transients(limit=limit)]


async def timeline(repo: Repository, ident: str) -> dict[str, Any] | None:
    """One transient's timeline; None when there is no such transient."""
    found = await repo.transient_timeline(ident)
    return found.to_json() if found is not None else None
