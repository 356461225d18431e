"""The ELM time loop, twice: a per-step reference and a fast hoisted version.

Both functions take the same :class:`Dynamics` (arrays already derived from the model's
parameters) and the same static :class:`Structure`, so they can be compared value for value
and gradient for gradient (``tests/test_recurrence.py``, chapter 1).

Why a fast version exists: most of the ELM's work is linear in the input. The synaptic trace
``s_t = kappa_s s_{t-1} + w_s x_t`` is a linear filter, the branch sums are a linear map, and the
first MLP layer applies a linear map to them. With one synaptic time constant these commute, so
routing, ``w_s``, the branch sums and the MLP's input block fold into a single dense
``(inputs, d_mlp)`` matrix applied to every time step at once (one large matmul), and the trace
filter (:func:`linear_filter`) runs on the narrow ``d_mlp``-wide result. Only the part that
depends on the memory ``m_{t-1}`` has to run step by step inside ``lax.scan``. A nonlinearity
on the branch output (``Structure.branch_activation``, Fig S5) sits between the branch sums and
the first layer and breaks that fold; the trace is then filtered in branch space, where the
nonlinearity applies.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
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
# Sparse inputs: a batch given by its non-zero entries.
# ---------------------------------------------------------------------------------------------

#: The smallest capacity :func:`sparse_capacity` hands out.
MIN_SPARSE_CAPACITY = 1024


@partial(jax.tree_util.register_dataclass, data_fields=("row", "channel", "value"),
         meta_fields=("shape",))
@dataclass(frozen=True)
class SparseInput:
    """A batch ``x`` of shape ``(B, T, inputs)`` held as the list of its non-zero entries.

    Entry ``k`` stands for ``x[b, t, channel[k]] = value[k]`` with ``row[k] = t * B + b``:
    time-major, the order in which the loop consumes the steps. Rows ascend. The arrays have a
    fixed length, the capacity (:func:`sparse_capacity`), and the slots past the real entries hold
    ``value = 0`` on the last row, so batches with slightly different spike counts share one
    compiled program. ``shape`` is static (part of the pytree structure).

    Build one on the host, outside any jitted function, with :func:`sparse_input` (from a dense
    array) or :meth:`from_coordinates` (from spike positions): finding the non-zeros is cheap in
    NumPy and slow inside XLA. ``model(SparseInput)`` then projects only the active channels.
    """

    row: Array  # (capacity,) int32, t * B + b, ascending
    channel: Array  # (capacity,) int32 input channel
    value: Array  # (capacity,) float, 0 in the padding slots
    shape: tuple[int, int, int]  # (B, T, inputs) of the dense batch

    @property
    def ndim(self) -> int:
        return 3

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def capacity(self) -> int:
        return int(self.value.shape[0])

    def astype(self, dtype) -> SparseInput:
        return dataclasses.replace(self, value=jnp.asarray(self.value).astype(dtype))

    def to_dense(self) -> Array:
        """The dense ``(B, T, inputs)`` batch (a scatter; for checks and the reference)."""
        batch, steps, n_input = self.shape
        value = jnp.asarray(self.value)
        flat = jnp.zeros((steps * batch, n_input), value.dtype)
        flat = flat.at[self.row, self.channel].add(value)
        return jnp.swapaxes(flat.reshape(steps, batch, n_input), 0, 1)

    @classmethod
    def from_coordinates(cls, batch_index, time_index, channel, value, shape: tuple[int, int, int],
                         capacity: int | None = None) -> SparseInput:
        """From the positions ``(b, t, channel)`` and values of the non-zero entries (host, NumPy).

        Entries may come in any order; they are sorted time-major. A repeated position adds up.
        ``capacity`` defaults to :func:`sparse_capacity` of the entry count.
        """
        batch, steps, n_input = (int(v) for v in shape)
        b = np.asarray(batch_index, np.int64).ravel()
        t = np.asarray(time_index, np.int64).ravel()
        c = np.asarray(channel, np.int64).ravel()
        v = np.asarray(value).ravel()
        if not b.size == t.size == c.size == v.size:
            raise ValueError("SparseInput.from_coordinates: index and value arrays differ in size "
                             f"({b.size}, {t.size}, {c.size}, {v.size})")
        for name, idx, bound in (("batch", b, batch), ("time", t, steps), ("channel", c, n_input)):
            if idx.size and (idx.min() < 0 or idx.max() >= bound):
                raise ValueError(f"SparseInput.from_coordinates: {name} index outside "
                                 f"0..{bound - 1}")
        row = t * batch + b
        order = np.lexsort((c, row))
        return _pack(row[order], c[order], v[order], (batch, steps, n_input), capacity)


Capacity = int | Callable[[int], int] | None


def _pack(row: np.ndarray, channel: np.ndarray, value: np.ndarray, shape: tuple[int, int, int],
          capacity: Capacity) -> SparseInput:
    """Sorted entries -> a :class:`SparseInput` padded to its capacity: a number, a function of
    the entry count (:class:`GrowingCapacity`) or None (:func:`sparse_capacity`)."""
    batch, steps, _ = shape
    nnz = int(row.size)
    if capacity is None:
        capacity = sparse_capacity(nnz)
    capacity = int(capacity(nnz) if callable(capacity) else capacity)
    if capacity < nnz:
        raise ValueError(f"SparseInput: {nnz} non-zero entries exceed capacity {capacity}")
    rows = np.full(capacity, steps * batch - 1, np.int32)
    channels = np.zeros(capacity, np.int32)
    values = np.zeros(capacity, value.dtype if value.dtype.kind == "f" else np.float32)
    rows[:nnz], channels[:nnz], values[:nnz] = row, channel, value
    return SparseInput(rows, channels, values, shape)


def sparse_capacity(nnz: int) -> int:
    """A padded length for ``nnz`` entries: four sizes per octave (at most 25 % padding).

    The smallest of ``1024, 1280, 1536, 1792, 2048, 2560, ...`` that holds ``nnz``: batches whose
    spike counts differ by a few percent get the same capacity and so the same compiled program.
    """
    if nnz <= MIN_SPARSE_CAPACITY:
        return MIN_SPARSE_CAPACITY
    step = 1 << ((nnz - 1).bit_length() - 3)  # a quarter of the octave below nnz
    return -(-nnz // step) * step


class GrowingCapacity:
    """The capacity for a stream of sparse batches: it only grows, by whole octaves.

    Why: a new capacity is a new array shape, so the jitted training step compiles again (about
    ten seconds on a 2-core CPU, as long as hundreds of steps). NeuronIO windows differ by a
    factor of five in their spike counts, and :func:`sparse_capacity` per batch would pick a new
    size every few steps. This stream starts at ``headroom`` times its first count and only ever
    takes powers of two, so a run compiles its step once or twice; and the runs of one model on
    one dataset (seeds, sweep points) arrive at the same few sizes and so share their compiled
    programs through JAX's persistent compilation cache. The padding costs little: the sparse
    projection is a gather over the capacity, small beside the time loop, and padded slots add
    exact zeros (the values do not depend on the capacity).
    """

    def __init__(self, headroom: float = 2.0) -> None:
        self.headroom = headroom
        self.value = 0

    def __call__(self, nnz: int) -> int:
        """The capacity for a batch of ``nnz`` entries (at least ``nnz``)."""
        if nnz > self.value:
            wanted = max(nnz, int(nnz * self.headroom), MIN_SPARSE_CAPACITY)
            self.value = 1 << (wanted - 1).bit_length()
        return self.value


def sparse_input(x, capacity: Capacity = None) -> SparseInput:
    """The non-zero entries of a dense ``(B, T, inputs)`` batch (host, NumPy; not jittable).

    About 15 ms for a NeuronIO batch (8 x 500 x 1278) on one core: a data loader does it once
    per batch, outside the jitted training step (``WindowSampler(sparse=True)`` does it in its
    loader thread).
    """
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"sparse_input expects (batch, time, inputs), got shape {x.shape}")
    batch, steps, n_input = x.shape
    time_major = np.ascontiguousarray(np.swapaxes(x, 0, 1)).reshape(-1)
    flat = np.flatnonzero(time_major != 0)  # ascending (t, b, channel): already in row order
    return _pack(flat // n_input, flat % n_input, time_major[flat], (batch, steps, n_input),
                 capacity)


def project(x: Array | SparseInput, w: Array) -> Array:
    """``x @ w`` for every step, time-major: ``(T, B, cols)`` from ``x`` ``(B, T, inputs)``.

    Dense: one matmul, then the batch/time swap (faster on the CPU than a swapping einsum).
    Sparse: gather the rows of ``w`` of the active channels and add them up per (t, b) with a
    sorted ``segment_sum``; autodiff turns that into a gather and a scatter-add over the active
    entries only, instead of the dense ``(B T, inputs) x (inputs, cols)`` weight gradient.
    """
    if isinstance(x, SparseInput):
        batch, steps, _ = x.shape
        rows = x.value[:, None] * w[x.channel]
        u = jax.ops.segment_sum(rows, x.row, num_segments=steps * batch, indices_are_sorted=True)
        return u.reshape(steps, batch, w.shape[1])
    return jnp.swapaxes(x @ w, 0, 1)



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
    dyn: Dynamics, structure: Structure, x: Array | SparseInput
) -> tuple[Array, Trajectories]:
    """Run :func:`reference_step` over ``x`` ``(B, T, inputs)`` from zero state.

    Returns the raw outputs ``(B, T, n_out)`` and every internal trajectory. A
    :class:`SparseInput` is made dense first: the reference reads every channel at every step.
    """
    if isinstance(x, SparseInput):
        x = x.to_dense()
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


#: How :func:`linear_filter` runs the trace recursion (``method=``); None picks by backend.
FILTER_METHODS = ("sequential", "parallel")


def linear_filter(u: Array, kappa: Array, method: str | None = None) -> Array:
    """``z_t = kappa z_{t-1} + u_t`` along axis 0 from ``z_0 = 0``.

    The trace is linear, so it needs no memory in the loop, and it can run two ways:

    * "parallel": an associative scan over pairs ``(a, b)`` composing the affine maps
      ``z -> a z + b``, ``log T`` sweeps; for accelerators, where a ``T``-step loop of small
      elementwise kernels would be launch-bound;
    * "sequential": ``lax.scan`` over the steps, the recursion as written, in the reference's
      order of operations. On a CPU it runs faster than the associative scan at the
      datasets' shapes and its gradient compiles about 6 s faster (the associative scan's
      backward is a large program): the default there.
    """
    if method is None:
        method = "sequential" if jax.default_backend() == "cpu" else "parallel"
    if method not in FILTER_METHODS:
        raise ValueError(f"method must be one of {FILTER_METHODS}, got {method!r}")
    kappa = jnp.asarray(kappa, u.dtype)
    if method == "sequential":
        def step(z, u_t):
            z = kappa * z + u_t
            return z, z

        return lax.scan(step, jnp.zeros_like(u[0]), u)[1]
    a = jnp.broadcast_to(kappa, u.shape)

    def combine(left, right):
        a_l, b_l = left
        a_r, b_r = right
        return a_l * a_r, a_r * b_l + b_r

    return lax.associative_scan(combine, (a, u), axis=0)[1]


#: The formulations of :func:`fast_forward`'s time loop (``loop=``); "auto" picks one by shape.
LOOPS = ("auto", "hoisted", "trace", "scan", "reference")


def choose_loop(n_input: int, d_mlp: int) -> str:
    """The loop :func:`fast_forward` runs for ``loop="auto"``.

    * "hoisted" when the input is wider than the MLP (NeuronIO, SHD): the trace is filtered in
      the narrow ``d_mlp`` space outside the loop, which carries only the memory, and the
      hand-written backward pass keeps the reverse loop down to the memory gradient;
    * "reference" otherwise (ListOps: 25 tokens, ``d_mlp`` 300; the LRA image and Pathfinder
      tasks: one input): there is nothing to hoist, and a step is the memory recurrence's own
      matrix products, which every formulation runs. Measured as training steps on a 2-core
      CPU, the formulations that keep the branch trace in the loop ("scan", "trace") were
      slower than the per-step reference at ListOps' T = 2000 and at the image task's shape
      (``benchmarks/recurrence.py --loops``), and no faster at Pathfinder's. Only at a small
      ListOps batch (B 32, T 40-500) did "trace" win, by about a quarter; ``loop="scan"`` or
      ``"trace"`` still runs them.
    """
    return "hoisted" if n_input > d_mlp else "reference"


@partial(jax.jit, static_argnums=(1, 3, 4, 5))
def fast_forward(dyn: Dynamics, structure: Structure, x: Array | SparseInput,
                 loop: str = "auto", keep: bool | None = None, chains: int | None = None) -> Array:
    """Same outputs as :func:`reference_forward`, with only the memory update in the loop.

    Requires one synaptic time constant (``kappa_s`` scalar), which makes the trace commute
    with the branch sums and the MLP's input block. ``x`` is a dense batch ``(B, T, inputs)``
    or a :class:`SparseInput`; ``loop`` picks the formulation (:data:`LOOPS`, :func:`choose_loop`):

    * "hoisted": everything up to the first layer's pre-activation is computed for all steps
      at once, in the ``d_mlp`` space; with a branch nonlinearity the trace does not commute
      with the first layer any more, so it is filtered in branch space, passed through the
      nonlinearity, then projected (still for all steps at once). The loop carries ``m``.
    * "trace": the input is only mapped to the ``d_tree`` branch sums outside the loop; the loop
      carries the branch trace and the memory and does the whole first layer, with the
      hand-written backward pass of :func:`trace_memory_loop`.
    * "scan": as "trace" with the readout inside the loop, differentiated by autodiff;
    * "reference": :func:`reference_forward`'s per-step loop (any synaptic time constants).

    ``keep`` (None: by size, :func:`keep_intermediates`) says whether the hand-written backward
    passes keep per-step intermediates or recompute them for all steps at once; ``chains``
    (None: :func:`default_chains`) into how many independent pieces each step cuts the batch.
    """
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
    n_input = x.shape[-1]
    d_tree = structure.d_tree
    w1, b1 = dyn.mlp[0]
    rest = dyn.mlp[1:]
    if loop == "auto":
        loop = choose_loop(n_input, w1.shape[1])
    if loop == "reference":
        return reference_forward(dyn, structure, x)[0]
    if keep is None:
        keep = keep_intermediates(x.shape[0], w1.shape[1])
    if chains is None:
        chains = default_chains(x.shape[0], w1.shape[1])
    if loop == "hoisted":
        if structure.branch_activation == "none":
            u = project(x, input_projection(dyn, structure, n_input))  # (T, B, d_mlp)
            a = linear_filter(u, dyn.kappa_s) + b1  # the first layer's input-driven part, every t
        else:
            p = project(x, branch_projection(dyn, structure, n_input))  # (T, B, d_tree)
            s = branch_output(linear_filter(p, dyn.kappa_s), structure)
            a = s @ w1[:d_tree] + b1
        m = memory_loop(structure.activation, keep, chains, a, w1[d_tree:], dyn.kappa_m,
                        dyn.gain_m, rest)
    elif loop == "trace":
        p = project(x, branch_projection(dyn, structure, n_input))  # (T, B, d_tree)
        m = trace_memory_loop(_loop_key(structure), keep, chains, p, dyn.kappa_s, w1, b1,
                              dyn.kappa_m, dyn.gain_m, rest)
    else:  # autodiff's backward: the readout joins the loop, as in the reference
        p = project(x, branch_projection(dyn, structure, n_input))
        y = _trace_scan(structure, p, dyn.kappa_s, _fold_kappa(w1, dyn.kappa_m, d_tree),
                        b1, dyn.kappa_m, dyn.gain_m, rest, False, chains,
                        readout=(dyn.w_y, dyn.b_y))[0]
        return jnp.swapaxes(y, 0, 1)
    if structure.readout == "m_prev":
        m = _shift(m)
    return jnp.swapaxes(m @ dyn.w_y + dyn.b_y, 0, 1)  # read out time-major; swap the small y


# ---------------------------------------------------------------------------------------------
# The memory loop with a hand-written backward pass.
#
# Autodiff of ``lax.scan`` accumulates every weight gradient inside the reverse loop, one small
# outer product per step, and saves every intermediate of the step. Here the reverse loop carries
# only the memory gradient ``g_t`` and does the two or three matmuls that propagate it one step
# back; the weight gradients are then a few large matmuls over all steps at once.
#
# What the backward loop needs per step are the layers' pre-activations. For small steps (batch
# x d_mlp below KEEP_PER_STEP elements, NeuronIO: 8 x 40) the cost of a step is its number of
# operations, not its arithmetic: the forward loop then emits only ``m_t`` and the
# pre-activations are recomputed afterwards for all steps at once, and the backward loop emits
# only ``g_t``. For larger steps (SHD: 8 x 200, ListOps: 384 x 300) recomputing costs more than
# it saves, so the forward loop keeps them and the backward loop emits the hidden errors.
# ``tests/test_recurrence.py`` checks every variant against autodiff of the reference in x64.
# ---------------------------------------------------------------------------------------------

Layers = tuple[tuple[Array, Array], ...]

#: Elements of one step's hidden layer (batch x d_mlp) from which the loops keep per-step
#: intermediates instead of recomputing them for all steps at once.
KEEP_PER_STEP = 1024


def _act(name: str, h: Array) -> tuple[Array, Array]:
    """Activation value and derivative at ``h``."""
    if name == "relu":
        return jax.nn.relu(h), (h > 0).astype(h.dtype)
    sig = jax.nn.sigmoid(h)
    return h * sig, sig * (1 + h * (1 - sig))


def _branch_derivative(structure: Structure, s: Array) -> Array | None:
    """Derivative of :func:`branch_output` at ``s`` (None: the identity)."""
    if structure.branch_activation == "none":
        return None
    if structure.branch_activation == "relu":
        return (s > 0).astype(s.dtype)
    return 1 - jnp.tanh(s) ** 2


def _shift(m: Array) -> Array:
    """``m_{t-1}`` for every ``t`` along axis 0, zero before the first step."""
    return jnp.concatenate([jnp.zeros_like(m[:1]), m[:-1]], axis=0)


def _flat(x: Array) -> Array:
    return x.reshape(-1, x.shape[-1])


def keep_intermediates(batch: int, d_mlp: int) -> bool:
    """Whether the loops keep per-step intermediates (large steps) or recompute them (small)."""
    return batch * d_mlp >= KEEP_PER_STEP


def default_chains(batch: int, d_mlp: int) -> int:
    """Independent batch pieces per loop step: 2 for large steps on a CPU, else 1.

    XLA's CPU runtime runs one step's operations one after another, each matmul of a
    ListOps step (384 x 175 x 300) on one core. Two halves of the batch are two independent
    chains of operations, which it runs on two cores at once. On an accelerator a step's
    matmuls are parallel already, and splitting them only adds kernel launches.
    """
    large = keep_intermediates(batch, d_mlp) and batch >= 64
    return 2 if large and jax.default_backend() == "cpu" else 1


def _chain_scan(step, init, xs, chains: int, reverse: bool = False):
    """``lax.scan(step, init, xs)`` with the batch cut into ``chains`` pieces inside each step.

    The batch is axis 0 of the carry and of each step's slice of ``xs``. The values are those
    of the plain scan; the pieces' operations do not depend on each other, so the runtime may
    run them at the same time. Outputs are joined along the batch inside the step.
    """
    if chains == 1:
        return lax.scan(step, init, xs, reverse=reverse)
    batch = jax.tree.leaves(init)[0].shape[0]
    bounds = [batch * k // chains for k in range(chains + 1)]

    def cut(tree, k):
        return jax.tree.map(lambda a: a[bounds[k]:bounds[k + 1]], tree)

    def join(*trees):
        return jax.tree.map(lambda *a: jnp.concatenate(a, axis=0), *trees)

    def multi(carries, xs_t):
        outs = [step(carry, cut(xs_t, k)) for k, carry in enumerate(carries)]
        return tuple(o[0] for o in outs), join(*(o[1] for o in outs))

    carries, ys = lax.scan(multi, tuple(cut(init, k) for k in range(chains)), xs, reverse=reverse)
    return join(*carries), ys


def _loop_key(structure: Structure) -> Structure:
    """The part of the structure a loop depends on (one compiled loop for both readouts)."""
    return dataclasses.replace(structure, readout="m_t")


def _fold_kappa(w1: Array, kappa_m: Array, d_tree: int) -> Array:
    """The first layer with ``kappa_m`` folded into its memory rows.

    ``[x, m] @ w1k == [x, kappa_m m] @ w1``: one multiply fewer per step.
    """
    return jnp.concatenate([w1[:d_tree], kappa_m[:, None] * w1[d_tree:]], axis=0)


def _layers(activation: str, pre0: Array, rest: Layers) -> list[Array]:
    """Every layer's pre-activation, from the first one's."""
    pre = [pre0]
    for w, b in rest:
        pre.append(_act(activation, pre[-1])[0] @ w + b)
    return pre


def _hidden_errors(activation: str, d_last: Array, pre: list[Array],
                   rest_t: tuple[Array, ...]) -> list[Array]:
    """Back from the last layer's error to the first: ``[d_pre_0, ..., d_pre_L]``.

    ``rest_t`` are the kernels of the layers after the first, transposed (outside any loop).
    """
    d_pre = [d_last]
    for i in range(len(rest_t) - 1, -1, -1):
        d_pre.insert(0, (d_pre[0] @ rest_t[i]) * _act(activation, pre[i])[1])
    return d_pre


def _memory_update_error(g: Array, pre_last: Array, gain_m: Array) -> tuple[Array, Array]:
    """The last layer's error from the memory gradient ``g``, and ``tanh`` of its input."""
    th = jnp.tanh(TANH_SLOPE * pre_last)
    return g * gain_m * (TANH_GAIN * TANH_SLOPE) * (1 - th * th), th


