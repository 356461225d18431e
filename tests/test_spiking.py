"""Spiking baselines and the simplest ELM: Table S4 and Fig 5 counts, LIF equations, surrogates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import elm
from elm.baselines import (
    SNN,
    LIFNeuron,
    simplest_elm_config,
    snn_spike_l1,
)
from elm.baselines.spiking import fast_sigmoid_spike, sigmoid_spike
from elm.data.neuronio import NEURONIO_THRESHOLD
from elm.experiments.tasks.neuronio import neuronio_loss

TH = NEURONIO_THRESHOLD  # the LIF's threshold on NeuronIO


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _signed_spikes(rng: np.random.Generator, shape, rate: float = 0.2) -> np.ndarray:
    """Sparse inputs in {-1, 0, 1}, like NeuronIO after the inhibitory channels are negated."""
    return (rng.random(shape) < rate) * rng.choice([-1.0, 1.0], size=shape)


def _fit(model: nnx.Module, loss_fn, steps: int = 10, lr: float = 1e-2) -> tuple[float, float]:
    """A few Adam steps on one fixed batch; returns the loss before the first and after the last."""
    optimizer = nnx.Optimizer(model, optax.adam(lr), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(steps + 1)]
    return losses[0], losses[-1]


# --------------------------------------------------------------------------------------------
# surrogate spikes


def test_surrogate_spikes_are_hard_forward_and_smooth_backward():
    u = jnp.linspace(-1.0, 1.0, 11) + 0.05  # avoid u == 0 exactly
    np.testing.assert_array_equal(sigmoid_spike(u, 0.1), (u > 0).astype(u.dtype))
    np.testing.assert_array_equal(fast_sigmoid_spike(u, 10.0), (u > 0).astype(u.dtype))
    g_sig = jax.vmap(jax.grad(lambda v: sigmoid_spike(v, 0.1)))(u)
    p = _sigmoid(np.asarray(u) / 0.1)
    np.testing.assert_allclose(g_sig, p * (1 - p) / 0.1, rtol=1e-5)
    g_fast = jax.vmap(jax.grad(lambda v: fast_sigmoid_spike(v, 10.0)))(u)
    np.testing.assert_allclose(g_fast, 1.0 / (10.0 * np.abs(np.asarray(u)) + 1.0) ** 2, rtol=1e-5)


# --------------------------------------------------------------------------------------------
# classic LIF neuron (Table S4)


def test_lif_has_the_table_s4_count():
    lif = nnx.eval_shape(lambda: LIFNeuron(1278, threshold=TH, rngs=nnx.Rngs(0)))
    assert elm.count_params(lif) == 1280
    assert elm.count_params(LIFNeuron(10, threshold=TH, rngs=nnx.Rngs(0))) == 12
    assert NEURONIO_THRESHOLD == pytest.approx(1.27)


def numpy_lif(model: LIFNeuron, x: np.ndarray) -> np.ndarray:
    """The LIF equations of the docstring, one step at a time."""
    w, b = np.asarray(model.w[...]), float(model.b[...])
    kappa = np.exp(-model.dt / np.exp(float(model.log_tau_m[...])))
    theta, v_reset = model.threshold, model.v_reset
    v_state = np.full(x.shape[0], v_reset)
    out = np.zeros((*x.shape[:2], 2))
    for t in range(x.shape[1]):
        v = kappa * v_state + (1 - kappa) * (x[:, t] @ w + b)
        s = (v > theta).astype(float)
        v_state = v * (1 - s) + v_reset * s
        out[:, t] = np.stack([(v - theta) / model.spike_scale, v], axis=-1)
    return out


def test_lif_follows_the_equations():
    with jax.enable_x64(True):
        model = LIFNeuron(7, threshold=TH, tau_m_init=4.0, v_reset=-0.2, rngs=nnx.Rngs(1),
                          dtype=jnp.float64)
        model.b[...] = jnp.asarray(1.6)  # drive above threshold, so it fires and resets
        x = _signed_spikes(np.random.default_rng(0), (3, 60, 7), rate=0.5)
        y = np.asarray(model(jnp.asarray(x)))
        ref = numpy_lif(model, x)
        np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
        spiking = y[..., 0] > 0
        assert 0 < spiking.mean() < 1  # the reset branch was exercised
        np.testing.assert_array_equal(spiking, y[..., 1] > model.threshold)


def test_lif_gradients_flow_through_the_surrogate_reset():
    x = jnp.asarray(_signed_spikes(np.random.default_rng(1), (2, 80, 20), rate=0.3))

    def loss(model):
        y = model(x)
        return jnp.mean(y[..., 1] ** 2) + jnp.mean(y[..., 0])

    def grads(detach: bool):
        model = LIFNeuron(20, threshold=TH, tau_m_init=5.0, detach_reset=detach,
                          rngs=nnx.Rngs(2))
        model.b[...] = jnp.asarray(2.0)
        return nnx.jit(nnx.grad(loss))(model)

    g, g_detached = grads(False), grads(True)
    for leaf in jax.tree.leaves(g):
        assert np.all(np.isfinite(leaf)) and np.any(leaf != 0)
    # the reset is the only place where the spike's derivative enters: detaching changes it
    assert not np.allclose(g["w"][...], g_detached["w"][...])


def test_lif_rejects_bad_settings_and_inputs():
    with pytest.raises(ValueError, match="num_input"):
        LIFNeuron(0, threshold=TH, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="tau_m_init"):
        LIFNeuron(5, threshold=TH, tau_m_init=0.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="v_reset"):
        LIFNeuron(5, v_reset=2.0, threshold=1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\(batch, time, 5\)"):
        LIFNeuron(5, threshold=TH, rngs=nnx.Rngs(0))(jnp.zeros((2, 3, 4)))


def test_lif_flops_per_step():
    assert LIFNeuron(1278, threshold=TH, rngs=nnx.Rngs(0)).flops_per_step() == 2 * 1278 + 10


def test_lif_trains_on_the_neuronio_loss():
    rng = np.random.default_rng(3)
    x = jnp.asarray(_signed_spikes(rng, (4, 60, 30)))
    spikes = jnp.asarray(rng.random((4, 60)) < 0.05, jnp.float32)
    soma = jnp.asarray(rng.normal(0.5, 0.2, (4, 60)), jnp.float32)
    model = LIFNeuron(30, threshold=TH, rngs=nnx.Rngs(0))
    first, last = _fit(model, lambda m: neuronio_loss(m(x), spikes, soma, burn_in=10))
    assert np.isfinite(last) and last < first


# --------------------------------------------------------------------------------------------
# simplest ELM (Table S4)


def test_simplest_elm_has_the_table_s4_count():
    config = simplest_elm_config()
    model = elm.ELM(config, rngs=nnx.Rngs(0))
    assert elm.count_params(model) == 1286
    assert (config.d_m, config.mlp_layers, config.branches) == (1, 0, 1)
    assert config.learn_tau_m
    # one branch that holds every input exactly once: plain linear integration
    np.testing.assert_array_equal(np.sort(np.asarray(model.synapse_index[...])), np.arange(1278))
    assert np.all(np.asarray(model.synapse_mask[...]) == 1)
    np.testing.assert_allclose(model.tau_m, [20.0], rtol=1e-5)
    # the vanilla alternative with signed weights in the linear map is one short
    vanilla = config.replace(routing="none", d_tree=None, d_brch=1, learn_w_s=False)
    assert elm.count_params(elm.ELM(vanilla, rngs=nnx.Rngs(0))) == 1285


def test_simplest_elm_rejects_bad_sizes():
    with pytest.raises(ValueError, match="even num_input"):
        simplest_elm_config(7)
    with pytest.raises(ValueError, match="tau_m_init"):
        simplest_elm_config(tau_m_init=600.0)


def test_simplest_elm_trains():
    rng = np.random.default_rng(4)
    x = jnp.asarray(_signed_spikes(rng, (4, 40, 16)))
    spikes = jnp.asarray(rng.random((4, 40)) < 0.05, jnp.float32)
    soma = jnp.asarray(rng.normal(0.5, 0.2, (4, 40)), jnp.float32)
    model = elm.ELM(simplest_elm_config(16, 2), rngs=nnx.Rngs(0))
    assert model(x).shape == (4, 40, 2)
    first, last = _fit(model, lambda m: neuronio_loss(m(x), spikes, soma, burn_in=5))
    assert np.isfinite(last) and last < first


# --------------------------------------------------------------------------------------------
# SNN (SHD, Fig 5)


@pytest.mark.parametrize(("classes", "count"), [(20, 51_025), (19, 50_960)])
def test_snn_count_is_51k(classes, count):
    model = nnx.eval_shape(lambda: SNN(700, classes, 65, rngs=nnx.Rngs(0)))
    assert elm.count_params(model) == count == 700 * 65 + 65 * 65 + 65 * classes
    feed_forward = nnx.eval_shape(lambda: SNN(700, 20, 71, recurrent=False, rngs=nnx.Rngs(0)))
    assert elm.count_params(feed_forward) == 700 * 71 + 71 * 20


def numpy_snn(model: SNN, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SNN equations of the docstring, one step at a time."""
    w_in, w_out = np.asarray(model.w_in.kernel[...]), np.asarray(model.w_out.kernel[...])
    w_rec = np.asarray(model.w_rec.kernel[...])
    a, b = model.alpha, model.beta
    n_b, h = x.shape[0], model.hidden_size
    i, u, s, y = np.zeros((n_b, h)), np.zeros((n_b, h)), np.zeros((n_b, h)), 0.0
    ys, ss = [], []
    for t in range(x.shape[1]):
        i = a * i + x[:, t] @ w_in + s @ w_rec
        u = b * u * (1 - s) + (1 - b) * i
        s = (u > model.threshold).astype(float)
        y = b * y + (1 - b) * (s @ w_out)
        ys.append(y)
        ss.append(s)
    return np.stack(ys, axis=1), np.stack(ss, axis=1)


