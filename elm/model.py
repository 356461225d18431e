"""The ELM and Branch-ELM neuron as a ``flax.nnx`` module.

The module only holds parameters and turns them into the arrays of equation (1)
(:meth:`ELM.dynamics`); the time loop itself lives in :mod:`elm.recurrence` as pure functions.

Every modelling choice is a field of :class:`ELMConfig`. Defaults are those of the authors'
released code (``AaronSpieler/elmneuron``, ``src/expressive_leaky_memory_neuron.py``); where the
paper's text differs, the alternative is selectable and the field's comment says so.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from elm import recurrence
from elm.routing import ROUTINGS, make_routing

Array = jax.Array


class Buffer(nnx.Variable):
    """A fixed array that belongs to the model but is never trained (e.g. ``tau_s``, routing).

    Kept apart from ``nnx.Param`` so that optimisers (``wrt=nnx.Param``) and
    :func:`elm.count_params` see exactly the trainable parameters, as PyTorch's
    ``requires_grad=False`` does in the released code.
    """


@dataclass(frozen=True)
class ELMConfig:
    """All choices that define an ELM or Branch-ELM neuron (symbols as in the paper).

    A Branch-ELM is an ELM whose synapses are grouped into ``d_tree`` branches of ``d_brch``
    synapses and routed from the inputs (``routing`` "neuronio" or "random"); the vanilla ELM is
    ``routing="none"`` with one synapse per input (``d_tree = inputs``, ``d_brch = 1``).

    ``branch_activation`` puts a nonlinearity on each branch's output, between the branch sum
    (after the synaptic trace) and the MLP. The paper motivates branches by the hypothesis that
    a dendritic branch computes a rectified sum of its synapses, with further nonlinearities
    downstream (Section 3.1), and its Fig S5 ablates "a specific nonlinearity on branch output",
    which "slightly degrades performance"; the default is its Branch-ELM, a plain sum. The paper
    does not name that nonlinearity: "relu" is the rectified sum of the hypothesis and the
    setting Fig S5 is regenerated with here; "tanh" is a saturating alternative. NeuronIO's
    inhibitory inputs are negative, so a branch sum can be negative and "relu" is no identity.
    """

    num_input: int
    num_output: int
    d_m: int = 20  # number of memory units
    d_mlp: int | None = None  # MLP hidden width; None -> 2 d_m (code and Table S1)
    mlp_layers: int = 1  # hidden layers l_mlp; 0 -> one linear map (Fig 3b ablation)
    activation: Literal["relu", "silu"] = "relu"
    lambda_value: float = 5.0  # code default; Table S1 says 10 for NeuronIO
    tau_s: float = 5.0  # synaptic time constant in ms (v2: per-branch time constant)
    tau_m_init: tuple[float, float] = (1.0, 150.0)  # memory tau_m init range, ms
    tau_m_bounds: tuple[float, float] | None = None  # scaled-sigmoid bounds; None -> init range
    tau_m_spacing: Literal["log", "linear"] = "log"  # code: logspace; paper text: evenly
    learn_tau_m: bool = False  # every released model: False; the paper trains tau_m
    w_s_init: float = 0.5
    learn_w_s: bool = True
    dt: float = 1.0  # ms between two input steps (the bin size)
    readout: Literal["m_t", "m_prev"] = "m_t"  # code and eq. (1): m_t; Section 2's prose: m_{t-1}
    update: Literal["v1", "v2"] = "v1"  # v2: per-branch trace, gain 1 - exp(-dt lambda / tau_m)
    routing: Literal["none", "neuronio", "random"] = "none"
    d_tree: int | None = None  # branches; None -> inputs (routing "none" only)
    d_brch: int = 1  # synapses per branch
    routing_seed: int = 0  # draws the "random" routing (kept apart from the weight init)
    branch_activation: Literal["none", "relu", "tanh"] = "none"  # on each branch's sum (Fig S5)

    def __post_init__(self) -> None:
        self._validate()

    # derived sizes -----------------------------------------------------------------------------
    @property
    def hidden(self) -> int:
        return self.d_mlp if self.d_mlp is not None else 2 * self.d_m

    @property
    def branches(self) -> int:
        return self.d_tree if self.d_tree is not None else self.num_input

    @property
    def num_synapse(self) -> int:
        return self.branches * self.d_brch

    @property
    def bounds(self) -> tuple[float, float]:
        """tau_m bounds; a constant-tau_m init gets the v2 code's ``max(lo + 3e-6, hi)`` width."""
        lo, hi = self.tau_m_bounds if self.tau_m_bounds is not None else self.tau_m_init
        return float(lo), max(float(lo) + 3e-6, float(hi))

    def replace(self, **changes) -> ELMConfig:
        return dataclasses.replace(self, **changes)

    def _validate(self) -> None:
        def bad(field: str, why: str) -> ValueError:
            return ValueError(f"ELMConfig.{field}: {why}")

        for field in ("num_input", "num_output", "d_m", "d_brch"):
            if getattr(self, field) < 1:
                raise bad(field, f"must be >= 1, got {getattr(self, field)}")
        if self.d_mlp is not None and self.d_mlp < 1:
            raise bad("d_mlp", f"must be >= 1 or None, got {self.d_mlp}")
        if self.mlp_layers < 0:
            raise bad("mlp_layers", f"must be >= 0, got {self.mlp_layers}")
        if self.activation not in ("relu", "silu"):
            raise bad("activation", f"must be 'relu' or 'silu', got {self.activation!r}")
        if self.readout not in ("m_t", "m_prev"):
            raise bad("readout", f"must be 'm_t' or 'm_prev', got {self.readout!r}")
        if self.update not in ("v1", "v2"):
            raise bad("update", f"must be 'v1' or 'v2', got {self.update!r}")
        if self.tau_m_spacing not in ("log", "linear"):
            raise bad("tau_m_spacing", f"must be 'log' or 'linear', got {self.tau_m_spacing!r}")
        for field in ("lambda_value", "tau_s", "dt"):
            if not getattr(self, field) > 0:
                raise bad(field, f"must be > 0, got {getattr(self, field)}")
        init_lo, init_hi = self.tau_m_init
        if not 0 < init_lo <= init_hi:
            raise bad("tau_m_init", f"needs 0 < low <= high (ms), got {self.tau_m_init}")
        if self.tau_m_bounds is not None:
            lo, hi = self.tau_m_bounds
            if not 0 <= lo < hi:
                raise bad("tau_m_bounds", f"needs 0 <= low < high (ms), got {self.tau_m_bounds}"
                          " (reversed bounds?)")
            if not lo <= init_lo <= init_hi <= hi:
                raise bad("tau_m_init", f"range {self.tau_m_init} lies outside tau_m_bounds "
                          f"{self.tau_m_bounds}; widen the bounds or narrow the init range")
        if self.branch_activation not in recurrence.BRANCH_ACTIVATIONS:
            raise bad("branch_activation", f"must be one of {recurrence.BRANCH_ACTIVATIONS}, "
                      f"got {self.branch_activation!r}")
        if self.routing not in ROUTINGS:
            raise bad("routing", f"must be one of {ROUTINGS}, got {self.routing!r}")
        if self.routing == "none":
            if self.num_synapse != self.num_input:
                raise bad("d_tree", f"without routing every input is one synapse, so "
                          f"d_tree * d_brch = {self.branches} * {self.d_brch} must equal "
                          f"num_input = {self.num_input}; set d_tree=None, d_brch=1 or a routing")
            return
        if self.d_tree is None or self.d_tree < 1:
            raise bad("d_tree", f"routing {self.routing!r} needs the number of branches d_tree")
        if self.routing == "neuronio":
            if self.num_input % 2:
                raise bad("num_input", "'neuronio' routing interleaves an excitatory and an "
                          f"inhibitory half, so num_input must be even, got {self.num_input}")
            stride = math.ceil(self.num_input / self.d_tree)
            if stride > self.d_brch:
                raise bad("d_brch", f"'neuronio' windows start every ceil({self.num_input}/"
                          f"{self.d_tree}) = {stride} inputs, so d_brch={self.d_brch} would "
                          f"skip inputs; use d_brch >= {stride} or more branches")