def _backward_loop(activation: str, dm: Array, pre: list[Array], kappa_m: Array, gain_m: Array,
                   w1k_m: Array, rest: Layers, emit_hidden: bool,
                   chains: int) -> tuple[Array, list | None]:
    """The reverse loop over the memory gradient.

    Returns every ``g_t`` (the gradient reaching ``m_t``) and, with ``emit_hidden``, the hidden
    layers' errors ``d_pre_0 .. d_pre_{L-1}`` (else None). ``w1k_m``: the first layer's memory
    rows with ``kappa_m`` folded in.
    """
    w1k_t = w1k_m.T
    rest_t = tuple(w.T for w, _ in rest)

    def back(g_next, inputs):
        dm_t, pre_t = inputs
        g = dm_t + g_next  # total gradient reaching m_t
        d_last = _memory_update_error(g, pre_t[-1], gain_m)[0]
        d_pre = _hidden_errors(activation, d_last, pre_t, rest_t)
        return kappa_m * g + d_pre[0] @ w1k_t, (g, d_pre[:-1] if emit_hidden else None)

    _, (g, hidden) = _chain_scan(back, jnp.zeros_like(dm[0]), (dm, pre), chains, reverse=True)
    return g, hidden


def _loop_gradients(activation: str, inp0: Array | None, m_prev: Array, pre: list[Array],
                    g: Array, hidden: list | None, w1_m: Array, kappa_m: Array, gain_m: Array,
                    rest: Layers):
    """Parameter gradients of a memory loop from its per-step errors, as large matmuls.

    ``inp0`` is the first layer's non-memory input for every step (None for the hoisted loop,
    whose first layer here has only memory rows). Returns ``(d_pre_0, d_w1k, d_b1, d_kappa_m,
    d_gain_m, d_rest)`` with ``d_w1k`` the gradient of the ``kappa_m``-folded first layer.
    """
    d_last, th = _memory_update_error(g, pre[-1], gain_m)
    if hidden is None:  # small steps: the hidden errors were not kept; recompute them at once
        d_pre = _hidden_errors(activation, d_last, pre, tuple(w.T for w, _ in rest))
    else:
        d_pre = [*hidden, d_last]
    x0 = m_prev if inp0 is None else jnp.concatenate([inp0, m_prev], axis=-1)
    d_w1k = _flat(x0).T @ _flat(d_pre[0])
    d_m = kappa_m.shape[0]
    d_kappa_m = jnp.sum(m_prev * g, axis=(0, 1)) + jnp.sum(w1_m * d_w1k[-d_m:], axis=1)
    d_gain_m = jnp.sum(g * TANH_GAIN * th, axis=(0, 1))
    d_rest = tuple(
        (_flat(_act(activation, pre[i])[0]).T @ _flat(d_pre[i + 1]), jnp.sum(d_pre[i + 1], (0, 1)))
        for i in range(len(rest))
    )
    return d_pre[0], d_w1k, jnp.sum(d_pre[0], axis=(0, 1)), d_kappa_m, d_gain_m, d_rest


