"""One figure style for the whole book, and the figures that more than one chapter draws.

Why a module: every chapter must look the same and say the same things in the same places
(scale, data, paper vs ours), and a figure function written once is tested once. Chapters call
:func:`apply_style` once, draw with a short title, and hand the figure and its caption (the
provenance: runs, seeds, scale, data) to :func:`show_figure`, which also keeps a copy under the
repository's ``figures/``.

Colours: excitatory input red and inhibitory input blue, as in the paper's Fig S7; the rest is
the Okabe-Ito palette, which stays distinguishable for colour-blind readers and in greyscale.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure

from elmbook import REPOSITORY

#: Input spikes with sign +1 (excitatory) and -1 (inhibitory), as the paper's Fig S7.
EXCITATORY, INHIBITORY = "#d62728", "#1f5fbf"
#: Okabe-Ito colours, the default colour cycle.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
#: The paper's published values are always drawn in this grey, our computed ones in colour.
PAPER_COLOR = "#7f7f7f"
#: Side of an input spike's square, in pixels of the figure as the page shows it. The notebook's
#: inline backend (and so the built page) renders at ``figure.dpi`` (``STYLE``: 100), not at
#: ``savefig.dpi``; squares under a pixel were blended into the white there and the raster panels
#: looked empty (issue 18). ``tests/test_rasters.py`` checks the rendered pixels.
SPIKE_PX = 2.0

#: The widest figure, in inches: at ``figure.dpi`` 100 it fills the page's content column
#: (about 800 px) without being shrunk, so 7-9 pt text stays 7-9 pt on the page.
PAGE_WIDTH_IN = 8.0

STYLE: dict[str, object] = {
    "figure.figsize": (PAGE_WIDTH_IN, 4.5),
    "figure.dpi": 100,
    "figure.constrained_layout.use": True,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "font.size": 9,
    "axes.titlesize": 9,
    "figure.titlesize": 9,
    "axes.labelsize": 9,
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
    "legend.frameon": False,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "lines.linewidth": 1.0,
    "image.cmap": "viridis",
}


def apply_style() -> None:
    """Set the book's matplotlib style for everything drawn afterwards in this process."""
    mpl.rcParams.update(STYLE)


def figures_dir() -> Path:
    """Where the chapters keep their figures: ``$ELM_FIGURES_DIR``, else ``figures/`` of the
    repository this book belongs to (the folder above ``book/``)."""
    env = os.environ.get("ELM_FIGURES_DIR")
    folder = Path(env) if env else REPOSITORY / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def log_axis(axis: Axis, values: Sequence[float]) -> None:
    """A log-scaled axis with enough labelled ticks for the range of ``values``.

    Why: matplotlib labels only the powers of ten, so an axis spanning less than a decade or
    two shows one or two numbers. Ticks at 1, 2, 3, 4, 5, 6, 8 (under a decade), 1, 2, 5 (about
    a decade), 1, 3 (up to 2.5 decades) or 1 per decade, labelled as plain numbers, minor ticks
    off.
    """
    positive = [v for v in values if v > 0]
    decades = math.log10(max(positive) / min(positive)) if positive else 0.0
    subs = ((1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0) if decades <= 0.8 else (1.0, 2.0, 5.0)
            if decades <= 1.2 else (1.0, 3.0) if decades <= 2.5 else (1.0,))
    axis.axes.set(**{f"{axis.axis_name}scale": "log"})
    axis.set_major_locator(mticker.LogLocator(subs=subs))
    axis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    axis.set_minor_locator(mticker.NullLocator())


