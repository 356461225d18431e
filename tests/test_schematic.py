"""The Fig 1b counterpart is drawn from the config: its boxes state that model's sizes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors
from matplotlib.patches import FancyBboxPatch

import elm
from elm.experiments import configs
from elmbook import schematic


def _text(fig) -> str:
    return "\n".join(t.get_text() for ax in fig.axes for t in ax.texts) + fig._suptitle.get_text()


def test_the_boxes_state_the_configs_sizes_in_the_papers_colours():
    config = configs.get("neuronio/branch-elm/released").elm_config()
    parts = schematic.components(config)
    assert [p.kind for p in parts] == ["synapse", "integration", "memory", "output"]
    synapse, integration, memory, output = ("\n".join(p.lines) for p in parts)
    where = f"on {config.d_tree} branches × {config.d_brch}"
    assert f"{config.num_synapse} synapses\n{where}" in synapse
    assert f"{config.tau_s:g} ms" in synapse
    assert f"{config.d_tree + config.d_m} → {config.hidden} → {config.d_m}" in integration
    assert f"= {config.lambda_value:g}" in integration
    assert memory.startswith(f"{config.d_m} units\n")
    assert f"{config.tau_m_init[0]:g}–{config.tau_m_init[1]:g} ms" in memory
    assert f"{config.d_m} → {config.num_output}" in output

    fig = schematic.plot_elm_schematic(config, title="Fig 1b")
    boxes = [p for ax in fig.axes for p in ax.patches if isinstance(p, FancyBboxPatch)]
    edges = {mcolors.to_hex(b.get_edgecolor()) for b in boxes}
    assert edges == set(schematic.COMPONENT_COLORS.values())
    text = _text(fig)
    assert f"{config.num_input}\ninputs" in text and "Fig 1b" in text


def test_a_vanilla_elm_has_one_synapse_per_input_and_two_hidden_layers_show():
    config = elm.ELMConfig(num_input=700, num_output=20, d_m=100, mlp_layers=2, d_mlp=64)
    synapse, integration = ("\n".join(p.lines) for p in schematic.components(config)[:2])
    assert "700 synapses\none per input" in synapse
    assert "800 → 64 → 64 → 100" in integration
