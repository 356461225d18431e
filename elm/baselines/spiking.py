"""Spiking baselines: the classic LIF neuron (NeuronIO, Table S4) and a LIF network (SHD, Fig 5).

Both emit hard spikes ``Theta(v - threshold)`` in the forward pass; a hard threshold has zero
derivative almost everywhere, so the backward pass replaces it by a smooth *surrogate*
derivative (Zenke & Ganguli 2018; Neftci, Mostafa & Zenke 2019; Zenke & Vogels 2021). The two
surrogates used here are written as ``jax.custom_jvp`` functions, so the forward values stay
exactly 0 or 1 (a NumPy loop of the same equations reproduces them) while the gradient is smooth.

* :class:`LIFNeuron`: one leaky integrate-and-fire neuron fit to NeuronIO, the "classic LIF" of
  App. C / Table S4 (1280 trainable parameters for 1278 inputs).
* :class:`SNN`: a recurrent layer of current-based LIF neurons with a leaky, non-spiking readout,
  the SHD / SHD-Adding spiking baseline of Fig 5, Fig S4 and Table S8 (~51K parameters). The
  authors' repository (``AaronSpieler/elmneuron``) contains no SNN code, so this follows the
  standard surrogate-gradient formulation of Cramer et al. (2020) and Zenke & Vogels (2021).
* :func:`snn_spike_l1`: the l1 spike penalty of App. B (weight 0.01).

Both models map ``(batch, time, num_input)`` to raw outputs ``(batch, time, num_output)`` like
the ELM; their input projections are computed for every time step at once (one matmul) and only
the membrane recursion runs inside ``jax.lax.scan``.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

Array = jax.Array


# --------------------------------------------------------------------------------------------
# surrogate spike functions


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def sigmoid_spike(u: Array, scale: float) -> Array:
    """Hard spike ``Theta(u)`` (1 where ``u > 0``) whose derivative is that of ``sigmoid(u/scale)``.

    The sigmoid is the escape-noise firing probability whose logit the :class:`LIFNeuron`
    outputs, so the surrogate is the derivative of the very probability the spike loss sees.
    """
    return (u > 0).astype(u.dtype)


@sigmoid_spike.defjvp
def _sigmoid_spike_jvp(scale: float, primals, tangents):
    (u,), (du,) = primals, tangents
    p = jax.nn.sigmoid(u / scale)
    return sigmoid_spike(u, scale), du * p * (1.0 - p) / scale


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def fast_sigmoid_spike(u: Array, slope: float) -> Array:
    """Hard spike ``Theta(u)`` with the fast-sigmoid surrogate ``1 / (slope |u| + 1)^2``.

    The SuperSpike surrogate (Zenke & Ganguli 2018) that Zenke & Vogels (2021) found robust;
    its heavy tails keep a gradient flowing even when a neuron is far from threshold.
    """
    return (u > 0).astype(u.dtype)


@fast_sigmoid_spike.defjvp
def _fast_sigmoid_spike_jvp(slope: float, primals, tangents):
    (u,), (du,) = primals, tangents
    return fast_sigmoid_spike(u, slope), du / (slope * jnp.abs(u) + 1.0) ** 2


# --------------------------------------------------------------------------------------------
# helpers


def _uniform(bound: float):
    """PyTorch's default ``nn.Linear`` init: uniform in ``+-1/sqrt(fan_in)``."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _check_input(x: Array, num_input: int, name: str) -> Array:
    x = jnp.asarray(x)
    if x.ndim != 3 or x.shape[-1] != num_input:
        raise ValueError(f"{name} expects inputs of shape (batch, time, {num_input}), "
                         f"got {x.shape}")
    return x


def _require_positive(name: str, **values: float) -> None:
    for field, value in values.items():
        if not value > 0:
            raise ValueError(f"{name}.{field} must be > 0, got {value}")


# --------------------------------------------------------------------------------------------
# the classic LIF neuron (NeuronIO)


