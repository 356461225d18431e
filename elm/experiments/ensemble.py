"""Many small models as one compiled program, and one model over several devices: two
:class:`~elm.experiments.training.Program` layouts for the one training loop.

Why: an ELM neuron is tiny (a NeuronIO ELM has ~54k parameters, an SHD one ~183k), so one
training step leaves most of a CPU or accelerator idle, and the paper's claims rest on many
runs (seeds, ablation grids, the scaling curves of Fig. 3 and 4). Training K members of the
same shape with ``jax.vmap`` turns K small matmuls into one batched matmul and K dispatches
into one; the members stay mathematically independent, so each one ends where a separate
:func:`~elm.experiments.training.train` run with the same seed and batches would, up to float
rounding (tested). Whether it is faster depends on the size: on a 2-core CPU about 3x at K = 16
for a tiny ELM, nothing for the NeuronIO-sized one, whose step is already a large matmul
(``benchmarks/ensemble.py``).

* :class:`Ensemble` / :func:`train_ensemble`: K models, stacked along a leading axis
  (``nnx.split`` into one graph definition plus stacked arrays), trained with a vmapped guarded
  step. Each member has its own optimiser state and either its own batch stream (batches stacked
  to ``(K, B, ...)``) or one shared batch. A member whose loss turns bad is frozen at its state
  before that step while the others go on.
* :class:`DataParallel` / :func:`train_data_parallel`: one model, its batch split over a 1-D
  device mesh (axis ``"data"``) and its parameters replicated; ``jax.jit`` with these shardings
  inserts the all-reduce, so the gradient is that of the mean loss over the global batch.

Both run in :func:`~elm.experiments.training.run_loop` with the settings, optimiser, divergence
rule and checkpoints of every other run in the book.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from elm.experiments.configs import Experiment
from elm.experiments.training import (
    MAX_LOSS,
    LoopResult,
    TrainResult,
    TrainSettings,
    make_guarded_step,
    make_optimizer,
    run_loop,
)
from elm.model import ELM, ELMConfig

Batch = Any
LossFn = Callable[[nnx.Module, Batch], jax.Array]
State = Any  # a pytree of arrays (pure nnx states, optimiser state)

#: ELMConfig fields that only set initial array values (kept in Params or Buffers), never a
#: Python constant of the forward pass: members may differ in them and still share one program.
#: ``tau_m_init`` is only such a field when both members have the same ``bounds``.
ELM_VALUE_FIELDS = frozenset({"tau_s", "w_s_init", "tau_m_init", "routing_seed"})

DATA_AXIS = "data"


# --------------------------------------------------------------------------------------------
# building and stacking members


def build_members(
    experiment: Experiment | Callable[[nnx.Rngs], nnx.Module], seeds: Sequence[int]
) -> list[nnx.Module]:
    """One freshly initialised model per seed, ``Experiment.build(nnx.Rngs(seed))`` each.

    Building them one by one (rather than a vmapped init) makes member ``k`` bit-identical to
    the model a single run with ``seeds[k]`` starts from, which is what makes an ensemble a
    drop-in replacement for a loop over seeds.
    """
    build = experiment.build if isinstance(experiment, Experiment) else experiment
    return [build(nnx.Rngs(seed)) for seed in seeds]


def build_elm_members(configs: Sequence[ELMConfig], seed: int = 0) -> list[ELM]:
    """One ELM per configuration, all from ``seed``: a sweep over value-only settings.

    The configurations may differ only in :data:`ELM_VALUE_FIELDS` (e.g. ``tau_s``): other
    fields such as ``lambda_value`` or ``dt`` are constants of the compiled forward pass, so
    they need one program (one ensemble) each; :func:`check_stackable` says which field is off.
    """
    members = [ELM(config, rngs=nnx.Rngs(seed)) for config in configs]
    check_stackable(members)
    return members


def _static_elm_differences(a: ELMConfig, b: ELMConfig) -> list[str]:
    """The fields in which two ELM configs differ that are baked into the compiled program."""
    diff = [f.name for f in dataclasses.fields(a)
            if f.name not in ELM_VALUE_FIELDS and getattr(a, f.name) != getattr(b, f.name)]
    if a.bounds != b.bounds:  # tau_m_init sets the bounds when tau_m_bounds is None
        diff.append("bounds (tau_m_bounds, or tau_m_init when the bounds are None)")
    return diff


def check_stackable(models: Sequence[nnx.Module]) -> nnx.GraphDef:
    """The graph definition all members share; raises if one program cannot train them all.

    Members must have the same structure and array shapes. ELMs whose configs differ only in
    :data:`ELM_VALUE_FIELDS` are accepted although their graph definitions differ (the config is
    a static attribute): the forward pass never reads those fields, so member 0's program is
    every member's program.
    """
    if not models:
        raise ValueError("an ensemble needs at least one model")
    graphdefs = [nnx.graphdef(m) for m in models]
    for k, (model, graphdef) in enumerate(zip(models, graphdefs, strict=True)):
        if graphdef == graphdefs[0]:
            continue
        if isinstance(model, ELM) and isinstance(models[0], ELM):
            diff = _static_elm_differences(models[0].config, model.config)
            if not diff:
                continue
            raise ValueError(
                f"member {k} differs from member 0 in ELMConfig {diff}: these are constants of "
                f"the compiled program, so they need separate ensembles; members may differ "
                f"only in {sorted(ELM_VALUE_FIELDS)} and their seeds")
        raise ValueError(f"member {k} has a different structure from member 0; an ensemble "
                         "trains models of one shape (same class, sizes and static settings)")
    return graphdefs[0]


def _stack(trees: Sequence[State]) -> State:
    """Stack per-member pytrees along a new leading axis (shapes must agree)."""
    shapes = [[(x.shape, x.dtype) for x in jax.tree.leaves(t)] for t in trees]
    for k, s in enumerate(shapes):
        if s != shapes[0]:
            raise ValueError(f"member {k} has array shapes or dtypes unlike member 0's")
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def stack_models(models: Sequence[nnx.Module]) -> tuple[nnx.GraphDef, State, State]:
    """``(graphdef, params, rest)``: trainable ``nnx.Param`` arrays and everything else, stacked.

    ``rest`` (buffers such as ``tau_s`` or the routing, RNG counters) is stacked too, so members
    may carry different values there, and a model that updates it in its forward pass keeps its
    own copy per member.
    """
    graphdef = check_stackable(models)
    params, rest = zip(*(nnx.split(m, nnx.Param, ...)[1:] for m in models), strict=True)
    return graphdef, _stack([nnx.as_pure(p) for p in params]), _stack(
        [nnx.as_pure(r) for r in rest])


def unstack_into(models: Sequence[nnx.Module], params: State, rest: State) -> None:
    """Write member ``k`` of the stacked state back into ``models[k]`` (in place)."""
    for k, model in enumerate(models):
        nnx.update(model, jax.tree.map(lambda x, k=k: x[k], params),
                   jax.tree.map(lambda x, k=k: x[k], rest))


# --------------------------------------------------------------------------------------------
# ensemble training


def make_ensemble_step(graphdef: nnx.GraphDef, loss_fn: LossFn, tx: optax.GradientTransformation,
                       *, max_loss: float = MAX_LOSS, shared_batch: bool = False) -> Callable:
    """The jitted K-member step ``(params, rest, opt, alive, batch) -> (loss, params, rest, opt,
    alive)``, every argument but a shared batch with a leading member axis.

    It is :func:`~elm.experiments.training.make_guarded_step` under ``jax.vmap``: frozen members
    are still computed (the program's shapes are fixed) but never change again. The state
    arguments are donated: the caller must continue with the returned ones.
    """
    member = make_guarded_step(graphdef, loss_fn, tx, max_loss)
    step = jax.vmap(member, in_axes=(0, 0, 0, 0, None if shared_batch else 0))
    return jax.jit(step, donate_argnums=(0, 1, 2))


def stack_streams(streams: Sequence[Callable[[int], Iterator[Batch]]]
                  ) -> Callable[[int], Iterator[Batch]]:
    """Turn K per-member ``batches(start)`` functions into one yielding ``(K, ...)`` batches.

    This is how each member gets its own data order (e.g. the stream a single run with that
    member's seed would see) while the ensemble consumes one stacked batch per step.
    """

    def stacked(start: int) -> Iterator[Batch]:
        its = [s(start) for s in streams]
        try:
            for batches in zip(*its, strict=False):
                yield jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *batches)
        finally:
            for it in its:
                close = getattr(it, "close", None)
                if close is not None:
                    close()

    return stacked


def _check_members_axis(batch: Batch, k: int) -> None:
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(batch)}
    if sizes != {k}:
        raise ValueError(f"per-member batches need a leading axis of size K={k} on every array "
                         f"(got leading sizes {sorted(sizes, key=str)}); stack the members' "
                         "batches (stack_streams) or pass shared_batch=True")


class Ensemble:
    """K models of one shape as one vmapped program (a training ``Program``)."""

    def __init__(self, models: Sequence[nnx.Module], loss_fn: LossFn,
                 tx: optax.GradientTransformation, *, max_loss: float = MAX_LOSS,
                 shared_batch: bool = False) -> None:
        self.models, self.tx, self.shared_batch = list(models), tx, shared_batch
        self.members = len(self.models)
        graphdef, self._params, self._rest = stack_models(self.models)
        self._step = make_ensemble_step(graphdef, loss_fn, tx, max_loss=max_loss,
                                        shared_batch=shared_batch)

    def initial_state(self) -> State:
        return (self._params, self._rest, jax.vmap(self.tx.init)(self._params),
                jnp.ones(self.members, bool))

    def step(self, state: State, batch: Batch) -> tuple[State, np.ndarray, np.ndarray]:
        if not self.shared_batch:
            _check_members_axis(batch, self.members)
        loss, params, rest, opt_state, alive = self._step(*state, batch)
        return (params, rest, opt_state, alive), np.asarray(loss), np.asarray(alive)

    def finish(self, state: State) -> None:
        unstack_into(self.models, state[0], state[1])


def train_ensemble(
    models: Sequence[nnx.Module],
    loss_fn: LossFn,
    batches: Callable[[int], Iterator[Batch]],
    settings: TrainSettings,
    *,
    shared_batch: bool = False,
    max_loss: float = MAX_LOSS,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> LoopResult:
    """Train K models of one shape together, as one vmapped program, and write them back.

    ``batches(start)`` yields, per step, either stacked batches whose every array has a leading
    axis of size K (member ``k`` trains on slice ``k``), or with ``shared_batch=True`` one batch
    that every member sees. Each member has its own optimiser state (``make_optimizer``), so
    member ``k`` follows the same trajectory as ``train(models[k], loss_fn, ..., settings)`` on
    its own batches. A member whose loss turns bad is frozen at its last good state while the
    others go on. The loop, its checkpoints and resume are those of every run
    (:func:`~elm.experiments.training.run_loop`).
    """
    program = Ensemble(models, loss_fn, make_optimizer(settings), max_loss=max_loss,
                       shared_batch=shared_batch)
    return run_loop(program, batches, settings.steps, checkpoint_dir=checkpoint_dir,
                    checkpoint_every=checkpoint_every, progress=progress)


# --------------------------------------------------------------------------------------------
# data parallelism


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default: all of them)."""
    return Mesh(np.asarray(list(devices) if devices is not None else jax.devices()), (DATA_AXIS,))


def shard_batch(batch: Batch, mesh: Mesh) -> Batch:
    """Place every array of ``batch`` split along its first (batch) axis over the mesh.

    Each device then holds ``B / devices`` samples; the batch size must divide evenly, since
    uneven shards would give some devices padding that the mean loss would count.
    """
    n = mesh.shape[DATA_AXIS]
    sharding = NamedSharding(mesh, PartitionSpec(DATA_AXIS))

    def put(x: Any) -> jax.Array:
        if np.ndim(x) == 0 or np.shape(x)[0] % n:
            raise ValueError(f"batch arrays need a leading batch axis divisible by the {n} "
                             f"devices, got shape {np.shape(x)}")
        return jax.device_put(x, sharding)

    return jax.tree.map(put, batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Place a full copy of every array of ``tree`` on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


class DataParallel:
    """One model, its batch split over a 1-D device mesh and its state replicated (a
    :class:`~elm.experiments.training.Program`).

    Nothing in the step mentions devices: given these shardings, XLA partitions the forward
    pass by batch and all-reduces the loss and the gradients, so each device applies the same
    update from the gradient of the global mean loss, and the parameters stay identical copies.
    """

    members = 1

    def __init__(self, model: nnx.Module, loss_fn: LossFn, tx: optax.GradientTransformation,
                 mesh: Mesh, max_loss: float = MAX_LOSS) -> None:
        self.model, self.tx, self.mesh = model, tx, mesh
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        self._params = replicate(nnx.as_pure(params), mesh)
        self._rest = replicate(nnx.as_pure(rest), mesh)
        repl = NamedSharding(mesh, PartitionSpec())
        data = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
        self._step = jax.jit(make_guarded_step(graphdef, loss_fn, tx, max_loss),
                             in_shardings=(repl, repl, repl, repl, data), out_shardings=repl,
                             donate_argnums=(0, 1, 2))

    def initial_state(self) -> State:
        return (self._params, self._rest, replicate(self.tx.init(self._params), self.mesh),
                replicate(jnp.asarray(True), self.mesh))

    def step(self, state: State, batch: Batch) -> tuple[State, np.ndarray, np.ndarray]:
        loss, params, rest, opt_state, ok = self._step(*state, shard_batch(batch, self.mesh))
        return (params, rest, opt_state, ok), np.asarray(loss)[None], np.asarray(ok)[None]

    def finish(self, state: State) -> None:
        nnx.update(self.model, state[0], state[1])


def train_data_parallel(
    model: nnx.Module,
    loss_fn: LossFn,
    batches: Callable[[int], Iterator[Batch]],
    settings: TrainSettings,
    *,
    devices: Sequence[jax.Device] | None = None,
    max_loss: float = MAX_LOSS,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 0,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place like :func:`~elm.experiments.training.train`, each batch split
    over ``devices``.

    ``loss_fn`` must average over the batch (as every loss of :mod:`elm.experiments.tasks`
    does), so the gradient is the mean over the global batch and the run matches a single-device
    run on the same batches up to float rounding. The trained arrays written back into ``model``
    stay replicated on the mesh.
    """
    program = DataParallel(model, loss_fn, make_optimizer(settings), data_mesh(devices),
                           max_loss)
    return run_loop(program, batches, settings.steps, checkpoint_dir=checkpoint_dir,
                    checkpoint_every=checkpoint_every, progress=progress,
                    desc=f"train /{program.mesh.size}").member(0)
