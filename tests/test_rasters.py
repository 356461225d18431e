"""The input-spike rasters show their spikes at the resolution the page embeds them.

The notebook's inline backend (and so the built book) renders a figure at ``figure.dpi`` of the
book's style (IPython's ``print_figure`` uses ``fig.dpi``), not at ``savefig.dpi``: the raster
panels of chapter 1's Fig S7 and chapter 3's Fig 2a / Fig S7 were blank on the page while the
saved copies showed the spikes (issue 18). Here a known spike array is drawn with the real
plotting functions at that dpi into an RGBA buffer, and every spike must leave a red (excitatory)
or blue (inhibitory) pixel at its place, with no coloured pixel anywhere else in the panel.
"""

from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from elmbook import neuronio as nf
from elmbook import plots

T, CHANNELS, HALF = 2000, 1278, 639
#: (time step, channel) of isolated spikes; excitatory channels are the first 639
EXC = [(150, 40), (700, 300), (1300, 600), (1900, 120)]
INH = [(400, 700), (1000, 1000), (1600, 1250), (1850, 900)]
NEAR_PX = 4  # a spike's pixels lie within this many pixels of its data position


@pytest.fixture(autouse=True)
def book_style():
    with matplotlib.rc_context():
        plots.apply_style()
        yield
    plt.close("all")


def page_dpi() -> float:
    """The dpi the page embeds figures at: the inline backend's, ``figure.dpi`` of the style."""
    assert matplotlib.rcParams["figure.dpi"] == plots.STYLE["figure.dpi"]
    return float(plots.STYLE["figure.dpi"])


def spikes_01() -> np.ndarray:
    X = np.zeros((T, CHANNELS), dtype=np.float32)
    for t, ch in EXC + INH:
        X[t, ch] = 1.0
    return X


def render(fig) -> np.ndarray:
    """The figure as the page shows it: RGB floats in [0, 1], row 0 at the top."""
    assert fig.dpi == page_dpi()
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float) / 255.0


def coloured(img: np.ndarray, color: str) -> np.ndarray:
    """Pixels of ``color`` (the raster's red or blue), not a pale blend of it with the white."""
    return np.abs(img - np.asarray(to_rgb(color))).max(axis=-1) < 0.12


def check_panel(fig, ax, exc, inh) -> None:
    img = render(fig)
    height = img.shape[0]
    red, blue = coloured(img, plots.EXCITATORY), coloured(img, plots.INHIBITORY)
    # pixels (rows from the top, columns) of the axes, without the legend's box
    box = ax.get_window_extent()
    inside = np.zeros(red.shape, dtype=bool)
    inside[int(height - box.y1) + 1:int(height - box.y0) - 1,
           int(box.x0) + 1:int(box.x1) - 1] = True
    legend = ax.get_legend().get_window_extent()
    inside[int(height - legend.y1) - 1:int(height - legend.y0) + 2,
           int(legend.x0) - 1:int(legend.x1) + 2] = False
    expected = np.zeros(red.shape, dtype=bool)
    for spikes, mask, name in ((exc, red, "excitatory"), (inh, blue, "inhibitory")):
        for t, ch in spikes:
            x, y = ax.transData.transform((t, ch))
            row, col = round(height - y), round(x)
            near = (slice(row - NEAR_PX, row + NEAR_PX + 1),
                    slice(col - NEAR_PX, col + NEAR_PX + 1))
            assert inside[near].any(), f"{name} spike at {(t, ch)} is hidden by the legend"
            assert mask[near].any(), (f"{name} spike at t={t}, channel {ch}: no coloured pixel "
                                      f"near ({row}, {col}) at {fig.dpi:g} dpi")
            expected[near] = True
    stray = (red | blue) & inside & ~expected
    assert not stray.any(), f"{int(stray.sum())} coloured pixels where there is no spike"


def test_plot_sample_shows_every_spike_at_the_page_resolution():
    """Chapter 3's Fig 2a: ``neuronio.plot_sample`` over a 2 s window from 500 ms."""
    start = 500
    X = np.zeros((start + T, CHANNELS), dtype=np.float32)
    X[start:] = spikes_01()
    soma = np.full(start + T, -70.0)
    out = np.zeros(start + T)
    fig = nf.plot_sample(X, out, soma, start=start, stop=start + T, title="known spikes")
    ax_in = fig.axes[0]
    shift = lambda spikes: [(start + t, ch) for t, ch in spikes]  # noqa: E731
    check_panel(fig, ax_in, shift(EXC), shift(INH))
    assert "8 input spikes" in ax_in.get_title(loc="left")
    lo, hi = ax_in.get_xlim()  # the time axis reads the window, not 0-2000
    assert start - 100 <= lo <= start and start + T - 1 <= hi <= start + T + 100


def dynamics_inputs():
    x = spikes_01()
    x[:, HALF:] *= -1.0  # the model's input: excitatory +1, inhibitory -1
    rng = np.random.default_rng(0)
    states = SimpleNamespace(s=rng.normal(size=(T, 40)), m=rng.normal(size=(T, 6)))
    y = rng.random((T, 2))
    return x, states, y, np.geomspace(1.0, 100.0, 6)


def test_plot_dynamics_shows_every_spike_at_the_page_resolution():
    """Chapter 1's Fig S7 (and chapter 3's): the input panel of ``plots.plot_dynamics``."""
    x, states, y, tau_m = dynamics_inputs()
    fig = plots.plot_dynamics(x, states, y, tau_m, title="known spikes")
    check_panel(fig, fig.axes[0], EXC, INH)


def test_plot_dynamics_time_axis_starts_at_t0():
    """A window cut from a longer run (chapter 3's Fig S7, 500-2500 ms) keeps its own times."""
    x, states, y, tau_m = dynamics_inputs()
    fig = plots.plot_dynamics(x, states, y, tau_m, t0=500.0)
    assert fig.axes[-1].get_xlim() == (500.0, 500.0 + T)
    check_panel(fig, fig.axes[0], [(500 + t, ch) for t, ch in EXC],
                [(500 + t, ch) for t, ch in INH])


def test_a_blank_raster_fails_the_check():
    """The check itself: the old markers (0.3 points², under a pixel at 100 dpi) fail it."""
    fig, ax = plt.subplots(figsize=(8.0, 3.0))
    for spikes, color in ((EXC, plots.EXCITATORY), (INH, plots.INHIBITORY)):
        t, ch = np.asarray(spikes).T
        ax.scatter(t, ch, s=0.3, color=color, marker="s", linewidths=0, rasterized=True,
                   label="spikes")
    ax.set_xlim(0, T)
    ax.set_ylim(-0.5, CHANNELS - 0.5)
    ax.legend(loc="upper right")
    with pytest.raises(AssertionError, match="no coloured pixel"):
        check_panel(fig, ax, EXC, INH)
