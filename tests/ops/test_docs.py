"""docs/configuration.md is what docs/generate_configuration.py writes from the models."""

from __future__ import annotations

import importlib.util
import re
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


def test_no_reference_to_documents_a_reader_does_not_have() -> None:
    """The docs and the code say the choice itself, not "see open question 5" or "spec §11":
    the specification documents they once cited are not part of the project."""
    root = DOCS.parent
    pattern = re.compile(
        r"open question \d|\bspec §|\bspec \(|\bspecs/|[\w-]+\.md §|docs/interface|seed walkthrough"
    )
    files = [root / "README.md", *DOCS.glob("*.md"), *(root / "daemon").rglob("*.py")]
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in files
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
