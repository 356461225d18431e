"""Baselines: parameter counts of Table S7, the LSTM equations, chrono initialisation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import elm
from elm.baselines import LSTM


@pytest.mark.parametrize(("hidden", "count"), [(15, 77_672), (50, 265_902)])
def test_lstm_param_count_matches_table_s7(hidden, count):
    model = nnx.eval_shape(lambda: LSTM(1278, 2, hidden))
    assert elm.count_params(model) == count


def numpy_lstm(model: LSTM, x: np.ndarray, mask: np.ndarray | float = 1.0) -> np.ndarray:
    """The LSTM equations, one step at a time (gates i, f, g, o); ``mask`` multiplies the
    recurrent input h_{t-1} (one fixed mask: variational recurrent dropout)."""
    wx, bx = np.asarray(model.w_x.kernel[...]), np.asarray(model.w_x.bias[...])
    wh = np.asarray(model.w_h.kernel[...])
    wy, by = np.asarray(model.readout.kernel[...]), np.asarray(model.readout.bias[...])
    n = model.hidden_size
    h, c, ys = np.zeros((x.shape[0], n)), np.zeros((x.shape[0], n)), []
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in range(x.shape[1]):
        z = x[:, t] @ wx + bx + (h * mask) @ wh
        i, f, g, o = (z[:, k * n:(k + 1) * n] for k in range(4))
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        ys.append(h @ wy + by)
    return np.stack(ys, axis=1)


def test_lstm_follows_the_equations():
    with jax.enable_x64(True):
        model = LSTM(5, 3, 4, rngs=nnx.Rngs(1), dtype=jnp.float64)
        x = np.random.default_rng(0).normal(size=(2, 9, 5))
        np.testing.assert_allclose(np.asarray(model(jnp.asarray(x))), numpy_lstm(model, x),
                                   rtol=1e-10, atol=1e-12)


def test_chrono_initialisation():
    model = LSTM(3, 2, 200, chrono=(1.0, 2000.0), rngs=nnx.Rngs(0))
    bias = np.asarray(model.w_x.bias[...])
    b_i, b_f = bias[:200], bias[200:400]
    np.testing.assert_allclose(b_i, -b_f)
    timescales = np.exp(b_f)
    assert timescales.min() >= 1.0 and timescales.max() <= 1999.0
    assert np.median(timescales) > 500  # uniform over the range, not clustered at 1
    with pytest.raises(ValueError, match="chrono"):
        LSTM(3, 2, 4, chrono=(10.0, 5.0))
