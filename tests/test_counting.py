"""Parameter and FLOP counts against hand-computed values."""

from __future__ import annotations

import pytest
from flax import nnx

import elm


def test_count_params_by_hand():
    # vanilla ELM: 6 inputs -> 6 synapses (w_s learnable), d_m 2, hidden 4, 3 outputs
    model = elm.ELM(elm.ELMConfig(6, 3, d_m=2), rngs=nnx.Rngs(0))
    mlp = (6 + 2) * 4 + 4 + 4 * 2 + 2
    assert elm.count_params(model) == 6 + mlp + 2 * 3 + 3
    frozen = elm.ELM(elm.ELMConfig(6, 3, d_m=2, learn_w_s=False, learn_tau_m=True),
                     rngs=nnx.Rngs(0))
    assert elm.count_params(frozen) == mlp + 2 * 3 + 3 + 2  # + learnable tau_m, - w_s


def test_released_branch_elm_param_count_formula():
    cfg = elm.ELMConfig(1278, 2, d_m=20, routing="neuronio", d_tree=45, d_brch=100)
    model = elm.ELM(cfg, rngs=nnx.Rngs(0))
    assert elm.count_params(model) == 8002  # model_stats.json of num_memory_20
    abstract = nnx.eval_shape(lambda: elm.ELM(cfg, rngs=nnx.Rngs(0)))
    assert elm.count_params(abstract) == 8002
    assert elm.count_flops(abstract, 500) == elm.count_flops(model, 500)


def test_count_flops_by_hand():
    cfg = elm.ELMConfig(8, 3, d_m=2, routing="random", d_tree=2, d_brch=5)
    model = elm.ELM(cfg, rngs=nnx.Rngs(0))
    s, d_tree, d_m, hidden = 10, 2, 2, 4
    per_step = (
        s  # routing mask
        + 3 * s + (s - d_tree)  # trace and branch sums
        + d_m  # kappa_m * m
        + 2 * (d_tree + d_m) * hidden + hidden  # first layer + relu
        + 2 * hidden * d_m  # last layer
        + 3 * d_m + 3 * d_m  # scaled tanh, update
        + 2 * d_m * 3  # readout
    )
    assert elm.count_flops(model, 1) == per_step
    assert elm.count_flops(model, 500) == 500 * per_step
    with pytest.raises(ValueError, match="seq_len"):
        elm.count_flops(model, 0)
