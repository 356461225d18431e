"""Figures carry short titles and show their provenance in a caption under them."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from elmbook import plots


def test_long_titles_finds_suptitles_and_panel_titles():
    fig, (a, b) = plt.subplots(1, 2)
    a.set_title("a) short")
    b.set_title("x" * (plots.TITLE_CHARS + 1), loc="left")
    assert plots.long_titles(fig) == ["x" * (plots.TITLE_CHARS + 1)]
    fig.suptitle("y" * (plots.TITLE_CHARS + 5))
    assert len(plots.long_titles(fig)) == 2
    plt.close(fig)


def test_show_figure_refuses_a_long_title_before_saving(tmp_path, monkeypatch):
    monkeypatch.setenv("ELM_FIGURES_DIR", str(tmp_path))
    fig = plt.figure()
    fig.suptitle("Fig 2b,c: " + "a very long provenance string " * 5)
    with pytest.raises(ValueError, match="caption"):
        plots.show_figure(fig, "too_long", "Fig 2b,c.", "runs")
    assert not (tmp_path / "too_long.png").exists()
    plt.close(fig)


def test_show_figure_saves_shows_and_captions(tmp_path, monkeypatch):
    monkeypatch.setenv("ELM_FIGURES_DIR", str(tmp_path))
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    fig, ax = plt.subplots()
    ax.set_title("a) accuracy")
    path = plots.show_figure(fig, "captioned", "Fig 5b.", "3 seeds of <scale> demo & paper")
    assert path == tmp_path / "captioned.png" and path.stat().st_size > 0
    assert shown[0] is fig and not plt.fignum_exists(fig.number)  # shown once, then closed
    caption = shown[1]
    assert str(caption) == "Fig 5b. 3 seeds of <scale> demo & paper"
    assert "<b>Fig 5b.</b> 3 seeds of &lt;scale&gt; demo &amp; paper" in caption._repr_html_()