def mean_std(mean: float | None, std: float | None = None, digits: int = 3, *,
             n: int | None = None) -> str:
    """``"0.638 ± 0.003"``, the one format of a mean over seeds in the book's tables: ``"–"`` for
    a missing or NaN mean, no ``±`` for one run (``n == 1``) or without a std."""
    if mean is None or not np.isfinite(mean):
        return "–"
    if n == 1 or std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def save_figure(fig: Figure, name: str) -> Path:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` and return the path."""
    path = figures_dir() / f"{name}.png"
    fig.savefig(path)
    return path


#: The longest title a figure or one of its panels may carry. Provenance (runs, seeds, training
#: length, data) is long and goes into the caption under the figure (:func:`show_figure`):
#: a long title shrinks the figure's text or wraps over several lines above the panels.
TITLE_CHARS = 90


class Caption:
    """The caption shown under a figure: bold label, then the text, in HTML (Jupyter and the
    built book, whose MyST renderer would not typeset a Markdown output's TeX) or plain text."""

    def __init__(self, label: str, text: str) -> None:
        self.label, self.text = label, text

    def _repr_html_(self) -> str:
        return (f'<p class="elm-caption" style="font-size:0.9em;opacity:0.85;margin-top:0">'
                f"<b>{html.escape(self.label)}</b> {html.escape(self.text)}</p>")

    def __str__(self) -> str:
        return f"{self.label} {self.text}"


def long_titles(fig: Figure, limit: int = TITLE_CHARS) -> list[str]:
    """The figure's and its panels' titles longer than ``limit`` characters."""
    titles = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    titles += [ax.get_title(loc) for ax in fig.axes for loc in ("left", "center", "right")]
    return [t for t in titles if len(t) > limit]


def show_figure(fig: Figure, name: str, label: str, caption: str) -> Path:
    """Save ``fig`` (:func:`save_figure`), show it, and show ``label`` and ``caption`` under it.

    Why: a figure's title is read at the figure's small font size, so it stays short (a
    :class:`ValueError` names any title over :data:`TITLE_CHARS`), and what the figure was
    computed from (runs, seeds, scale, data, paper values) is written out in the caption at the
    page's own font size.
    """
    too_long = long_titles(fig)
    if too_long:
        raise ValueError(f"figure {name!r}: title over {TITLE_CHARS} characters, move the "
                         f"details into the caption: {too_long[0]!r}")
    from IPython.display import display

    path = save_figure(fig, name)
    display(fig)
    plt.close(fig)  # shown once: the inline backend would show it again at the cell's end
    display(Caption(label, caption))
    return path


#: Table cells up to this many characters are kept on one line (numbers, sizes, short labels).
NOWRAP_CHARS = 24


class Table:
    """A small table that shows as HTML in Jupyter and in the built book, and as Markdown as text.

    Why not a Markdown string: Jupyter Book renders ``text/markdown`` cell outputs as CommonMark,
    which has no tables; HTML renders the same everywhere and needs no pandas. Floats get 4
    significant digits; pass strings to format a column differently.
    """

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        self.header = [str(h) for h in header]
        self.rows = [[self._cell(v) for v in row] for row in rows]
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"row {row!r} has {len(row)} cells, the header {len(self.header)}")

    @staticmethod
    def _cell(value: object) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.4g}"
        return str(value)

    def to_markdown(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        return "\n".join([line(self.header), "|" + "---|" * len(self.header),
                          *(line(r) for r in self.rows)])

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        """The table in a horizontally scrolling box, short cells kept on one line.

        Why: a page column is about 700 px; squeezed to fit, a wide table breaks numbers such as
        "hidden=15" or "0.9123 ± 0.0040" across lines. Short cells (numbers, sizes) never wrap
        and the box scrolls instead; long prose cells still wrap.
        """
        def cell(tag: str, text: str) -> str:
            style = ' style="white-space: nowrap"' if len(text) <= NOWRAP_CHARS else ""
            return f"<{tag}{style}>{html.escape(text)}</{tag}>"

        head = "".join(cell("th", h) for h in self.header)
        body = "".join("<tr>" + "".join(cell("td", c) for c in row) + "</tr>" for row in self.rows)
        return (f'<div class="pst-scrollable-table-container" style="overflow-x: auto">'
                f'<table class="table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
                f"</table></div>")

    def __str__(self) -> str:
        return self.to_markdown()


def spike_raster(ax: Axes, t, channel, *, color: str, label: str | None = None,
                 px: float = SPIKE_PX):
    """Draw spikes at times ``t`` on rows ``channel`` of ``ax`` as squares of ``px`` pixels at the
    figure's dpi (so of at least ``px`` pixels wherever the figure is saved at a higher dpi), in one
    solid ``color``; returns the collection. Use :func:`spike_legend` for a legend whose squares
    are readable."""
    side_pt = px * 72.0 / ax.figure.dpi  # a square marker's side is sqrt(s) points
    return ax.scatter(t, channel, s=side_pt ** 2, color=color, marker="s", linewidths=0,
                      label=label, rasterized=True)


def spike_legend(ax: Axes, **kwargs):
    """A legend for :func:`spike_raster` with squares of about 6 points, above the raster."""
    side_pt = SPIKE_PX * 72.0 / ax.figure.dpi
    options = {"loc": "upper right", "ncols": 2, "frameon": True, "framealpha": 0.9,
               "edgecolor": "none", "markerscale": 6.0 / side_pt} | kwargs
    return ax.legend(**options)


def _one_sample(a, sample: int) -> np.ndarray:
    a = np.asarray(a)
    return a[sample] if a.ndim == 3 else a


def plot_dynamics(
    x,
    states,
    y,
    tau_m,
    *,
    sample: int = 0,
    dt: float = 1.0,
    synapses: Sequence[int] | None = None,
    n_synapses: int = 8,
    output_labels: Sequence[str] | None = None,
    title: str | None = None,
    seed: int = 0,
    t0: float = 0.0,
) -> Figure:
    """The paper's Fig S7 for one sample: input, outputs, synaptic traces, memory units.

    ``x`` is the input ``(batch, time, inputs)`` (or one sample ``(time, inputs)``) with
    excitatory spikes as +1 and inhibitory ones as -1; ``states`` the
    :class:`elm.recurrence.Trajectories` of ``model(x, return_states=True)``; ``y`` the
    outputs ``(batch, time, n_out)``, drawn one panel per channel; ``tau_m`` the memory
    timescales, used to order (and colour) the memory units from fast to slow.

    ``synapses`` picks the traces to draw; by default ``n_synapses`` are drawn at random
    (``seed``) among those whose trace is not constantly zero. A trace is drawn in the colour
    of the input it mostly receives, so inhibitory ones deflect downwards in blue.

    ``t0`` is the time (ms) of the first step drawn, for a window cut from a longer run: the time
    axis then reads ``t0`` to ``t0 + T * dt``, as the window's title says.
    """
    x = _one_sample(x, sample)
    y = _one_sample(y, sample)
    s = _one_sample(states.s, sample)
    m = _one_sample(states.m, sample)
    tau_m = np.asarray(tau_m)
    if m.shape[-1] != tau_m.shape[0]:
        raise ValueError(f"tau_m has {tau_m.shape[0]} entries but the memory has {m.shape[-1]}")
    if not x.shape[0] == y.shape[0] == s.shape[0] == m.shape[0]:
        raise ValueError(f"time axes differ: x {x.shape}, y {y.shape}, s {s.shape}, m {m.shape}")
    time = t0 + np.arange(x.shape[0]) * dt
    n_out = y.shape[-1]
    labels = list(output_labels) if output_labels is not None else [f"y[{i}]" for i in range(n_out)]
    if len(labels) != n_out:
        raise ValueError(f"{len(labels)} output labels for {n_out} output channels")

    heights = [2.0] + [0.8] * n_out + [1.4, 2.4]
    fig, axes = plt.subplots(
        len(heights), 1, sharex=True, figsize=(8.0, 1.4 * sum(heights)),
        gridspec_kw={"height_ratios": heights},
    )
    ax_in, ax_out, ax_s, ax_m = axes[0], axes[1:1 + n_out], axes[-2], axes[-1]

    for sign, color, name in ((1, EXCITATORY, "excitatory (+1)"), (-1, INHIBITORY,
                                                                 "inhibitory (−1)")):
        t_idx, ch = np.nonzero(np.sign(x) == sign)
        spike_raster(ax_in, time[t_idx], ch, color=color, label=name)
    ax_in.set_ylim(-0.5, x.shape[1] - 0.5)
    ax_in.set_ylabel("input channel")
    ax_in.set_title("a) synaptic input", loc="left")
    spike_legend(ax_in)

    for i, ax in enumerate(ax_out):
        ax.plot(time, y[:, i], color=PALETTE[0])
        ax.set_ylabel(labels[i])
    ax_out[0].set_title("b) output", loc="left")

    if synapses is None:
        active = np.flatnonzero(np.abs(s).max(axis=0) > 0)
        rng = np.random.default_rng(seed)
        synapses = np.sort(rng.choice(active, size=min(n_synapses, active.size), replace=False))
    for k in synapses:
        color = EXCITATORY if s[:, k].sum() >= 0 else INHIBITORY
        ax_s.plot(time, s[:, k], color=color, alpha=0.8)
    ax_s.axhline(0.0, color="black", lw=0.5)
    ax_s.set_ylabel("trace $s_t$")
    ax_s.set_title(f"c) synaptic traces of {len(synapses)} synapses", loc="left")

    # Units differ in offset and range, so each is drawn scaled to its own range (the range is
    # written at the right); what stays comparable is how fast each one moves.
    order = np.argsort(tau_m)
    low, high = m.min(axis=0), m.max(axis=0)
    scaled = (m - low) / np.maximum(high - low, 1e-12)
    norm = mpl.colors.LogNorm(vmin=tau_m.min(), vmax=max(tau_m.max(), tau_m.min() * 1.0001))
    cmap = mpl.colormaps["viridis"]
    for row, unit in enumerate(order):
        ax_m.plot(time, row + 0.8 * scaled[:, unit], color=cmap(norm(tau_m[unit])))
        if len(order) <= 30:
            ax_m.text(1.005, (row + 0.4) / len(order), f"{high[unit] - low[unit]:.2g}",
                      transform=ax_m.transAxes, fontsize=6, va="center", color="0.4")
    step = max(1, len(order) // 10)
    ax_m.set_yticks(np.arange(0, len(order), step) + 0.4)
    ax_m.set_yticklabels([f"{tau_m[unit]:.3g}" for unit in order[::step]])
    ax_m.set_ylim(-0.1, len(order))
    ax_m.set_ylabel(r"memory unit, by $\tau_m$ (ms)")
    ax_m.set_title(f"d) all {len(order)} memory units $m_t$, each scaled to its range (at right)",
                   loc="left")
    ax_m.set_xlabel("time (ms)")
    ax_m.set_xlim(time[0], time[-1] + dt)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=9)
    return fig


def plot_run(record: dict, ax: Axes | None = None) -> Figure:
    """A run's training-loss curve, titled with what produced it (experiment, scale, data)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 2.6))
    else:
        fig = ax.figure
    curves = record.get("curves") or {"step": [], "loss": []}
    ax.plot(curves["step"], curves["loss"], color=PALETTE[0])
    if record.get("status") == "diverged":
        ax.axvline(record["diverged_at"], color=PALETTE[5], ls="--", label="diverged")
        ax.legend()
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss")
    changes = ", ".join(f"{k}={v}" for k, v in (record.get("overrides") or {}).items())
    data = (record.get("data") or {}).get("description", record.get("data_dir"))
    ax.set_title(f"{record['experiment']} {changes} (seed {record['seed']}, scale "
                 f"{record['scale']!r})\ndata: {data}", fontsize=7)
    return fig
