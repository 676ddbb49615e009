"""boxmask.terminal: text and JSON safe to print, aligned tables."""

from __future__ import annotations

import json

from boxmask.terminal import format_table, safe_json, safe_text


def test_safe_text_escapes_what_a_terminal_acts_on() -> None:
    assert safe_text("cup\x1b[2J\x9b\u202e\ud800") == "cup\\x1b[2J\\x9b\\u202e\\ud800"
    assert safe_text("a\tb\nc\r") == "a\\tb\\nc\\r"
    assert safe_text("a\tb\nc\r", multiline=True) == "a\tb\nc\\r"
    assert safe_text("ünïcødé 猫") == "ünïcødé 猫"
    assert safe_text(3) == "3"


def test_safe_json_is_the_same_value_and_printable() -> None:
    value = {"label": "x\x1b]52;c;\x07\u2066\x7f", "n": 1, "text": "猫"}
    text = safe_json(value, indent=None)
    assert "\x1b" not in text and "\u2066" not in text and "\x7f" not in text
    assert "猫" in text
    assert json.loads(text) == value


def test_format_table_aligns_numbers_and_escapes_cells() -> None:
    table = format_table(["name", "n", "iou"], [["cup\x1b", 3, 0.5], ["spoon", 12, 0.25]])
    assert table.splitlines() == [
        "name     n   iou",
        "-------  --  ----",
        "cup\\x1b   3  0.50",
        "spoon    12  0.25",
    ]
