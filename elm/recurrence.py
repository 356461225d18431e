"""The ELM time loop, twice: a per-step reference and a fast hoisted version.

Both functions take the same :class:`Dynamics` (arrays already derived from the model's
parameters) and the same static :class:`Structure`, so they can be compared value for value
and gradient for gradient (``tests/test_recurrence.py``, chapter 1).

Why a fast version exists: most of the ELM's work is linear in the input. The synaptic trace
``s_t = kappa_s s_{t-1} + w_s x_t`` is a linear filter, the branch sums are a linear map, and the
first MLP layer applies a linear map to them. With one synaptic time constant these commute, so
routing, ``w_s``, the branch sums and the MLP's input block fold into a single dense
``(inputs, d_mlp)`` matrix applied to every time step at once (one large matmul), and the trace
filter runs on the narrow ``d_mlp``-wide result. Only the part that depends on the memory
``m_{t-1}`` has to run step by step inside ``lax.scan``. A nonlinearity on the branch output
(``Structure.branch_activation``, Fig S5) sits between the branch sums and the first layer and
breaks that fold; the trace is then filtered in branch space, where the nonlinearity applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

Array = jax.Array

#: The scaled tanh of LeCun et al. (1998) that the authors' code applies to the MLP output.
TANH_GAIN, TANH_SLOPE = 1.7159, 2.0 / 3.0


def custom_tanh(x: Array) -> Array:
    """``1.7159 tanh(2x/3)``, as in the released code: LeCun's choice with ``f(+-1) = +-1``."""
    return TANH_GAIN * jnp.tanh(TANH_SLOPE * x)


class Dynamics(NamedTuple):
    """Every array the time loop reads, derived from the parameters once per call.

    Attributes are named after the paper's symbols. ``kappa_s`` is a scalar because the fast
    path needs one synaptic time constant (every configuration of the paper and code has one).
    """

    synapse_index: Array  # (S,) int: the input channel feeding each synapse
    synapse_mask: Array  # (S,): 1 for a real synapse, 0 for a padding slot
    w_s: Array  # (S,): synaptic weights, already relu-ed
    kappa_s: Array  # (): synaptic (v1) or branch (v2) trace decay exp(-dt / tau_s)
    kappa_m: Array  # (d_m,): memory decay exp(-dt / tau_m)
    gain_m: Array  # (d_m,): factor in front of delta_m (v1: lambda (1 - kappa_m))
    mlp: tuple[tuple[Array, Array], ...]  # ((W (in, out), b (out,)), ...), last layer -> d_m
    w_y: Array  # (d_m, n_out)
    b_y: Array  # (n_out,)


@dataclass(frozen=True)
class Structure:
    """The static (shape-defining) choices of the loop: hashable, so jit can specialise on it."""

    d_tree: int
    activation: str = "relu"  # "relu" | "silu"
    branch_activation: str = "none"  # "none" | "relu" | "tanh", on each branch sum (Fig S5)
    readout: str = "m_t"  # "m_t" (code, eq. 1) | "m_prev" (the prose of Section 2)
    trace: str = "synapse"  # "synapse" (v1: trace per synapse) | "branch" (v2: per branch)


class Trajectories(NamedTuple):
    """Internal states over time, for the dynamics figures (batch, time, ...)."""

    s: Array  # synaptic trace per synapse (v1) or per branch (v2)
    branch_input: Array  # (B, T, d_tree) what each branch hands to the MLP
    m: Array  # (B, T, d_m) memory after the update at t


_ACTIVATIONS = {"relu": jax.nn.relu, "silu": jax.nn.silu}
_BRANCH_ACTIVATIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh}
#: The choices of ``Structure.branch_activation``; "none": the paper's plain branch sum.
BRANCH_ACTIVATIONS = ("none", *_BRANCH_ACTIVATIONS)


def branch_output(s: Array, structure: Structure) -> Array:
    """What a branch hands to the MLP: its summed trace ``s``, through the branch nonlinearity."""
    if structure.branch_activation == "none":
        return s
    return _BRANCH_ACTIVATIONS[structure.branch_activation](s)


def _hidden(h: Array, structure: Structure, mlp: tuple[tuple[Array, Array], ...]) -> Array:
    """The MLP after its first affine map: activation, then the remaining layers."""
    act = _ACTIVATIONS[structure.activation]
    for w, b in mlp[1:]:
        h = act(h) @ w + b
    return h


