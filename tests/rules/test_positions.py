"""YamlDocument.position_in_string: an offset into a parsed string, back to file line:col."""

from __future__ import annotations

import pytest

from autotoo.config.yamlfile import load_yaml_text

TEXT = """\
plain: alert.ra > 1 && alert.(dec
single: 'alert.ra > 1 && alert.(dec'
double: "alert.ra > 1 && alert.(dec"
folded: >
  alert.ra > 1 &&
  alert.(dec
literal: |
    alert.ra > 1 &&
      alert.(dec
multi: alert.ra > 1 &&
  alert.(dec
after: x
"""


@pytest.mark.parametrize(
    ("key", "line", "col"),
    [
        ("plain", 1, 30),
        ("single", 2, 32),
        ("double", 3, 32),
        ("folded", 6, 9),
        ("literal", 9, 13),
        ("multi", 11, 9),
    ],
)
def test_offset_of_the_bad_parenthesis(key: str, line: int, col: int) -> None:
    doc = load_yaml_text(TEXT, "t.yaml")
    value = doc.data[key]
    offset = value.index("(")
    assert doc.position_in_string((key,), value, offset) == (line, col)


def test_offset_past_the_end_points_after_the_last_character() -> None:
    doc = load_yaml_text(TEXT, "t.yaml")
    value = doc.data["folded"]
    assert doc.position_in_string(("folded",), value, len(value)) == (6, 13)
    # Never into the next key, whatever the offset.
    assert doc.position_in_string(("multi",), doc.data["multi"], 10_000) == (11, 13)


def test_offset_zero_is_the_first_character() -> None:
    doc = load_yaml_text(TEXT, "t.yaml")
    assert doc.position_in_string(("single",), doc.data["single"], 0) == (2, 10)
    assert doc.position_in_string(("folded",), doc.data["folded"], 0) == (5, 3)
