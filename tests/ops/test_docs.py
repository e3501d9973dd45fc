"""docs/configuration.md is what docs/generate_configuration.py writes from the models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_configuration_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen", DOCS / "generate_configuration.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    assert "| `mode` | `dry-run` \\| `debug` \\| `live` | `dry-run` |" in expected
    assert "### TooAction" in expected
    current = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert current == expected, "run: uv run python docs/generate_configuration.py"
