"""A rule's ``approve``: the shorthand, the mapping, its default window and its mistakes,
each reported at its place in the file (docs/rules.md, "Human approval")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from autotoo.rules import load_rules
from tests.rules.test_loader_errors import GOOD_TOO, problems, rule


def loaded(tmp_path: Path, approve: str) -> timedelta | None:
    path = tmp_path / "ok.yaml"
    path.write_text(rule(f"approve: {approve}\n" + GOOD_TOO), encoding="utf-8")
    (only,) = load_rules([path]).rules
    return only.spec.approve.within if only.spec.approve is not None else None


def test_shorthand_and_mapping(tmp_path: Path) -> None:
    assert loaded(tmp_path, "human") == timedelta(hours=2)
    assert loaded(tmp_path, "human") == timedelta(hours=2)
    assert loaded(tmp_path, "{by: human}") == timedelta(hours=2)
    assert loaded(tmp_path, "{by: human, within: 30m}") == timedelta(minutes=30)
    assert loaded(tmp_path, "null") is None


def test_mistakes_are_located(tmp_path: Path) -> None:
    (zero,) = problems(tmp_path, rule("approve: {by: human, within: 0s}\n" + GOOD_TOO))
    assert zero.startswith("r.yaml:3:")
    assert "approval window must be longer than zero" in zero
    (who,) = problems(tmp_path, rule("approve: robot\n" + GOOD_TOO))
    assert who.startswith("r.yaml:3:")
    assert who.endswith("rules.0.approve: Input should be 'human'")
    (typo,) = problems(tmp_path, rule("approve: {by: human, whithin: 2h}\n" + GOOD_TOO))
    assert "unknown key" in typo
    (nothing,) = problems(tmp_path, rule("approve: human\nnotify: [mqtt]\n"))
    assert "approve: this rule sends no request" in nothing
