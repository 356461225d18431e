"""The book's HTML tables scroll instead of squeezing numbers across lines."""

from __future__ import annotations

import re

import pytest

from elmbook.plots import NOWRAP_CHARS, Table


def test_short_cells_stay_on_one_line_long_ones_wrap_and_the_box_scrolls():
    long = "paper (Tables S4-S6): every Branch-ELM size vs LIF"
    assert len(long) > NOWRAP_CHARS
    table = Table(["model", "params", "note"], [["LSTM hidden=15", 1577.0, long]])
    page = table._repr_html_()
    assert re.search(r'<div [^>]*style="overflow-x: auto"[^>]*><table', page)
    assert '<td style="white-space: nowrap">LSTM hidden=15</td>' in page
    assert '<td style="white-space: nowrap">1577</td>' in page  # floats: 4 significant digits
    assert f"<td>{long}</td>" in page
    assert "| LSTM hidden=15 | 1577 |" in table.to_markdown()


def test_cells_are_escaped_and_rows_must_match_the_header():
    assert "&lt;b&gt;" in Table(["x"], [["<b>"]])._repr_html_()
    with pytest.raises(ValueError, match="2 cells, the header 1"):
        Table(["x"], [["a", "b"]])