def test_snn_follows_the_equations():
    with jax.enable_x64(True):
        model = SNN(12, 3, 9, dt=2.0, threshold=0.3, rngs=nnx.Rngs(5), dtype=jnp.float64)
        x = np.random.default_rng(6).poisson(1.0, (2, 50, 12)).astype(float)
        y, spikes = model(jnp.asarray(x), return_spikes=True)
        y_ref, s_ref = numpy_snn(model, x)
        np.testing.assert_array_equal(np.asarray(spikes), s_ref)
        np.testing.assert_allclose(np.asarray(y), y_ref, rtol=1e-10, atol=1e-12)
        assert 0 < s_ref.mean() < 1
        np.testing.assert_allclose(model(jnp.asarray(x)), y)


def test_snn_shapes_penalty_and_surrogate_gradients():
    x = jnp.asarray(np.random.default_rng(7).poisson(0.3, (3, 25, 40)), jnp.float32)
    model = SNN(40, 5, 16, threshold=0.1, rngs=nnx.Rngs(0))
    y, spikes = model(x, return_spikes=True)
    assert y.shape == (3, 25, 5) and spikes.shape == (3, 25, 16)
    assert set(np.unique(np.asarray(spikes))) == {0.0, 1.0}
    np.testing.assert_allclose(snn_spike_l1(spikes), 0.01 * np.asarray(spikes).mean(), rtol=1e-6)

    def loss(model):
        y, spikes = model(x, return_spikes=True)
        ce = optax.softmax_cross_entropy_with_integer_labels(y[:, -1], jnp.arange(3)).mean()
        return ce + snn_spike_l1(spikes)

    grads = nnx.jit(nnx.grad(loss))(model)
    for leaf in jax.tree.leaves(grads):  # w_in and w_rec get gradient only via the surrogate
        assert np.all(np.isfinite(leaf)) and np.any(leaf != 0)