def _readout(m_new: Array, m_prev: Array, dyn: Dynamics, structure: Structure) -> Array:
    m_read = m_new if structure.readout == "m_t" else m_prev
    return m_read @ dyn.w_y + dyn.b_y


# ---------------------------------------------------------------------------------------------
# Reference: equation (1) one time step at a time, every synapse explicit.
# ---------------------------------------------------------------------------------------------


def reference_step(
    dyn: Dynamics, structure: Structure, carry: tuple[Array, Array], x_t: Array
) -> tuple[tuple[Array, Array], tuple[Array, Array, Array, Array]]:
    """One step of equation (1), read line by line from the paper and the released code.

    ``carry = (s_{t-1}, m_{t-1})``; ``x_t`` is the raw input ``(B, inputs)``.
    """
    s_prev, m_prev = carry
    batch = x_t.shape[0]
    x_syn = x_t[:, dyn.synapse_index] * dyn.synapse_mask  # route inputs onto synapses
    if structure.trace == "synapse":  # v1: s_t = kappa_s s_{t-1} + w_s x_t, then branch sums
        s_t = dyn.kappa_s * s_prev + dyn.w_s * x_syn
        branch_sum = s_t.reshape(batch, structure.d_tree, -1).sum(-1)
    else:  # v2: sum the weighted input per branch, then one trace per branch
        s_t = dyn.kappa_s * s_prev + (dyn.w_s * x_syn).reshape(batch, structure.d_tree, -1).sum(-1)
        branch_sum = s_t
    branch_input = branch_output(branch_sum, structure)
    mlp_in = jnp.concatenate([branch_input, dyn.kappa_m * m_prev], axis=-1)
    w1, b1 = dyn.mlp[0]
    delta_m = custom_tanh(_hidden(mlp_in @ w1 + b1, structure, dyn.mlp))
    m_t = dyn.kappa_m * m_prev + dyn.gain_m * delta_m
    y_t = _readout(m_t, m_prev, dyn, structure)
    return (s_t, m_t), (y_t, s_t, branch_input, m_t)


@partial(jax.jit, static_argnums=1)
def reference_forward(
    dyn: Dynamics, structure: Structure, x: Array
) -> tuple[Array, Trajectories]:
    """Run :func:`reference_step` over ``x`` ``(B, T, inputs)`` from zero state.

    Returns the raw outputs ``(B, T, n_out)`` and every internal trajectory.
    """
    batch = x.shape[0]
    n_state = dyn.w_s.shape[0] if structure.trace == "synapse" else structure.d_tree
    carry = (
        jnp.zeros((batch, n_state), x.dtype),
        jnp.zeros((batch, dyn.kappa_m.shape[0]), x.dtype),
    )

    def step(c, x_t):
        return reference_step(dyn, structure, c, x_t)

    _, (y, s, branch_input, m) = lax.scan(step, carry, jnp.swapaxes(x, 0, 1))
    to_bt = lambda a: jnp.swapaxes(a, 0, 1)  # noqa: E731
    return to_bt(y), Trajectories(to_bt(s), to_bt(branch_input), to_bt(m))


# ---------------------------------------------------------------------------------------------
# Fast: hoist everything linear in the input out of the loop.
# ---------------------------------------------------------------------------------------------


def _synapse_weights(dyn: Dynamics, structure: Structure) -> tuple[Array, Array]:
    """Each synapse's effective weight ``mask_k w_s[k]`` and the branch it belongs to."""
    n_syn = dyn.w_s.shape[0]
    return dyn.w_s * dyn.synapse_mask, jnp.arange(n_syn) // (n_syn // structure.d_tree)


def branch_projection(dyn: Dynamics, structure: Structure, n_input: int) -> Array:
    """The dense ``(inputs, d_tree)`` map from inputs to weighted branch sums.

    Entry ``(n, b)`` adds up ``mask_k w_s[k]`` over the synapses ``k`` of branch ``b`` fed by
    input ``n``: routing, padding mask, synaptic weights and branch sums in one matrix.
    """
    weight, branch = _synapse_weights(dyn, structure)
    empty = jnp.zeros((n_input, structure.d_tree), weight.dtype)
    return empty.at[dyn.synapse_index, branch].add(weight)


