"""The LSTM and Chrono-LSTM baselines (NeuronIO, SHD, LRA).

``LSTM``: a classic LSTM with one bias per gate (the count of Table S7: 77,672 parameters for
hidden size 15 with 1278 inputs and 2 outputs), read out linearly at every step. With
``chrono=(t_min, t_max)`` it is the Chrono-LSTM of Tallec & Ollivier (2018) used on LRA
(Table S3): forget-gate biases ``log(U(t_min, t_max - 1))`` and input-gate biases their negative,
so the cell starts with memory timescales spread over the given range.
With ``recurrent_dropout=p`` (SHD, App. B: 0.3) and a key at call time
(``model(x, dropout_key=key)``) the recurrent input ``h_{t-1}`` of the gates is multiplied by one
mask per sequence, the same at every step (variational dropout, Gal & Ghahramani 2016), kept
units scaled by ``1/(1-p)``; without a key (evaluation) nothing is dropped.

Like the ELM, the input's contribution to all four gates is linear, so it is computed for every
time step at once before the sequential loop.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

__all__ = ["LSTM"]

Array = jax.Array


def _uniform(bound: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class LSTM(nnx.Module):
    """LSTM ``(batch, time, num_input) -> (batch, time, num_output)``, gates ordered i, f, g, o.

    Weights are uniform in ``+-1/sqrt(hidden_size)`` (PyTorch's LSTM init).
    """

    def __init__(self, num_input: int, num_output: int, hidden_size: int, *,
                 chrono: tuple[float, float] | None = None, recurrent_dropout: float = 0.0,
                 rngs: nnx.Rngs | None = None, dtype=jnp.float32) -> None:
        if min(num_input, num_output, hidden_size) < 1:
            raise ValueError("LSTM sizes must be >= 1, got "
                             f"num_input={num_input}, num_output={num_output}, "
                             f"hidden_size={hidden_size}")
        if not 0.0 <= recurrent_dropout < 1.0:
            raise ValueError(f"recurrent_dropout must lie in [0, 1), got {recurrent_dropout}")
        self.recurrent_dropout = float(recurrent_dropout)
        if chrono is not None and not 1.0 <= chrono[0] < chrono[1] - 1.0:
            raise ValueError(f"chrono=(t_min, t_max) needs 1 <= t_min < t_max - 1, got {chrono}")
        rngs = rngs if rngs is not None else nnx.Rngs(0)
        self.hidden_size = hidden_size
        init = _uniform(1.0 / math.sqrt(hidden_size))
        self.w_x = nnx.Linear(num_input, 4 * hidden_size, kernel_init=init, bias_init=init,
                              param_dtype=dtype, rngs=rngs)
        self.w_h = nnx.Linear(hidden_size, 4 * hidden_size, use_bias=False, kernel_init=init,
                              param_dtype=dtype, rngs=rngs)
        self.readout = nnx.Linear(hidden_size, num_output, param_dtype=dtype, rngs=rngs)
        if chrono is not None:
            t_min, t_max = chrono
            b_f = jnp.log(jax.random.uniform(rngs.params(), (hidden_size,), dtype,
                                             t_min, t_max - 1.0))
            h = hidden_size
            bias = self.w_x.bias[...]
            self.w_x.bias[...] = bias.at[:h].set(-b_f).at[h:2 * h].set(b_f)

    def flops_per_step(self) -> int:
        """Input and recurrent projections ``2 (n_in + h) 4h``, gate biases ``4h``, activations
        ``5h`` (3 sigmoids, 2 tanh), cell and hidden update ``4h``, readout ``2 h n_out``."""
        n_in, four_h = self.w_x.kernel.shape
        h = four_h // 4
        n_out = self.readout.kernel.shape[1]
        return 2 * (n_in + h) * four_h + four_h + 5 * h + 4 * h + 2 * h * n_out

    def recurrent_mask(self, dropout_key: Array, batch_size: int, dtype=jnp.float32) -> Array:
        """The variational recurrent-dropout mask ``(batch, hidden)``: 0 or ``1/(1-p)``."""
        keep = 1.0 - self.recurrent_dropout
        kept = jax.random.bernoulli(dropout_key, keep, (batch_size, self.hidden_size))
        return kept.astype(dtype) / keep

    def __call__(self, x: Array, *, dropout_key: Array | None = None) -> Array:
        """Outputs ``(batch, time, num_output)``; ``dropout_key`` switches recurrent dropout on."""
        h_size = self.hidden_size
        gates_x = jnp.swapaxes(self.w_x(jnp.asarray(x)), 0, 1)  # (T, B, 4h), all steps at once
        w_h = self.w_h.kernel[...]
        if dropout_key is not None and self.recurrent_dropout > 0.0:
            # one mask per sequence on the recurrent path only (the readout sees h unmasked)
            mask = self.recurrent_mask(dropout_key, gates_x.shape[1], gates_x.dtype)
        else:
            mask = None

        def step(carry, g_x):
            h, c = carry
            h_rec = h if mask is None else h * mask
            i, f, g, o = jnp.split(g_x + h_rec @ w_h, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        zeros = jnp.zeros((gates_x.shape[1], h_size), gates_x.dtype)
        _, hs = lax.scan(step, (zeros, zeros), gates_x)
        return self.readout(jnp.swapaxes(hs, 0, 1))
