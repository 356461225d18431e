"""The book's tables scroll instead of squeezing numbers; log axes carry readable ticks."""

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


@pytest.mark.parametrize(("low", "high", "at_least"), [(20.0, 80.0, 3), (1.0, 100.0, 3),
                                                        (1.0, 1e5, 5)])
def test_a_log_axis_labels_several_ticks_whatever_its_range(low, high, at_least):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from elmbook.plots import log_axis

    fig, ax = plt.subplots()
    ax.plot([low, high], [low, high])
    log_axis(ax.yaxis, [low, high])
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()
              if t.get_text() and low <= float(t.get_text()) <= high]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "linear"
    assert len(labels) >= at_least, labels
    plt.close(fig)
