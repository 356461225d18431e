"""Construction of the ELM: config validation, initialisation, routing, shapes."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import elm
from elm.model import initial_tau_m, inverse_scaled_sigmoid, scaled_sigmoid
from elm.routing import interleave_indices, make_routing, window_indices


def small(**kw) -> elm.ELMConfig:
    return elm.ELMConfig(**{"num_input": 8, "num_output": 3, "d_m": 4, **kw})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"d_tree": 3, "d_brch": 2}, "d_tree \\* d_brch"),
        ({"tau_m_bounds": (100.0, 1.0)}, "reversed"),
        ({"tau_m_init": (1.0, 200.0), "tau_m_bounds": (0.0, 100.0)}, "outside tau_m_bounds"),
        ({"tau_m_init": (0.0, 10.0)}, "tau_m_init"),
        ({"routing": "neuronio"}, "needs the number of branches"),
        ({"routing": "neuronio", "d_tree": 2, "d_brch": 3}, "d_brch >= 4"),
        ({"routing": "neuronio", "num_input": 9, "d_tree": 3, "d_brch": 3}, "even"),
        ({"routing": "dendrite", "d_tree": 2}, "routing: must be one of"),
        ({"activation": "tanh"}, "activation"),
        ({"branch_activation": "sigmoid"}, "branch_activation: must be one of"),
        ({"branch_activation": None}, "branch_activation"),
        ({"readout": "m_next"}, "readout"),
        ({"update": "v3"}, "update"),
        ({"lambda_value": 0.0}, "lambda_value"),
        ({"d_m": 0}, "d_m"),
        ({"mlp_layers": -1}, "mlp_layers"),
    ],
)
def test_bad_config_raises_at_construction(changes, message):
    with pytest.raises(ValueError, match=message):
        small(**changes)


def test_tau_m_init_is_logspaced_and_recovered_through_the_bounds():
    cfg = small(d_m=5, tau_m_init=(1.0, 150.0))
    expected = np.logspace(math.log10(1 + 1e-6), math.log10(150 - 1e-6), 5)
    np.testing.assert_allclose(initial_tau_m(cfg), expected, rtol=1e-12)
    model = elm.ELM(cfg, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(model.tau_m), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(model.kappa_m), np.exp(-1.0 / expected), rtol=1e-5)
    lin = initial_tau_m(small(d_m=3, tau_m_init=(1.0, 3.0), tau_m_spacing="linear"))
    np.testing.assert_allclose(lin, [1 + 1e-6, 2.0, 3 - 1e-6])


def test_scaled_sigmoid_roundtrip_and_constant_tau():
    tau = np.array([2.0, 50.0, 499.0])
    proto = inverse_scaled_sigmoid(tau, 0.0, 500.0)
    np.testing.assert_allclose(np.asarray(scaled_sigmoid(jnp.asarray(proto), 0.0, 500.0)), tau,
                               rtol=1e-6)
    model = elm.ELM(small(tau_m_init=(25.0, 25.0)), rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(model.tau_m), 25.0, rtol=1e-6)


def test_initialisation_follows_table_s1():
    cfg = small(num_input=40, d_m=10)
    model = elm.ELM(cfg, rngs=nnx.Rngs(3))
    assert np.all(np.asarray(model.w_s) == 0.5)
    assert float(model.tau_s[...]) == 5.0
    for layer in [*model.mlp, model.w_y]:
        n_in = layer.kernel.shape[0]
        bound = 1 / math.sqrt(n_in)
        for arr in (np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])):
            assert np.abs(arr).max() <= bound
            assert np.abs(arr).max() > 0.5 * bound  # uniform over the whole interval
    sizes = [layer.kernel.shape for layer in model.mlp]
    assert sizes == [(40 + 10, 20), (20, 10)]


def test_seeded_initialisation_is_reproducible():
    cfg = small(routing="random", d_tree=2, d_brch=5)
    a, b = elm.ELM(cfg, rngs=nnx.Rngs(7)), elm.ELM(cfg, rngs=nnx.Rngs(7))
    c = elm.ELM(cfg, rngs=nnx.Rngs(8))
    other = elm.ELM(cfg.replace(routing_seed=1), rngs=nnx.Rngs(7))
    np.testing.assert_array_equal(np.asarray(a.synapse_index[...]),
                                  np.asarray(c.synapse_index[...]))  # routing: own seed
    assert not np.array_equal(np.asarray(a.synapse_index[...]),
                              np.asarray(other.synapse_index[...]))
    np.testing.assert_array_equal(np.asarray(a.mlp[0].kernel[...]),
                                  np.asarray(b.mlp[0].kernel[...]))
    assert not np.array_equal(np.asarray(a.mlp[0].kernel[...]), np.asarray(c.mlp[0].kernel[...]))


def test_neuronio_routing_by_hand():
    # 6 inputs: 3 excitatory (0..2), 3 inhibitory (3..5); interleaved order 0,3,1,4,2,5
    np.testing.assert_array_equal(interleave_indices(6), [0, 3, 1, 4, 2, 5])
    # 2 branches, stride ceil(6/2)=3, 4 slots: positions 0..3 and 3..6 (6 is padding)
    pos, valid = window_indices(6, 2, 4)
    np.testing.assert_array_equal(pos, [0, 1, 2, 3, 3, 4, 5, 5])
    np.testing.assert_array_equal(valid, [1, 1, 1, 1, 1, 1, 1, 0])
    index, mask = make_routing("neuronio", 6, 2, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(index, [0, 3, 1, 4, 4, 2, 5, 5])
    np.testing.assert_array_equal(mask, valid)


def test_neuronio_routing_matches_released_routing(pretrained_dir):
    with np.load(pretrained_dir / "neuronio_routing.npz") as ref:
        index, mask = make_routing("neuronio", 1278, 45, 100, np.random.default_rng(0))
        np.testing.assert_array_equal(index, ref["input_to_synapse_indices"])
        np.testing.assert_array_equal(mask, ref["valid_indices_mask"])
    assert mask.sum() == 4282


def test_forward_shapes_and_states():
    cfg = small(routing="random", d_tree=2, d_brch=6)
    model = elm.ELM(cfg, rngs=nnx.Rngs(0))
    x = jnp.ones((2, 7, 8))
    with jax.default_matmul_precision("highest"):  # fast vs per-step path, not TF32 noise
        y = model(x)
        y_ref, states = model(x, return_states=True)
    assert y.shape == (2, 7, 3)
    assert states.s.shape == (2, 7, 12)
    assert states.branch_input.shape == (2, 7, 2)
    assert states.m.shape == (2, 7, 4)
    np.testing.assert_allclose(np.asarray(y), np.asarray(y_ref), atol=1e-5)


def test_wrong_input_shape_is_a_clear_error():
    model = elm.ELM(small(), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\(batch, time, 8\)"):
        model(jnp.ones((2, 7, 9)))
    with pytest.raises(ValueError, match="batch, time"):
        model(jnp.ones((7, 8)))


def test_branch_elm_alias_requires_routing():
    with pytest.raises(ValueError, match="routing"):
        elm.BranchELM(small(), rngs=nnx.Rngs(0))
    model = elm.BranchELM(small(routing="random", d_tree=2, d_brch=3), rngs=nnx.Rngs(0))
    assert model.config.num_synapse == 6


def test_only_params_are_trained():
    model = elm.ELM(small(learn_w_s=False), rngs=nnx.Rngs(0))
    params = nnx.state(model, nnx.Param)
    names = {".".join(map(str, path)) for path, _ in nnx.to_flat_state(params)}
    assert not any("tau" in n or "synapse" in n or "proto_w_s" in n for n in names)
    assert jax.tree.leaves(nnx.state(model, elm.Buffer))  # fixed arrays are kept as buffers