# the hoisted loop: the input-driven part ``a`` of the first layer is given for every step ------


def _hoisted_scan(activation, a, w1k_m, kappa_m, gain_m, rest, keep: bool, chains: int):
    def step(m_prev, a_t):
        pre = _layers(activation, a_t + m_prev @ w1k_m, rest)
        m_t = kappa_m * m_prev + gain_m * custom_tanh(pre[-1])
        return m_t, (m_t, pre if keep else None)

    m0 = jnp.zeros((a.shape[1], kappa_m.shape[0]), a.dtype)
    return _chain_scan(step, m0, a, chains)[1]


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def memory_loop(activation: str, keep: bool, chains: int, a: Array, w1_m: Array, kappa_m: Array,
                gain_m: Array, rest: Layers) -> Array:
    """All memory states ``m_t`` ``(T, B, d_m)`` given the input-driven part ``a`` of layer 1.

    ``a`` is ``(T, B, d_mlp)`` (bias included); ``w1_m`` the first layer's memory block;
    ``rest`` the layers after the first (empty for a single linear map); ``keep``: see
    :func:`keep_intermediates`, ``chains``: see :func:`_chain_scan` (the values depend on
    neither).
    """
    w1k_m = kappa_m[:, None] * w1_m
    return _hoisted_scan(activation, a, w1k_m, kappa_m, gain_m, rest, False, chains)[0]


