"""A causal temporal convolutional network (TCN) for NeuronIO, in the spirit of Beniaguev et al.

Beniaguev, Segev & London (2021) fit NeuronIO with stacked causal 1-D convolutions over the 1278
input channels; their L5PC-with-NMDA models needed millions of parameters ("around 10M" in the
ELM paper, Fig 2). Their training script (``fit_CNN.py`` in ``SelfishGene/neuron_as_deep_net``)
lists, for 7 layers, 128 channels with kernel 35 in every layer, each ``Conv1D`` (causal padding,
no dilation) followed by ReLU and batch normalisation, and three 1x1 heads: spike (sigmoid,
bias initialised at -2), soma voltage and ~20 PCA components of the dendritic voltages. That
setting is :data:`BENIAGUEV_TCN` here (9,167,234 parameters in our variant below).

Ours keeps the causal convolution stack and differs in:

* no batch normalisation (a stateless model that counts only trainable weights, like the ELM);
* one 1x1 head with 2 channels, spike logit and soma voltage (the layout of
  :func:`elm.experiments.tasks.neuronio.neuronio_loss`), and no dendritic-voltage targets;
* PyTorch's default init (uniform in ``+-1/sqrt(fan_in)``) instead of truncated normals;
* a size family (:data:`TCN_FAMILY`, ~10K to ~1M parameters) far below their best model, for
  the parameter-count axis of the NeuronIO figure.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

Array = jax.Array


class TCNSize(NamedTuple):
    """Width and depth of a :class:`TCN`; the receptive field is
    ``first_kernel + (depth - 1) (kernel - 1)`` steps."""

    channels: int
    depth: int
    first_kernel: int
    kernel: int


#: Beniaguev et al.'s 7-layer setting (128 channels, kernel 35 in every layer, 239 ms window).
BENIAGUEV_TCN = TCNSize(channels=128, depth=7, first_kernel=35, kernel=35)

#: Our size family for 1278 inputs and 2 outputs: wider, deeper and with a longer first kernel
#: as the budget grows. Counts (and receptive fields at 1 ms steps):
#: 10,364 (34 ms), 31,466 (51 ms), 106,394 (70 ms), 327,330 (90 ms), 1,080,098 (114 ms).
TCN_FAMILY: dict[str, TCNSize] = {
    "tcn-10k": TCNSize(channels=2, depth=3, first_kernel=4, kernel=16),
    "tcn-30k": TCNSize(channels=4, depth=4, first_kernel=6, kernel=16),
    "tcn-100k": TCNSize(channels=8, depth=5, first_kernel=10, kernel=16),
    "tcn-300k": TCNSize(channels=16, depth=6, first_kernel=15, kernel=16),
    "tcn-1m": TCNSize(channels=32, depth=7, first_kernel=24, kernel=16),
}


def _torch_init(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _causal_conv(n_in: int, n_out: int, kernel: int, rngs: nnx.Rngs, dtype) -> nnx.Conv:
    """A 1-D convolution padded only on the left, so step ``t`` sees inputs ``<= t`` only."""
    init = _torch_init(n_in * kernel)
    return nnx.Conv(n_in, n_out, kernel_size=(kernel,), padding="CAUSAL", kernel_init=init,
                    bias_init=init, param_dtype=dtype, dtype=dtype, rngs=rngs)


class TCN(nnx.Module):
    """Causal TCN ``(batch, time, num_input) -> (batch, time, num_output)``.

    ``depth`` causal convolutions with ``channels`` feature maps each (the first with kernel
    ``first_kernel`` over all inputs, the others with ``kernel``), each followed by ReLU, then a
    linear 1x1 readout. For NeuronIO, output channel 0 is the spike logit and channel 1 the
    soma voltage. Parameters: ``num_input first_kernel C + C + (depth - 1)(C^2 kernel + C)
    + C num_output + num_output``.
    """

    def __init__(self, num_input: int, num_output: int, channels: int, depth: int, *,
                 first_kernel: int = 35, kernel: int = 35, rngs: nnx.Rngs,
                 dtype=jnp.float32) -> None:
        sizes = dict(num_input=num_input, num_output=num_output, channels=channels, depth=depth,
                     first_kernel=first_kernel, kernel=kernel)
        bad = {k: v for k, v in sizes.items() if v < 1}
        if bad:
            raise ValueError(f"TCN sizes must be >= 1, got {bad}")
        self.num_input, self.num_output = num_input, num_output
        self.size = TCNSize(channels, depth, first_kernel, kernel)
        widths = [num_input] + [channels] * depth
        kernels = [first_kernel] + [kernel] * (depth - 1)
        self.convs = nnx.List([_causal_conv(a, b, k, rngs, dtype)
                               for a, b, k in zip(widths[:-1], widths[1:], kernels, strict=True)])
        self.readout = nnx.Linear(channels, num_output, kernel_init=_torch_init(channels),
                                  bias_init=_torch_init(channels), param_dtype=dtype,
                                  dtype=dtype, rngs=rngs)

    @property
    def receptive_field(self) -> int:
        """How many steps (the current one included) each output depends on."""
        s = self.size
        return s.first_kernel + (s.depth - 1) * (s.kernel - 1)

    def __call__(self, x: Array) -> Array:
        x = jnp.asarray(x)
        if x.ndim != 3 or x.shape[-1] != self.num_input:
            raise ValueError(f"TCN expects inputs of shape (batch, time, {self.num_input}), "
                             f"got {x.shape}")
        h = x.astype(self.readout.kernel[...].dtype)
        for conv in self.convs:
            h = jax.nn.relu(conv(h))
        return self.readout(h)

    def flops_per_step(self) -> int:
        """Forward FLOPs of one output step for one sample (a streaming evaluation).

        Each convolution ``in -> out`` with kernel ``k`` costs ``2 k in out`` (a dense layer over
        the ``k`` most recent steps, bias add replacing the first add, as :mod:`elm.counting`)
        plus ``out`` for its ReLU; the readout costs ``2 channels num_output``.
        """
        flops = 0
        for conv in self.convs:
            k, n_in, n_out = conv.kernel.shape
            flops += 2 * k * n_in * n_out + n_out
        return flops + 2 * self.size.channels * self.num_output


def tcn_from_family(name: str, *, num_input: int = 1278, num_output: int = 2, rngs: nnx.Rngs,
                    dtype=jnp.float32) -> TCN:
    """Build ``TCN_FAMILY[name]``, or :data:`BENIAGUEV_TCN` for ``name="beniaguev"``."""
    sizes = {**TCN_FAMILY, "beniaguev": BENIAGUEV_TCN}
    if name not in sizes:
        raise ValueError(f"unknown TCN size {name!r}; choose one of {sorted(sizes)}")
    return TCN(num_input, num_output, **sizes[name]._asdict(), rngs=rngs, dtype=dtype)