def input_projection(dyn: Dynamics, structure: Structure, n_input: int) -> Array:
    """Routing, mask, ``w_s``, branch sums and the MLP input block as one ``(inputs, d_mlp)``.

    Equal to ``branch_projection(...) @ W1[:d_tree]``, but built row by row with a
    ``segment_sum`` in ``O(S d_mlp)``: for the vanilla ELM the routing matrix would be a dense
    ``inputs x inputs`` diagonal, and multiplying it out would cost more than the model.
    """
    weight, branch = _synapse_weights(dyn, structure)
    rows = weight[:, None] * dyn.mlp[0][0][branch]  # (S, d_mlp)
    return jax.ops.segment_sum(rows, dyn.synapse_index, num_segments=n_input)


def linear_filter(u: Array, kappa: Array) -> Array:
    """``z_t = kappa z_{t-1} + u_t`` along axis 0 from ``z_0 = 0``, as a parallel prefix scan.

    The trace is linear, so it needs no step-by-step loop: an associative scan over pairs
    ``(a, b)`` composing affine maps ``z -> a z + b`` computes it in ``log T`` sweeps.
    """
    a = jnp.broadcast_to(kappa, u.shape).astype(u.dtype)

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_l * a_r, a_r * b_l + b_r

    return lax.associative_scan(combine, (a, u), axis=0)[1]


@partial(jax.jit, static_argnums=1)
def fast_forward(dyn: Dynamics, structure: Structure, x: Array) -> Array:
    """Same outputs as :func:`reference_forward`, with only the memory update in the loop.

    Requires one synaptic time constant (``kappa_s`` scalar), which makes the trace commute
    with the branch sums and the MLP's input block. Two regimes:

    * inputs wider than the MLP (NeuronIO, SHD): everything up to the first layer's
      pre-activation is computed for all steps at once, in the narrow ``d_mlp`` space; with a
      branch nonlinearity the trace does not commute with the first layer any more, so it is
      filtered in branch space, passed through the nonlinearity, then projected (still for all
      steps at once);
    * inputs narrower than the MLP (ListOps: 25 tokens, ``d_mlp`` 300): projecting first would
      only inflate the arrays, so the trace is filtered in branch space and its small matmul
      joins the memory's inside the loop.
    """
    n_input = x.shape[-1]
    d_tree = structure.d_tree
    w1, b1 = dyn.mlp[0]
    rest = dyn.mlp[1:]
    if n_input > w1.shape[1]:
        if structure.branch_activation == "none":
            w_eff = input_projection(dyn, structure, n_input)  # (inputs, d_mlp)
            u = jnp.swapaxes(x @ w_eff, 0, 1)  # (T, B, d_mlp): matmul, then swap (faster on CPU)
            a = linear_filter(u, dyn.kappa_s) + b1  # the first layer's input-driven part, every t
        else:
            p = jnp.swapaxes(x @ branch_projection(dyn, structure, n_input), 0, 1)  # (T, B, d_tree)
            s = branch_output(linear_filter(p, dyn.kappa_s), structure)
            a = s @ w1[:d_tree] + b1
        m = memory_loop(structure.activation, a, w1[d_tree:], dyn.kappa_m, dyn.gain_m, rest)
    else:
        p = jnp.swapaxes(x @ branch_projection(dyn, structure, n_input), 0, 1)  # (T, B, d_tree)

        # recurrence-bound: the loop's own matmuls dominate, so the step carries the (narrow)
        # branch trace, keeps the reference's single first-layer matmul and autodiff's backward
        def step(carry: tuple[Array, Array], p_t: Array) -> tuple[tuple[Array, Array], Array]:
            s_prev, m_prev = carry
            s_t = dyn.kappa_s * s_prev + p_t
            branch_input = branch_output(s_t, structure)
            h = jnp.concatenate([branch_input, dyn.kappa_m * m_prev], axis=-1) @ w1 + b1
            m_t = dyn.kappa_m * m_prev + dyn.gain_m * custom_tanh(_hidden(h, structure, dyn.mlp))
            return (s_t, m_t), m_t

        zeros = jnp.zeros((x.shape[0], d_tree + dyn.kappa_m.shape[0]), x.dtype)
        m = lax.scan(step, (zeros[:, :d_tree], zeros[:, d_tree:]), p)[1]
    if structure.readout == "m_prev":
        m = jnp.concatenate([jnp.zeros_like(m[:1]), m[:-1]], axis=0)
    return jnp.swapaxes(m @ dyn.w_y + dyn.b_y, 0, 1)  # read out time-major; swap the small y


