"""A nonlinearity on each branch's output (``ELMConfig.branch_activation``, Fig S5).

The fast path cannot fold the branch sums into the first layer once a nonlinearity sits between
them; ``tests/test_recurrence.py`` checks fast = reference = equation (1) for such configurations
(its ``*_branch_*`` entries). Here: two steps written out by hand, what "none" leaves unchanged,
gradients, validation, counting and the configuration override.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import elm
from elm.experiments import configs

TINY = {"num_input": 4, "num_output": 2, "d_m": 2, "routing": "neuronio", "d_tree": 2,
        "d_brch": 3}
#: excitatory spikes +1 (first half), inhibitory -1 (second half), as NeuronIO's inputs
X_TWO_STEPS = np.array([[[1.0, 0.0, -1.0, -1.0], [0.0, 1.0, 0.0, -1.0]]])


def tiny(branch_activation: str, dtype=jnp.float64) -> elm.ELM:
    model = elm.ELM(elm.ELMConfig(**TINY, branch_activation=branch_activation),
                    rngs=nnx.Rngs(3), dtype=dtype)
    model.proto_w_s[...] = jnp.asarray(np.linspace(0.2, 1.2, model.config.num_synapse), dtype)
    return model


def by_hand(model: elm.ELM, x: np.ndarray) -> np.ndarray:
    """Two steps of equation (1) with the branch nonlinearity, every array spelled out."""
    c = model.config
    f = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh}[
        c.branch_activation]
    idx, mask = np.asarray(model.synapse_index[...]), np.asarray(model.synapse_mask[...])
    w_s = np.asarray(model.proto_w_s[...])  # all positive above, so relu(w_s) = w_s
    kappa_s = np.exp(-1.0 / c.tau_s)
    kappa_m, gain = np.asarray(model.kappa_m), np.asarray(model.gain_m)
    (w1, b1), (w2, b2) = [(np.asarray(ly.kernel[...]), np.asarray(ly.bias[...]))
                          for ly in model.mlp]
    w_y, b_y = np.asarray(model.w_y.kernel[...]), np.asarray(model.w_y.bias[...])
    s, m, ys = np.zeros(c.num_synapse), np.zeros(c.d_m), []
    for x_t in x[0]:
        s = kappa_s * s + w_s * x_t[idx] * mask
        branch = np.array([s[:3].sum(), s[3:].sum()])  # d_tree = 2 branches of d_brch = 3
        hidden = np.maximum(np.concatenate([f(branch), kappa_m * m]) @ w1 + b1, 0.0)
        m = kappa_m * m + gain * 1.7159 * np.tanh(2.0 / 3.0 * (hidden @ w2 + b2))
        ys.append(m @ w_y + b_y)
    return np.stack(ys)[None]


@pytest.mark.parametrize("branch_activation", ["none", "relu", "tanh"])
def test_two_steps_by_hand(branch_activation):
    with jax.enable_x64(True):
        model = tiny(branch_activation)
        expected = by_hand(model, X_TWO_STEPS)
        x = jnp.asarray(X_TWO_STEPS)
        y_ref, states = model(x, return_states=True)
        np.testing.assert_allclose(np.asarray(y_ref), expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-10, atol=1e-12)
        if branch_activation == "relu":  # the trajectory records what the MLP receives
            assert np.asarray(states.branch_input).min() == 0.0


def test_relu_acts_on_signed_branch_sums():
    """Inhibitory inputs make branch sums negative: relu changes the outputs, and on
    excitation only (non-negative sums, since w_s >= 0) it is the identity."""
    with jax.enable_x64(True):
        plain, rectified = tiny("none"), tiny("relu")
        nnx.update(rectified, nnx.state(plain))
        signed = jnp.asarray(X_TWO_STEPS)
        assert not np.allclose(np.asarray(plain(signed)), np.asarray(rectified(signed)))
        excitatory = jnp.abs(signed)
        np.testing.assert_array_equal(np.asarray(plain(excitatory)),
                                      np.asarray(rectified(excitatory)))


def test_none_is_the_default_and_changes_nothing():
    base = elm.ELMConfig(**TINY)
    assert base.branch_activation == "none"
    assert elm.ELMConfig(**TINY, branch_activation="none") == base
    counts = {a: elm.count_params(elm.ELM(base.replace(branch_activation=a), rngs=nnx.Rngs(0)))
              for a in ("none", "relu", "tanh")}
    assert len(set(counts.values())) == 1  # a nonlinearity has no parameters
    x = jnp.asarray(X_TWO_STEPS, jnp.float32)
    default = elm.ELM(base, rngs=nnx.Rngs(0))
    explicit = elm.ELM(base.replace(branch_activation="none"), rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.asarray(default(x)), np.asarray(explicit(x)))


@pytest.mark.parametrize("branch_activation", ["relu", "tanh"])
def test_gradients_are_finite_and_reach_the_synapses(branch_activation):
    cfg = elm.ELMConfig(num_input=12, num_output=2, d_m=3, routing="neuronio", d_tree=3,
                        d_brch=6, branch_activation=branch_activation)
    model = elm.ELM(cfg, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    x = (rng.random((2, 30, 12)) < 0.3).astype(np.float32)
    x[..., 6:] *= -1
    x = jnp.asarray(x)

    grads = nnx.grad(lambda m: jnp.mean(m(x) ** 2))(model)
    leaves = jax.tree.leaves(grads)
    assert leaves and all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert np.abs(np.asarray(grads.proto_w_s[...])).max() > 0


@pytest.mark.parametrize("bad", ["sigmoid", "ReLU", None])
def test_an_unknown_branch_activation_is_named(bad):
    with pytest.raises(ValueError, match=r"ELMConfig\.branch_activation"):
        elm.ELMConfig(**TINY, branch_activation=bad)


@pytest.mark.parametrize("update", ["v1", "v2"])
def test_flops_count_the_branch_nonlinearity_once_per_branch(update):
    cfg = elm.ELMConfig(**TINY, update=update)
    plain = nnx.eval_shape(lambda: elm.ELM(cfg, rngs=nnx.Rngs(0)))
    rectified = nnx.eval_shape(lambda: elm.ELM(cfg.replace(branch_activation="relu"),
                                               rngs=nnx.Rngs(0)))
    assert elm.count_flops(rectified, 10) - elm.count_flops(plain, 10) == 10 * cfg.d_tree


def test_a_sweep_override_sets_it():
    exp = configs.override(configs.get("neuronio/branch-elm/paper", "smoke"),
                           {"branch_activation": "relu"})
    assert exp.elm_config().branch_activation == "relu"
    with pytest.raises(ValueError, match="branch_activation"):
        configs.override(configs.get("neuronio/branch-elm/paper", "smoke"),
                         {"branch_activation": "softplus"})