class LIFNeuron(nnx.Module):
    """The classic leaky integrate-and-fire neuron fit to NeuronIO (App. C, Table S4).

    Equations, per time step ``t`` (``dt`` ms), for one neuron and inputs ``x_t``::

        I_t = w . x_t + b                                  (linear synaptic integration)
        v_t = kappa v~_{t-1} + (1 - kappa) I_t,  kappa = exp(-dt / tau_m)
        s_t = Theta(v_t - threshold)                        (hard spike, sigmoid surrogate)
        v~_t = v_t (1 - s_t) + v_reset s_t                  (reset after a spike)

    with ``v~_0 = v_reset``. ``tau_m dv/dt = -v + I`` integrated exactly for a current held over
    one bin, so ``b`` is the resting potential and ``w`` the steady-state voltage per unit input.

    Outputs ``(batch, time, 2)``, the layout of the NeuronIO loss
    (:func:`elm.experiments.tasks.neuronio.neuronio_loss`):

    * channel 0, the spike *logit* ``(v_t - threshold) / spike_scale``: the escape-noise firing
      probability ``sigmoid(logit)`` goes to the hard spike as ``spike_scale -> 0`` and is
      positive exactly when the neuron spikes (``logit > 0`` <=> ``s_t = 1``);
    * channel 1, the membrane voltage ``v_t`` before the reset, fit directly to the (scaled)
      soma voltage as in the paper. For NeuronIO, ``threshold`` is -55 mV in the target's units
      (:data:`elm.data.neuronio.NEURONIO_THRESHOLD`, 1.27), where NeuronIO clips the soma target,
      and ``v_reset = 0`` is its -67.7 mV rest.

    Trainable (``nnx.Param``): the ``num_input`` synaptic weights ``w``, the bias ``b`` and the
    membrane timescale ``tau_m`` (stored as ``log tau_m`` so it stays positive): ``1278 + 1 + 1 =
    1280`` for NeuronIO, the count of Table S4. ``threshold``, ``v_reset``, ``spike_scale`` and
    ``dt`` are fixed; a learnable threshold or scale would only trade off against ``w`` and ``b``.

    The surrogate gradient flows through the reset unless ``detach_reset=True``: the spike output
    is already smooth, so the reset is the only place where the spike's derivative enters.
    """

    num_output = 2

    def __init__(self, num_input: int = 1278, *, tau_m_init: float = 20.0,
                 threshold: float, v_reset: float = 0.0,
                 spike_scale: float = 0.1, dt: float = 1.0, detach_reset: bool = False,
                 rngs: nnx.Rngs, dtype=jnp.float32) -> None:
        if num_input < 1:
            raise ValueError(f"LIFNeuron.num_input must be >= 1, got {num_input}")
        _require_positive("LIFNeuron", tau_m_init=tau_m_init, spike_scale=spike_scale, dt=dt)
        if not v_reset < threshold:
            raise ValueError(f"LIFNeuron needs v_reset < threshold, got {v_reset} >= {threshold}")
        self.num_input = num_input
        self.threshold = float(threshold)
        self.v_reset = float(v_reset)
        self.spike_scale = float(spike_scale)
        self.dt = float(dt)
        self.detach_reset = detach_reset
        init = _uniform(1.0 / math.sqrt(num_input))
        self.w = nnx.Param(init(rngs.params(), (num_input,), dtype))
        self.b = nnx.Param(jnp.zeros((), dtype))  # starts at rest
        self.log_tau_m = nnx.Param(jnp.asarray(math.log(tau_m_init), dtype))

    @property
    def tau_m(self) -> Array:
        return jnp.exp(self.log_tau_m[...])

    @property
    def kappa(self) -> Array:
        return jnp.exp(-self.dt / self.tau_m)

    def __call__(self, x: Array) -> Array:
        """``(batch, time, 2)``: spike logit and membrane voltage for ``(batch, time, inputs)``."""
        x = _check_input(x, self.num_input, "LIFNeuron").astype(self.w[...].dtype)
        drive = (x @ self.w[...] + self.b[...]).T  # (T, B): every step at once
        kappa, theta, v_reset = self.kappa, self.threshold, self.v_reset

        def step(v_after_reset: Array, i_t: Array):
            v = kappa * v_after_reset + (1.0 - kappa) * i_t
            s = sigmoid_spike(v - theta, self.spike_scale)
            s = lax.stop_gradient(s) if self.detach_reset else s
            return v * (1.0 - s) + v_reset * s, v

        v0 = jnp.full(drive.shape[1:], v_reset, drive.dtype)
        _, v = lax.scan(step, v0, drive)
        v = v.T  # (B, T)
        return jnp.stack([(v - theta) / self.spike_scale, v], axis=-1)

    def flops_per_step(self) -> int:
        """Forward FLOPs of one step for one sample: ``2 num_input + 10``.

        ``w . x_t + b``: ``2 num_input`` (the bias add replaces the first add, as for every
        dense layer in :mod:`elm.counting`); leak and integration ``kappa v + (1 - kappa) I``: 3;
        threshold comparison: 1; reset ``v (1 - s) + v_reset s``: 4; logit
        ``(v - threshold) / spike_scale``: 2. ``kappa`` and ``1 - kappa`` are per sequence.
        """
        return 2 * self.num_input + 10