# ---------------------------------------------------------------------------------------------
# The memory loop with a hand-written backward pass.
#
# Autodiff of ``lax.scan`` accumulates every weight gradient inside the reverse loop, one small
# outer product per step. Here the forward loop keeps each step's pre-activations, the reverse
# loop carries only the memory gradient and emits the per-step error signals, and the weight
# gradients are then a few large matmuls over all steps.
# ``tests/test_recurrence.py`` checks this against autodiff of the reference loop in x64.
# ---------------------------------------------------------------------------------------------

Layers = tuple[tuple[Array, Array], ...]


def _act(name: str, h: Array) -> tuple[Array, Array]:
    """Activation value and derivative at ``h``."""
    if name == "relu":
        return jax.nn.relu(h), (h > 0).astype(h.dtype)
    sig = jax.nn.sigmoid(h)
    return h * sig, sig * (1 + h * (1 - sig))


def _memory_step(activation: str, w1_m: Array, kappa_m: Array, gain_m: Array, rest: Layers,
                 m_prev: Array, a_t: Array) -> tuple[Array, list[Array]]:
    """One step: the new memory and every layer's pre-activation (first to last)."""
    pre = [a_t + (kappa_m * m_prev) @ w1_m]
    for w, b in rest:
        pre.append(_act(activation, pre[-1])[0] @ w + b)
    return kappa_m * m_prev + gain_m * custom_tanh(pre[-1]), pre


def _scan_memory(activation, a, w1_m, kappa_m, gain_m, rest, keep_pre: bool):
    def step(m_prev, a_t):
        m_t, pre = _memory_step(activation, w1_m, kappa_m, gain_m, rest, m_prev, a_t)
        return m_t, (m_t, pre if keep_pre else None)

    m0 = jnp.zeros((a.shape[1], kappa_m.shape[0]), a.dtype)
    return lax.scan(step, m0, a)[1]


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def memory_loop(activation: str, a: Array, w1_m: Array, kappa_m: Array, gain_m: Array,
                rest: Layers) -> Array:
    """All memory states ``m_t`` ``(T, B, d_m)`` given the input-driven part ``a`` of layer 1.

    ``a`` is ``(T, B, d_mlp)``; ``w1_m`` the first layer's memory block; ``rest`` the layers
    after the first (empty for a single linear map).
    """
    return _scan_memory(activation, a, w1_m, kappa_m, gain_m, rest, keep_pre=False)[0]


def _memory_loop_fwd(activation, a, w1_m, kappa_m, gain_m, rest):
    m, pre = _scan_memory(activation, a, w1_m, kappa_m, gain_m, rest, keep_pre=True)
    return m, (w1_m, kappa_m, gain_m, rest, m, pre)


def _memory_loop_bwd(activation, residuals, dm):
    w1_m, kappa_m, gain_m, rest, m, pre = residuals
    m_prev = jnp.concatenate([jnp.zeros_like(m[:1]), m[:-1]], axis=0)

    def back(g_next, inputs):
        dm_t, pre_t = inputs
        g = dm_t + g_next  # total gradient reaching m_t
        th = jnp.tanh(TANH_SLOPE * pre_t[-1])
        d_pre = [g * gain_m * TANH_GAIN * TANH_SLOPE * (1 - th * th)]
        for i in range(len(rest) - 1, -1, -1):  # back through the layers after the first
            d_pre.insert(0, (d_pre[0] @ rest[i][0].T) * _act(activation, pre_t[i])[1])
        d_mk = d_pre[0] @ w1_m.T  # gradient reaching kappa_m * m_{t-1} through the MLP
        return kappa_m * (g + d_mk), (g, TANH_GAIN * th, d_mk, d_pre)

    _, (g, delta, d_mk, d_pre) = lax.scan(back, jnp.zeros_like(m[0]), (dm, pre), reverse=True)

    def flat(x):
        return x.reshape(-1, x.shape[-1])

    d_a = d_pre[0]
    d_w1_m = flat(kappa_m * m_prev).T @ flat(d_a)
    d_kappa = jnp.sum(m_prev * (d_mk + g), axis=(0, 1))
    d_gain = jnp.sum(g * delta, axis=(0, 1))
    d_rest = tuple(
        (flat(_act(activation, pre[i])[0]).T @ flat(d_pre[i + 1]), jnp.sum(d_pre[i + 1], (0, 1)))
        for i in range(len(rest))
    )
    return d_a, d_w1_m, d_kappa, d_gain, d_rest


memory_loop.defvjp(_memory_loop_fwd, _memory_loop_bwd)
