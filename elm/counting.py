"""Parameter and FLOP counts, the x-axes of Fig 2 and Fig S1.

FLOP rule (analytic, forward pass, one sample, ``seq_len`` steps of equation (1) as written,
i.e. the per-step formulation, not our hoisted one):

* a dense layer ``in -> out`` costs ``2 in out`` (one multiply and one add per weight; the bias
  add replaces the first add), each activation 1 per element;
* routing mask ``S`` (only with routing), synaptic trace ``3 S`` (decay, weight, add), branch sums
  ``S - d_tree``; v2 instead: weighting ``S``, sums ``S - d_tree``, branch trace ``2 d_tree``;
  a branch nonlinearity (``branch_activation`` other than "none") ``d_tree``, as any activation;
* memory: ``kappa_m m_{t-1}`` ``d_m``; scaled tanh ``3 d_m``; update ``3 d_m``;
  readout ``2 d_m n_out``.

Decay factors and ``relu(w_s)`` are computed once per sequence and not counted.
"""

from __future__ import annotations

import jax
from flax import nnx

from elm.model import ELM


def count_params(model: nnx.Module) -> int:
    """Number of trainable scalars (``nnx.Param`` leaves only; buffers are fixed).

    Equals ``model_param_count`` of the released models (e.g. 8002 for ``num_memory_20``).
    Works on an abstract model too (``nnx.eval_shape(lambda: ELM(...))``), which allocates
    nothing: counting a grid of configurations costs no initialisation.
    """
    state = nnx.state(model, nnx.Param)
    return int(sum(leaf.size for leaf in jax.tree.leaves(state)))


def flops_per_step(model: ELM) -> int:
    """Forward FLOPs of one time step for one sample (rule in the module docstring)."""
    c = model.config
    n_syn, d_tree, d_m = c.num_synapse, c.branches, c.d_m
    flops = n_syn if c.routing != "none" else 0
    if c.update == "v1":
        flops += 3 * n_syn + (n_syn - d_tree)
    else:
        flops += n_syn + (n_syn - d_tree) + 2 * d_tree
    if c.branch_activation != "none":
        flops += d_tree
    flops += d_m  # kappa_m * m_{t-1}
    for i, layer in enumerate(model.mlp):
        n_in, n_out = layer.kernel.shape
        flops += 2 * n_in * n_out + (n_out if i < len(model.mlp) - 1 else 0)
    flops += 3 * d_m + 3 * d_m + 2 * d_m * c.num_output
    return flops


def count_flops(model: nnx.Module, seq_len: int) -> int:
    """Analytic forward FLOPs of ``model`` on one sequence of ``seq_len`` steps.

    The ELM's rule is above; every baseline states its own rule in its ``flops_per_step``
    method, with the same conventions, so Fig S1 compares like with like.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    per_step = model.flops_per_step() if hasattr(model, "flops_per_step") else None
    if per_step is None:
        if not isinstance(model, ELM):
            raise TypeError(f"no FLOP rule for {type(model).__name__}")
        per_step = flops_per_step(model)
    return per_step * seq_len
