"""The ELM neuron as a block diagram (the counterpart of the paper's Fig 1b), drawn from a config.

Why drawn and not pasted: the paper's Fig 1 is a sketch of the architecture; ours is drawn from
an :class:`elm.ELMConfig`, so every size and time constant on it is the one the model in the
chapter has, and a change of configuration changes the picture. The four components carry the
paper's colours (the RGB values of its Fig 1 caption): synapse dynamics green, integration
orange, leaky memory blue, output pink.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from elm import ELMConfig

#: The paper's component colours (Fig 1 caption, ``\color[rgb]{...}``), as hex.
COMPONENT_COLORS = {
    "synapse": "#029f73",  # rgb(0.0078, 0.621, 0.449): s_t, tau_s, w_s
    "integration": "#de9005",  # rgb(0.871, 0.563, 0.020): w_p, lambda, Delta m_t
    "memory": "#0173b3",  # rgb(0.0039, 0.449, 0.699): m_t, tau_m
    "output": "#cd78bd",  # rgb(0.801, 0.469, 0.738): w_y, y_t
}


@dataclass(frozen=True)
class Component:
    """One box of the diagram: which component, its heading and the lines under it."""

    kind: str  # a key of COMPONENT_COLORS
    heading: str
    lines: tuple[str, ...]


def components(config: ELMConfig) -> list[Component]:
    """The four components of equation (1) with this configuration's sizes, in data-flow order."""
    c = config
    if c.branches == c.num_input and c.d_brch == 1:
        where = "one per input"
    else:
        where = f"on {c.branches} branches × {c.d_brch}"
    w_s = "learnt" if c.learn_w_s else "fixed"
    hidden = " → ".join([str(c.branches + c.d_m)] + [str(c.hidden)] * c.mlp_layers + [str(c.d_m)])
    tau_m = "learnt" if c.learn_tau_m else "fixed"
    readout = "$m_t$" if c.readout == "m_t" else "$m_{t-1}$"
    return [
        Component("synapse", "synapse dynamics",
                  (f"{c.num_synapse} synapses", where, r"$s_t = \kappa_s s_{t-1} + w_s x_t$",
                   rf"$\tau_s$ = {c.tau_s:g} ms, $w_s$ {w_s}")),
        Component("integration", "integration (MLP)",
                  (r"$\Delta m_t = \tanh(\mathrm{MLP}_{w_p}([s_t, \kappa_m m_{t-1}]))$",
                   f"{hidden}, {c.activation}", rf"$\lambda$ = {c.lambda_value:g}")),
        Component("memory", "leaky memory",
                  (f"{c.d_m} units",
                   r"$m_t = \kappa_m m_{t-1} + \lambda(1-\kappa_m)\Delta m_t$",
                   rf"$\tau_m$ {c.tau_m_init[0]:g}–{c.tau_m_init[1]:g} ms ({c.tau_m_spacing}, "
                   f"{tau_m})")),
        Component("output", "output",
                  (rf"$y_t = w_y$ {readout}", f"{c.d_m} → {c.num_output}")),
    ]


def plot_elm_schematic(config: ELMConfig, *, title: str = "") -> Figure:
    """The block diagram: input, the four coloured components, and the memory's recurrence."""
    parts = components(config)
    fig, ax = plt.subplots(figsize=(8.0, 2.6), layout="none")  # placed by hand below
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86 if title else 0.98)
    ax.set_axis_off()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 3.2)
    width, gap, y0, height = 1.95, 0.42, 0.9, 1.7
    x = 0.85
    ax.text(0.05, y0 + height / 2, f"$x_t$\n{config.num_input}\ninputs", ha="left",
            va="center", fontsize=8)
    centres = []
    for part in parts:
        color = COMPONENT_COLORS[part.kind]
        ax.add_patch(FancyBboxPatch((x, y0), width, height, boxstyle="round,pad=0.03",
                                    facecolor=color, alpha=0.18, edgecolor=color, lw=1.5))
        ax.text(x + width / 2, y0 + height - 0.12, part.heading, ha="center", va="top",
                fontsize=8.5, fontweight="bold", color=color)
        ax.text(x + width / 2, y0 + height - 0.45, "\n".join(part.lines), ha="center",
                va="top", fontsize=6.5, linespacing=1.45)
        centres.append(x + width / 2)
        x += width + gap
    arrow = {"arrowstyle": "-|>", "mutation_scale": 10, "color": "0.3", "lw": 1.0}
    ax.add_patch(FancyArrowPatch((0.55, y0 + height / 2), (0.85, y0 + height / 2), **arrow))
    for left in centres[:-1]:
        start = left + width / 2 + 0.02
        ax.add_patch(FancyArrowPatch((start, y0 + height / 2), (start + gap - 0.04,
                                     y0 + height / 2), **arrow))
    # the recurrence: m_{t-1}, decayed by kappa_m, back into the MLP
    memory, integration = centres[2], centres[1]
    ax.add_patch(FancyArrowPatch((memory, y0 - 0.02), (integration, y0 - 0.02),
                                 connectionstyle="arc3,rad=-0.35", color=COMPONENT_COLORS["memory"],
                                 arrowstyle="-|>", mutation_scale=10, lw=1.2))
    ax.text((memory + integration) / 2, 0.12, r"$\kappa_m \odot m_{t-1}$ (next step)",
            ha="center", va="center", fontsize=7, color=COMPONENT_COLORS["memory"])
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=9)
    return fig
