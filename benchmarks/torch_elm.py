"""The ELM as a textbook per-time-step PyTorch loop: the baseline of ``benchmarks/recurrence.py``.

This is how the authors' released code (and most re-implementations) run the neuron: eager
PyTorch, a Python ``for`` loop over time, every synapse explicit at every step. It exists only to
put a number on what the JAX fast path buys, so it follows equation (1) line by line and does
nothing clever. Its weights are copied from a JAX :class:`elm.ELM` so that both compute the same
function (checked by the benchmark before timing). Imported only when torch is installed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from flax import nnx
from torch import nn

import elm

#: The scaled tanh of LeCun et al. (1998), as in the released code and ``elm.recurrence``.
TANH_GAIN, TANH_SLOPE = 1.7159, 2.0 / 3.0


def _tensor(array) -> torch.Tensor:
    """A float32 torch copy of a JAX array (copied, so torch may train it in place)."""
    return torch.from_numpy(np.array(array, dtype=np.float32))


class TorchELM(nn.Module):
    """Per-step eager ELM (v1 update: per-synapse trace, ``m_t`` readout, fixed ``tau_m``).

    Only the variant the benchmark shapes use is implemented; :meth:`from_jax` refuses others
    rather than silently computing a different function.
    """

    def __init__(self, model: elm.ELM) -> None:
        super().__init__()
        c = model.config
        if c.update != "v1" or c.readout != "m_t" or c.learn_tau_m:
            raise ValueError("TorchELM implements update 'v1', readout 'm_t', fixed tau_m only")
        self.d_tree = c.branches
        self.activation = {"relu": torch.relu, "silu": nn.functional.silu}[c.activation]
        # trainable: w_s (through relu, as the released code), the MLP and the readout
        self.proto_w_s = nn.Parameter(_tensor(model.w_s), requires_grad=c.learn_w_s)
        self.mlp = nn.ModuleList(self._linear(layer) for layer in model.mlp)
        self.w_y = self._linear(model.w_y)
        # fixed: routing, decay factors and the memory gain
        self.register_buffer("synapse_index", torch.from_numpy(np.array(model.synapse_index[...],
                                                                        dtype=np.int64)))
        self.register_buffer("synapse_mask", _tensor(model.synapse_mask[...]))
        self.register_buffer("kappa_s", _tensor(model.kappa_s))
        self.register_buffer("kappa_m", _tensor(model.kappa_m))
        self.register_buffer("gain_m", _tensor(model.gain_m))

    @staticmethod
    def _linear(layer: nnx.Linear) -> nn.Linear:
        """An ``nn.Linear`` holding a flax layer's weights (torch stores the kernel transposed)."""
        kernel = layer.kernel[...]
        linear = nn.Linear(kernel.shape[0], kernel.shape[1])
        with torch.no_grad():
            linear.weight.copy_(_tensor(kernel).T)
            linear.bias.copy_(_tensor(layer.bias[...]))
        return linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(batch, time, num_output)`` for ``x`` ``(batch, time, num_input)``."""
        batch, seq_len, _ = x.shape
        w_s = torch.relu(self.proto_w_s)
        s = x.new_zeros(batch, self.synapse_index.shape[0])
        m = x.new_zeros(batch, self.kappa_m.shape[0])
        outputs = []
        for t in range(seq_len):
            x_syn = x[:, t].index_select(1, self.synapse_index) * self.synapse_mask
            s = self.kappa_s * s + w_s * x_syn
            branch_input = s.view(batch, self.d_tree, -1).sum(-1)
            h = torch.cat([branch_input, self.kappa_m * m], dim=-1)
            for layer in self.mlp[:-1]:
                h = self.activation(layer(h))
            delta_m = TANH_GAIN * torch.tanh(TANH_SLOPE * self.mlp[-1](h))
            m = self.kappa_m * m + self.gain_m * delta_m
            outputs.append(self.w_y(m))
        return torch.stack(outputs, dim=1)


def make_train_step(
    module: TorchELM, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], lr: float
) -> Callable[[torch.Tensor, torch.Tensor], float]:
    """One eager training step (forward, backward, Adam update), as a training loop runs it."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)

    def step(x: torch.Tensor, target: torch.Tensor) -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(module(x), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step