def test_snn_rejects_bad_sizes_and_inputs():
    with pytest.raises(ValueError, match="hidden_size=0"):
        SNN(700, 20, 0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="tau_mem"):
        SNN(700, 20, 8, tau_mem=-1.0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"\(batch, time, 10\)"):
        SNN(10, 2, 4, rngs=nnx.Rngs(0))(jnp.zeros((5, 10)))


def test_snn_flops_per_step():
    n, h, c = 700, 65, 20
    per_step = 2 * n * h + 2 * h * h + h + 2 * h + 5 * h + h + 2 * h * c + 3 * c
    assert SNN(n, c, h, rngs=nnx.Rngs(0)).flops_per_step() == per_step
    assert SNN(n, c, h, recurrent=False, rngs=nnx.Rngs(0)).flops_per_step() == (
        per_step - 2 * h * h - h)


def test_snn_trains_with_the_spike_penalty():
    rng = np.random.default_rng(8)
    x = jnp.asarray(rng.poisson(0.5, (6, 20, 30)), jnp.float32)
    labels = jnp.asarray(rng.integers(0, 4, 6))
    model = SNN(30, 4, 24, rngs=nnx.Rngs(0))

    def loss(model):
        y, spikes = model(x, return_spikes=True)
        ce = optax.softmax_cross_entropy_with_integer_labels(y[:, -1], labels).mean()
        return ce + snn_spike_l1(spikes)

    first, last = _fit(model, loss, lr=2e-2)
    assert np.isfinite(last) and last < first