def _memory_loop_fwd(activation, keep, chains, a, w1_m, kappa_m, gain_m, rest):
    w1k_m = kappa_m[:, None] * w1_m
    m, pre = _hoisted_scan(activation, a, w1k_m, kappa_m, gain_m, rest, keep, chains)
    return m, (a, w1_m, kappa_m, gain_m, rest, m, pre)


def _memory_loop_bwd(activation, keep, chains, residuals, dm):
    a, w1_m, kappa_m, gain_m, rest, m, pre = residuals
    w1k_m = kappa_m[:, None] * w1_m
    m_prev = _shift(m)
    if pre is None:  # small steps: recompute every pre-activation at once
        pre = _layers(activation, a + m_prev @ w1k_m, rest)
    g, hidden = _backward_loop(activation, dm, pre, kappa_m, gain_m, w1k_m, rest, keep, chains)
    d_a, d_w1k, _, d_kappa_m, d_gain_m, d_rest = _loop_gradients(
        activation, None, m_prev, pre, g, hidden, w1_m, kappa_m, gain_m, rest)
    return d_a, kappa_m[:, None] * d_w1k, d_kappa_m, d_gain_m, d_rest


memory_loop.defvjp(_memory_loop_fwd, _memory_loop_bwd)


# the trace loop: the loop carries the branch trace and applies the whole first layer ----------


