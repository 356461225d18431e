"""The causal TCN baseline: counts of the size family, causality, a NumPy convolution reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import elm
from elm.baselines import BENIAGUEV_TCN, TCN, TCN_FAMILY, tcn_from_family
from elm.experiments.tasks.neuronio import neuronio_loss


def formula(n_in: int, n_out: int, c: int, depth: int, k1: int, k: int) -> int:
    return n_in * k1 * c + c + (depth - 1) * (c * c * k + c) + c * n_out + n_out


@pytest.mark.parametrize(("name", "count"), [
    ("tcn-10k", 10_364), ("tcn-30k", 31_466), ("tcn-100k", 106_394), ("tcn-300k", 327_330),
    ("tcn-1m", 1_080_098), ("beniaguev", 9_167_234),
])
def test_family_counts(name, count):
    model = nnx.eval_shape(lambda: tcn_from_family(name, rngs=nnx.Rngs(0)))
    assert elm.count_params(model) == count
    size = BENIAGUEV_TCN if name == "beniaguev" else TCN_FAMILY[name]
    assert count == formula(1278, 2, *size)


def test_family_spans_10k_to_1m():
    counts = [elm.count_params(nnx.eval_shape(lambda n=n: tcn_from_family(n, rngs=nnx.Rngs(0))))
              for n in TCN_FAMILY]
    assert counts == sorted(counts) and 1e4 <= counts[0] and 1e6 <= counts[-1] < 1.2e6


def numpy_tcn(model: TCN, x: np.ndarray) -> np.ndarray:
    """Causal convolutions by hand: ``h[t] = b + sum_j x[t - j] W[K - 1 - j]``, zeros before 0."""
    h = x
    for conv in model.convs:
        w, b = np.asarray(conv.kernel[...]), np.asarray(conv.bias[...])
        k = w.shape[0]
        padded = np.concatenate([np.zeros((h.shape[0], k - 1, h.shape[2])), h], axis=1)
        out = np.stack([np.einsum("bki,kio->bo", padded[:, t:t + k], w) + b
                        for t in range(h.shape[1])], axis=1)
        h = np.maximum(out, 0.0)
    return h @ np.asarray(model.readout.kernel[...]) + np.asarray(model.readout.bias[...])


def test_tcn_matches_a_numpy_causal_convolution():
    with jax.enable_x64(True):
        model = TCN(6, 2, 5, 3, first_kernel=4, kernel=3, rngs=nnx.Rngs(1), dtype=jnp.float64)
        x = np.random.default_rng(0).normal(size=(2, 15, 6))
        np.testing.assert_allclose(np.asarray(model(jnp.asarray(x))), numpy_tcn(model, x),
                                   rtol=1e-10, atol=1e-12)


def test_tcn_is_causal_with_the_stated_receptive_field():
    model = TCN(8, 2, 6, 3, first_kernel=5, kernel=4, rngs=nnx.Rngs(2))
    assert model.receptive_field == 5 + 2 * 3
    forward = nnx.jit(lambda m, x: m(x))
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 40, 8)).astype(np.float32)
    y = np.asarray(forward(model, jnp.asarray(x)))
    t = 25
    future = x.copy()
    future[:, t + 1:] = rng.normal(size=future[:, t + 1:].shape)
    y_future = np.asarray(forward(model, jnp.asarray(future)))
    np.testing.assert_array_equal(y_future[:, :t + 1], y[:, :t + 1])  # the past is untouched
    assert not np.allclose(y_future[:, t + 1:], y[:, t + 1:])  # the change did reach the model
    # y[t] depends on x[t - rf + 1 .. t] and nothing earlier
    rf = model.receptive_field
    for lag, should_change in ((rf - 1, True), (rf, False)):
        shifted = x.copy()
        shifted[:, t - lag] += 10.0
        changed = not np.allclose(np.asarray(forward(model, jnp.asarray(shifted)))[:, t], y[:, t])
        assert changed == should_change, lag


def test_tcn_shapes_and_errors():
    model = tcn_from_family("tcn-10k", rngs=nnx.Rngs(0))
    assert model(jnp.zeros((2, 50, 1278))).shape == (2, 50, 2)
    with pytest.raises(ValueError, match=r"\(batch, time, 1278\)"):
        model(jnp.zeros((2, 50, 100)))
    with pytest.raises(ValueError, match="channels"):
        TCN(10, 2, 0, 3, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="first_kernel"):
        TCN(10, 2, 4, 3, first_kernel=0, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="unknown TCN size"):
        tcn_from_family("tcn-5", rngs=nnx.Rngs(0))


def test_tcn_flops_per_step():
    model = TCN(10, 2, 4, 3, first_kernel=5, kernel=3, rngs=nnx.Rngs(0))
    per_step = (2 * 5 * 10 * 4 + 4) + 2 * (2 * 3 * 4 * 4 + 4) + 2 * 4 * 2
    assert model.flops_per_step() == per_step
    abstract = nnx.eval_shape(lambda: TCN(10, 2, 4, 3, first_kernel=5, kernel=3,
                                          rngs=nnx.Rngs(0)))
    assert abstract.flops_per_step() == per_step


def test_tcn_trains_on_the_neuronio_loss():
    rng = np.random.default_rng(3)
    x = jnp.asarray((rng.random((4, 60, 30)) < 0.2) * rng.choice([-1.0, 1.0], (4, 60, 30)),
                    jnp.float32)
    spikes = jnp.asarray(rng.random((4, 60)) < 0.05, jnp.float32)
    soma = jnp.asarray(rng.normal(0.5, 0.2, (4, 60)), jnp.float32)
    model = TCN(30, 2, 8, 3, first_kernel=8, kernel=4, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        loss, grads = nnx.value_and_grad(
            lambda m: neuronio_loss(m(x), spikes, soma, burn_in=10))(model)
        optimizer.update(model, grads)
        return loss

    losses = [float(step(model, optimizer)) for _ in range(11)]
    assert np.isfinite(losses[-1]) and losses[-1] < losses[0]
