"""Which input channel feeds which synapse of a Branch-ELM.

A Branch-ELM has ``d_tree`` branches of ``d_brch`` synapses each. The routing decides which of
the ``inputs`` channels each of the ``d_tree * d_brch`` synapse slots listens to:

* ``"none"`` (the vanilla ELM): synapse ``k`` is input ``k``; needs ``d_tree * d_brch == inputs``.
* ``"neuronio"``: the released code's routing for NeuronIO. Excitatory (first half) and
  inhibitory (second half) channels are interleaved, then each branch takes a window of
  ``d_brch`` consecutive interleaved channels, windows starting every ``ceil(inputs / d_tree)``.
  Windows overlap, so neighbouring channels (neighbouring places on the dendrite in NeuronIO's
  ordering) share branches; slots past the last channel are masked out.
* ``"random"``: every slot draws a channel uniformly, with replacement (the SHD Branch-ELM).
"""

from __future__ import annotations

import math

import numpy as np

ROUTINGS = ("none", "neuronio", "random")


def interleave_indices(n_input: int) -> np.ndarray:
    """Position ``i`` -> channel ``(i % 2) * n/2 + i // 2``: 0, n/2, 1, n/2 + 1, ..."""
    i = np.arange(n_input)
    return (i % 2) * (n_input // 2) + i // 2


def window_indices(n_input: int, d_tree: int, d_brch: int) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping windows: slot ``j`` of branch ``b`` takes position ``ceil(n/d_tree) b + j``.

    Returns the flattened positions (clamped to the last one) and the validity mask.
    """
    stride = math.ceil(n_input / d_tree)
    pos = (np.arange(d_tree)[:, None] * stride + np.arange(d_brch)[None, :]).ravel()
    valid = pos < n_input
    return np.minimum(pos, n_input - 1), valid


def make_routing(
    routing: str, n_input: int, d_tree: int, d_brch: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``(synapse_index (S,) int32, synapse_mask (S,) bool)`` for the chosen routing."""
    n_syn = d_tree * d_brch
    if routing == "none":
        return np.arange(n_syn, dtype=np.int32), np.ones(n_syn, dtype=bool)
    if routing == "neuronio":
        pos, valid = window_indices(n_input, d_tree, d_brch)
        return interleave_indices(n_input)[pos].astype(np.int32), valid
    if routing == "random":
        return rng.integers(0, n_input, size=n_syn).astype(np.int32), np.ones(n_syn, dtype=bool)
    raise ValueError(f"routing must be one of {ROUTINGS}, got {routing!r}")