def _trace_scan(structure, p, kappa_s, w1k, b1, kappa_m, gain_m, rest, keep: bool, chains: int,
                readout: tuple[Array, Array] | None = None):
    """The trace loop's forward; emits ``m_t`` or, given ``readout = (w_y, b_y)``, the outputs."""
    def step(carry, p_t):
        s_prev, m_prev = carry
        s_t = kappa_s * s_prev + p_t
        x0 = jnp.concatenate([branch_output(s_t, structure), m_prev], axis=-1)
        pre = _layers(structure.activation, x0 @ w1k + b1, rest)
        m_t = kappa_m * m_prev + gain_m * custom_tanh(pre[-1])
        out = m_t
        if readout is not None:
            out = (m_t if structure.readout == "m_t" else m_prev) @ readout[0] + readout[1]
        return (s_t, m_t), (out, pre if keep else None)

    batch = p.shape[1]
    carry = (jnp.zeros((batch, p.shape[2]), p.dtype), jnp.zeros((batch, kappa_m.shape[0]), p.dtype))
    return _chain_scan(step, carry, p, chains)[1]


@partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def trace_memory_loop(structure: Structure, keep: bool, chains: int, p: Array, kappa_s: Array,
                      w1: Array, b1: Array, kappa_m: Array, gain_m: Array, rest: Layers) -> Array:
    """All memory states ``m_t`` ``(T, B, d_m)`` from the weighted branch sums ``p`` (T, B, d_tree).

    The loop filters the branch trace ``s_t = kappa_s s_{t-1} + p_t`` and applies the whole
    first layer ``w1`` (branch rows, then memory rows) to ``[branch_output(s_t), kappa_m m]``.
    """
    w1k = _fold_kappa(w1, kappa_m, structure.d_tree)
    return _trace_scan(structure, p, kappa_s, w1k, b1, kappa_m, gain_m, rest, False, chains)[0]