def scaled_sigmoid(x: Array, lo: float, hi: float) -> Array:
    """Map the unconstrained ``proto_tau_m`` into ``(lo, hi)``: bounded, smooth timescales."""
    return (hi - lo) * jax.nn.sigmoid(x) + lo


def inverse_scaled_sigmoid(tau: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Inverse of :func:`scaled_sigmoid`, clamped 1e-6 inside the bounds as the released code."""
    tau = np.clip(tau, lo + 1e-6, hi - 1e-6)
    return np.log((tau - lo) / (hi - tau))


def initial_tau_m(config: ELMConfig) -> np.ndarray:
    """The initial memory timescales: ``d_m`` values spread over ``tau_m_init``.

    Log spacing (the code) puts as many units below 10 ms as between 10 and 100 ms, which
    matches the wide range of timescales a neuron must track; the 1e-6 offsets are the code's.
    """
    lo, hi = config.tau_m_init
    if config.tau_m_spacing == "log":
        return np.logspace(math.log10(lo + 1e-6), math.log10(hi - 1e-6), config.d_m)
    return np.linspace(lo + 1e-6, hi - 1e-6, config.d_m)


def _torch_linear(n_in: int, n_out: int, rngs: nnx.Rngs, dtype) -> nnx.Linear:
    """A dense layer with PyTorch's default (Kaiming-uniform) init, as the paper (Table S1).

    Weights and bias are uniform in ``+-1/sqrt(fan_in)``.
    """
    bound = 1.0 / math.sqrt(n_in)

    def bias_init(key, shape, dtype=dtype):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return nnx.Linear(
        n_in,
        n_out,
        kernel_init=nnx.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform"),
        bias_init=bias_init,
        param_dtype=dtype,
        dtype=dtype,
        rngs=rngs,
    )


class ELM(nnx.Module):
    """The Expressive Leaky Memory neuron (equation (1)), with optional branches.

    ``model(X)`` maps ``X`` of shape ``(batch, time, num_input)`` to the raw outputs
    ``(batch, time, num_output)`` with the fast recurrence; ``model(X, return_states=True)``
    also returns the internal :class:`elm.recurrence.Trajectories` (synaptic trace, branch
    input, memory), computed with the per-step reference.
    """

    def __init__(self, config: ELMConfig, *, rngs: nnx.Rngs, dtype=jnp.float32) -> None:
        self.config = config
        c = config
        n_syn = c.num_synapse
        proto_w_s = jnp.full((n_syn,), c.w_s_init, dtype)
        self.proto_w_s = nnx.Param(proto_w_s) if c.learn_w_s else Buffer(proto_w_s)
        self.tau_s = Buffer(jnp.asarray(c.tau_s, dtype))
        lo, hi = c.bounds
        proto_tau_m = jnp.asarray(inverse_scaled_sigmoid(initial_tau_m(c), lo, hi), dtype)
        self.proto_tau_m = nnx.Param(proto_tau_m) if c.learn_tau_m else Buffer(proto_tau_m)
        sizes = [c.branches + c.d_m] + [c.hidden] * c.mlp_layers + [c.d_m]
        self.mlp = nnx.List(
            [_torch_linear(a, b, rngs, dtype) for a, b in itertools.pairwise(sizes)]
        )
        self.w_y = _torch_linear(c.d_m, c.num_output, rngs, dtype)
        index, mask = make_routing(
            c.routing, c.num_input, c.branches, c.d_brch, np.random.default_rng(c.routing_seed)
        )
        self.synapse_index = Buffer(jnp.asarray(index))
        self.synapse_mask = Buffer(jnp.asarray(mask, dtype))
        self.structure = recurrence.Structure(
            d_tree=c.branches,
            activation=c.activation,
            branch_activation=c.branch_activation,
            readout=c.readout,
            trace="synapse" if c.update == "v1" else "branch",
        )

    # the paper's symbols, derived from the parameters -----------------------------------------
    @property
    def w_s(self) -> Array:
        """Synaptic weights ``relu(proto_w_s)``: non-negative, as the released code."""
        return jax.nn.relu(self.proto_w_s[...])

    @property
    def tau_m(self) -> Array:
        return scaled_sigmoid(self.proto_tau_m[...], *self.config.bounds)

    @property
    def kappa_m(self) -> Array:
        return jnp.exp(-self.config.dt / jnp.maximum(self.tau_m, 1e-6))

    @property
    def kappa_s(self) -> Array:
        return jnp.exp(-self.config.dt / jnp.maximum(self.tau_s[...], 1e-6))

    @property
    def gain_m(self) -> Array:
        """v1: ``lambda (1 - kappa_m)``; v2: ``1 - exp(-dt lambda / tau_m)`` (kappa_lambda)."""
        if self.config.update == "v1":
            return self.config.lambda_value * (1.0 - self.kappa_m)
        kappa_lambda = jnp.exp(
            -self.config.dt * self.config.lambda_value / jnp.maximum(self.tau_m, 1e-6)
        )
        return 1.0 - kappa_lambda

    def dynamics(self) -> recurrence.Dynamics:
        """Everything the time loop needs, as a pytree of arrays."""
        return recurrence.Dynamics(
            synapse_index=self.synapse_index[...],
            synapse_mask=self.synapse_mask[...],
            w_s=self.w_s,
            kappa_s=self.kappa_s,
            kappa_m=self.kappa_m,
            gain_m=self.gain_m,
            mlp=tuple((layer.kernel[...], layer.bias[...]) for layer in self.mlp),
            w_y=self.w_y.kernel[...],
            b_y=self.w_y.bias[...],
        )

    def __call__(self, x: Array | recurrence.SparseInput, *, return_states: bool = False,
                 reference: bool = False, loop: str = "auto"):
        """Raw outputs ``(batch, time, num_output)`` for inputs ``(batch, time, num_input)``.

        ``x`` is a dense array or an :class:`elm.SparseInput` (the non-zero entries of one, made
        on the host by :func:`elm.sparse_input`; the fast path then projects only the active
        channels). ``reference=True`` runs the per-step reference loop instead of the fast one
        (same values); ``return_states=True`` implies it and also returns the trajectories.
        ``loop`` picks the fast path's formulation (:data:`elm.recurrence.LOOPS`; "auto" by
        shape, see :func:`elm.recurrence.choose_loop`).
        """
        if not isinstance(x, recurrence.SparseInput):
            x = jnp.asarray(x)
        if len(x.shape) != 3 or x.shape[-1] != self.config.num_input:
            raise ValueError(
                f"ELM expects inputs of shape (batch, time, {self.config.num_input}), "
                f"got {tuple(x.shape)}"
            )
        x = x.astype(self.w_y.kernel[...].dtype)
        dyn = self.dynamics()
        if return_states or reference:
            y, states = recurrence.reference_forward(dyn, self.structure, x)
            return (y, states) if return_states else y
        return recurrence.fast_forward(dyn, self.structure, x, loop)


class BranchELM(ELM):
    """The Branch-ELM: an :class:`ELM` whose synapses are routed onto dendritic branches.

    It is the ELM itself (same parameters, same equation (1)); the class only refuses a
    configuration without routing, so that a model called a Branch-ELM has branches.
    """

    def __init__(self, config: ELMConfig, *, rngs: nnx.Rngs, dtype=jnp.float32) -> None:
        if config.routing == "none":
            raise ValueError("BranchELM needs ELMConfig.routing 'neuronio' or 'random' and "
                             "d_tree (got routing='none'); use ELM for the vanilla neuron")
        super().__init__(config, rngs=rngs, dtype=dtype)