# --------------------------------------------------------------------------------------------
# the LIF spiking network (SHD)


class SNN(nnx.Module):
    """A recurrent LIF layer with a leaky non-spiking readout, the SHD baseline (Fig 5, Table S8).

    Current-based LIF neurons (Cramer et al. 2020; Zenke & Vogels 2021), per step of ``dt`` ms::

        I_t = alpha I_{t-1} + W_in x_t + V s_{t-1}          (synaptic current; V if recurrent)
        U_t = beta U_{t-1} (1 - s_{t-1}) + (1 - beta) I_t   (membrane, reset to 0 after a spike)
        s_t = Theta(U_t - threshold)                        (fast-sigmoid surrogate gradient)
        y_t = beta y_{t-1} + (1 - beta) W_out s_t           (leaky readout, raw class scores)

    with ``alpha = exp(-dt / tau_syn)``, ``beta = exp(-dt / tau_mem)`` (fixed) and all states
    zero at ``t = 0``. The reset is detached from the graph by default, as Zenke & Vogels (2021)
    recommend. App. B trains on the cross-entropy of the last output ``y_T`` plus
    ``snn_spike_l1(spikes)`` (weight 0.01, learning rate 2e-3, no dropout).

    Trainable: ``W_in`` (``num_input x hidden``), ``V`` (``hidden x hidden``, if ``recurrent``)
    and ``W_out`` (``hidden x num_output``), no biases (as Cramer et al. 2020), so the count is
    ``700 h + h^2 + 20 h``. The paper states only "51K params."; ``hidden_size=65`` gives
    ``45500 + 4225 + 1300 = 51,025`` for SHD (20 classes) and ``50,960`` for SHD-Adding
    (19 classes), both 51K; ``h = 64`` would give 50K. The time constants (20 ms membrane,
    10 ms synapse) are our choice of the order those references use.

    ``model(x)`` returns ``y`` ``(batch, time, num_output)``; ``model(x, return_spikes=True)``
    returns ``(y, spikes)`` with ``spikes`` ``(batch, time, hidden_size)`` for the l1 penalty.
    """

    def __init__(self, num_input: int = 700, num_output: int = 20, hidden_size: int = 65, *,
                 recurrent: bool = True, tau_mem: float = 20.0, tau_syn: float = 10.0,
                 dt: float = 10.0, threshold: float = 1.0, surrogate_slope: float = 10.0,
                 detach_reset: bool = True, rngs: nnx.Rngs, dtype=jnp.float32) -> None:
        if min(num_input, num_output, hidden_size) < 1:
            raise ValueError("SNN sizes must be >= 1, got "
                             f"num_input={num_input}, num_output={num_output}, "
                             f"hidden_size={hidden_size}")
        _require_positive("SNN", tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, threshold=threshold,
                          surrogate_slope=surrogate_slope)
        self.num_input, self.num_output, self.hidden_size = num_input, num_output, hidden_size
        self.recurrent = recurrent
        self.alpha = math.exp(-dt / tau_syn)
        self.beta = math.exp(-dt / tau_mem)
        self.threshold = float(threshold)
        self.surrogate_slope = float(surrogate_slope)
        self.detach_reset = detach_reset

        def dense(n_in: int, n_out: int) -> nnx.Linear:
            init = _uniform(1.0 / math.sqrt(n_in))
            return nnx.Linear(n_in, n_out, use_bias=False, kernel_init=init, param_dtype=dtype,
                              dtype=dtype, rngs=rngs)

        self.w_in = dense(num_input, hidden_size)
        self.w_rec = dense(hidden_size, hidden_size) if recurrent else None
        self.w_out = dense(hidden_size, num_output)

    def __call__(self, x: Array, *, return_spikes: bool = False):
        """Raw class scores ``(batch, time, num_output)`` (and the hidden spikes if asked)."""
        x = _check_input(x, self.num_input, "SNN").astype(self.w_in.kernel[...].dtype)
        drive = jnp.swapaxes(self.w_in(x), 0, 1)  # (T, B, h): every step at once
        w_rec = self.w_rec.kernel[...] if self.w_rec is not None else None
        w_out = self.w_out.kernel[...]
        alpha, beta = self.alpha, self.beta

        def step(carry, d_t):
            i, u, s_prev, y = carry
            i = alpha * i + d_t + (s_prev @ w_rec if w_rec is not None else 0.0)
            keep = 1.0 - (lax.stop_gradient(s_prev) if self.detach_reset else s_prev)
            u = beta * u * keep + (1.0 - beta) * i
            s = fast_sigmoid_spike(u - self.threshold, self.surrogate_slope)
            y = beta * y + (1.0 - beta) * (s @ w_out)
            return (i, u, s, y), (y, s)

        batch = drive.shape[1]
        zeros_h = jnp.zeros((batch, self.hidden_size), drive.dtype)
        carry = (zeros_h, zeros_h, zeros_h, jnp.zeros((batch, self.num_output), drive.dtype))
        _, (y, spikes) = lax.scan(step, carry, drive)
        y, spikes = jnp.swapaxes(y, 0, 1), jnp.swapaxes(spikes, 0, 1)
        return (y, spikes) if return_spikes else y

    def flops_per_step(self) -> int:
        """Forward FLOPs of one step for one sample.

        ``2 n h`` (input projection) ``+ 2 h^2 + h`` (recurrent projection and its add, only if
        ``recurrent``) ``+ 2 h`` (current: ``alpha I``, add drive) ``+ 5 h`` (membrane:
        ``1 - s``, ``beta U``, times keep, ``(1 - beta) I``, add) ``+ h`` (threshold)
        ``+ 2 h c + 3 c`` (readout projection, leaky readout), with ``n`` inputs, ``h`` hidden
        neurons and ``c`` outputs; dense layers cost ``2 in out`` as in :mod:`elm.counting`.
        """
        n, h, c = self.num_input, self.hidden_size, self.num_output
        flops = 2 * n * h + 2 * h + 5 * h + h + 2 * h * c + 3 * c
        if self.recurrent:
            flops += 2 * h * h + h
        return flops


def snn_spike_l1(spikes: Array, weight: float = 0.01) -> Array:
    """The l1 spike penalty of App. B: ``weight * mean |spikes|`` (a scalar to add to the loss).

    The mean runs over batch, time and neurons, i.e. the penalty is ``weight`` times the average
    firing probability per bin, so its size does not change with the sequence length (the bin
    size of Table S8) or the layer width. ``weight = 0.01`` is the paper's value.
    """
    return weight * jnp.mean(jnp.abs(spikes))