def _trace_loop_fwd(structure, keep, chains, p, kappa_s, w1, b1, kappa_m, gain_m, rest):
    w1k = _fold_kappa(w1, kappa_m, structure.d_tree)
    m, pre = _trace_scan(structure, p, kappa_s, w1k, b1, kappa_m, gain_m, rest, keep, chains)
    return m, (p, kappa_s, w1, b1, kappa_m, gain_m, rest, m, pre)


def _trace_loop_bwd(structure, keep, chains, residuals, dm):
    p, kappa_s, w1, b1, kappa_m, gain_m, rest, m, pre = residuals
    d_tree = structure.d_tree
    w1k = _fold_kappa(w1, kappa_m, d_tree)
    s = linear_filter(p, kappa_s)  # the trace, recomputed at once (narrow)
    x_in = branch_output(s, structure)
    m_prev = _shift(m)
    if not keep:
        x0 = jnp.concatenate([x_in, m_prev], axis=-1)
        pre = _layers(structure.activation, x0 @ w1k + b1, rest)
    g, hidden = _backward_loop(structure.activation, dm, pre, kappa_m, gain_m, w1k[d_tree:],
                               rest, keep, chains)
    d_pre0, d_w1k, d_b1, d_kappa_m, d_gain_m, d_rest = _loop_gradients(
        structure.activation, x_in, m_prev, pre, g, hidden, w1[d_tree:], kappa_m, gain_m, rest)
    d_w1 = jnp.concatenate([d_w1k[:d_tree], kappa_m[:, None] * d_w1k[d_tree:]], axis=0)
    d_s = d_pre0 @ w1[:d_tree].T  # error reaching the branch output
    derivative = _branch_derivative(structure, s)
    if derivative is not None:
        d_s = d_s * derivative
    d_s = linear_filter(d_s[::-1], kappa_s)[::-1]  # the trace, backwards in time
    d_kappa_s = jnp.sum(_shift(s) * d_s).astype(jnp.result_type(kappa_s))
    return d_s, jnp.reshape(d_kappa_s, jnp.shape(kappa_s)), d_w1, d_b1, d_kappa_m, d_gain_m, d_rest


trace_memory_loop.defvjp(_trace_loop_fwd, _trace_loop_bwd)
