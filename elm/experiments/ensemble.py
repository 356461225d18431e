"""Many small models as one compiled program, and one model over several devices.

Why: an ELM neuron is tiny (a NeuronIO ELM has ~54k parameters, an SHD one ~183k), so one
training step leaves most of a CPU or accelerator idle, and the paper's claims rest on many
runs (seeds, ablation grids, the scaling curves of Fig. 3 and 4). Training K members of the
same shape with ``jax.vmap`` turns K small matmuls into one batched matmul and K dispatches
into one; the members stay mathematically independent, so each one ends where a separate
:func:`.training.train` run with the same seed and batches would, up to float
rounding (tested). Whether it is faster depends on the size: on a 2-core CPU about 3x at K = 16 for
a tiny ELM, nothing for the NeuronIO-sized one, whose step is already a large matmul
(``benchmarks/ensemble.py``).

Two tools:

* :func:`train_ensemble`: K models, stacked along a leading axis (``nnx.split`` into one
  graph definition plus stacked arrays), trained with a vmapped loss, gradient and optax update.
  Each member has its own optimiser state and either its own batch stream (batches stacked to
  ``(K, B, ...)``) or one shared batch. A member whose loss turns NaN, infinite or larger than
  ``TrainConfig.max_loss`` is marked diverged and frozen at its state before that step while
  the others go on, instead of stopping everything as a single run does.
* :func:`train_data_parallel`: one model, its batch split over a 1-D device mesh (axis
  ``"data"``) and its parameters replicated; ``jax.jit`` with these shardings inserts the
  all-reduce, so the gradient is that of the mean loss over the global batch.

Both reuse :class:`elm.experiments.training.TrainConfig` and
:func:`elm.experiments.training.make_optimizer`, so the
optimiser and its learning-rate schedule are those of every other run in the book. Neither
writes checkpoints: ensembles are for the many short runs of sweeps, where rerunning is cheaper
than resuming.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from elm.experiments.configs import Experiment
from elm.experiments.training import TrainConfig, TrainResult, make_optimizer
from elm.model import ELM, ELMConfig

Batch = Any
LossFn = Callable[[nnx.Module, Batch], jax.Array]
State = Any  # a pure nnx.State (arrays as leaves)
#: ``(params, rest, opt_state, batch) -> (loss, params, rest, opt_state)``, one model, pure.
MemberStep = Callable[[State, State, Any, Batch], tuple[jax.Array, State, State, Any]]

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
# the step functions


def make_member_step(graphdef: nnx.GraphDef, loss_fn: LossFn,
                     tx: optax.GradientTransformation) -> MemberStep:
    """One model's training step as a pure function of arrays, the unit that gets vmapped.

    It is the same computation as the step inside :func:`.training.train` (``value_and_grad``
    over the ``nnx.Param`` state, then ``tx.update`` and ``optax.apply_updates``, as
    ``nnx.Optimizer.update`` does), written on arrays so that ``jax.vmap`` and shardings apply.
    """

    def step(params: State, rest: State, opt_state: Any, batch: Batch):
        def loss_of(p: State) -> tuple[jax.Array, State]:
            model = nnx.merge(graphdef, p, rest)
            loss = loss_fn(model, batch)
            return loss, nnx.as_pure(nnx.state(model, nnx.Not(nnx.Param)))

        (loss, new_rest), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, new_opt_state = tx.update(grads, opt_state, params)
        return loss, optax.apply_updates(params, updates), new_rest, new_opt_state

    return step


def _keep_where(ok: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``ok``, else ``old``, leaf by leaf (``ok`` is a scalar: one member)."""
    return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def make_guarded_step(graphdef: nnx.GraphDef, loss_fn: LossFn, tx: optax.GradientTransformation,
                      max_loss: float) -> Callable:
    """:func:`make_member_step` that refuses bad steps: ``(params, rest, opt, alive, batch) ->
    (loss, params, rest, opt, ok)``.

    The update is kept only if the member was alive and its loss was finite and at most
    ``max_loss`` (the test :func:`.training.train` applies); otherwise the old state
    comes back unchanged and ``ok`` is False. Selecting inside the program (rather than on the host)
    lets the old state's buffers be donated, and lets each member of a vmapped ensemble
    freeze on its own.
    """
    member = make_member_step(graphdef, loss_fn, tx)

    def step(params, rest, opt_state, alive, batch):
        loss, new_params, new_rest, new_opt = member(params, rest, opt_state, batch)
        ok = alive & jnp.isfinite(loss) & (loss <= max_loss)
        return (loss, _keep_where(ok, new_params, params), _keep_where(ok, new_rest, rest),
                _keep_where(ok, new_opt, opt_state), ok)

    return step


def make_ensemble_step(graphdef: nnx.GraphDef, loss_fn: LossFn, tx: optax.GradientTransformation,
                       *, max_loss: float, shared_batch: bool = False) -> Callable:
    """The jitted K-member step ``(params, rest, opt, alive, batch) -> (loss, params, rest, opt,
    alive)``, every argument but a shared batch with a leading member axis.

    It is :func:`make_guarded_step` under ``jax.vmap``: frozen members are still computed (the
    program's shapes are fixed) but never change again. The state arguments are donated: the
    caller must continue with the returned ones.
    """
    member = make_guarded_step(graphdef, loss_fn, tx, max_loss)
    step = jax.vmap(member, in_axes=(0, 0, 0, 0, None if shared_batch else 0))
    return jax.jit(step, donate_argnums=(0, 1, 2))


# --------------------------------------------------------------------------------------------
# ensemble training


@dataclass
class EnsembleResult:
    """What K members produced: a loss curve and a divergence flag per member."""

    losses: np.ndarray  # (K, steps_done); NaN from a member's divergence on
    diverged: np.ndarray  # (K,) bool
    diverged_at: list[int | None]  # step whose loss was bad, per member
    steps_done: int = 0
    wall_time_s: float = 0.0

    @property
    def members(self) -> int:
        return len(self.diverged)

    def member(self, k: int) -> TrainResult:
        """Member ``k`` as the :class:`.training.TrainResult` a single run would have returned."""
        end = self.diverged_at[k] if self.diverged[k] else self.steps_done
        return TrainResult(losses=[float(v) for v in self.losses[k, :end]], steps_done=end,
                           diverged=bool(self.diverged[k]), diverged_at=self.diverged_at[k],
                           wall_time_s=self.wall_time_s)


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


def train_ensemble(
    models: Sequence[nnx.Module],
    loss_fn: LossFn,
    batches: Callable[[int], Iterator[Batch]],
    config: TrainConfig,
    *,
    shared_batch: bool = False,
    progress: bool = True,
) -> EnsembleResult:
    """Train K models of one shape together, as one vmapped program, and write them back.

    ``batches(start)`` yields, per step, either stacked batches whose every array has a leading
    axis of size K (member ``k`` trains on slice ``k``), or with ``shared_batch=True`` one batch
    that every member sees. Each member has its own optimiser state (``make_optimizer(config)``),
    so member ``k`` follows the same trajectory as ``train(models[k], loss_fn, ..., config)``
    on its own batches. The trained (or, if diverged, last good) states are written into
    ``models`` in place.
    """
    tx = make_optimizer(config)
    graphdef, params, rest = stack_models(models)
    k = len(models)
    opt_state = jax.vmap(tx.init)(params)
    alive = jnp.ones(k, bool)
    step_fn = make_ensemble_step(graphdef, loss_fn, tx, max_loss=config.max_loss,
                                 shared_batch=shared_batch)
    losses = np.full((k, config.steps), np.nan)
    diverged_at: list[int | None] = [None] * k
    t0 = time.perf_counter()
    stream = batches(0)
    bar = tqdm(total=config.steps, disable=not progress, desc=f"train x{k}")
    step = 0
    try:
        while step < config.steps:
            batch = next(stream)
            if not shared_batch:
                _check_members_axis(batch, k)
            loss, params, rest, opt_state, now_alive = step_fn(params, rest, opt_state, alive,
                                                               batch)
            loss, ok, was = np.asarray(loss), np.asarray(now_alive), np.asarray(alive)
            alive = now_alive
            losses[ok, step] = loss[ok]
            for member in np.flatnonzero(was & ~ok):
                diverged_at[member] = step
            step += 1
            bar.update(1)
            if ok.any():
                bar.set_postfix(loss=f"{loss[ok].mean():.4g}", alive=int(ok.sum()),
                                refresh=False)
            else:  # nothing left to train
                break
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    unstack_into(models, params, rest)
    return EnsembleResult(losses=losses[:, :step], diverged=np.array([d is not None
                                                                      for d in diverged_at]),
                          diverged_at=diverged_at, steps_done=step,
                          wall_time_s=time.perf_counter() - t0)


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


def make_data_parallel_step(graphdef: nnx.GraphDef, loss_fn: LossFn,
                            tx: optax.GradientTransformation, mesh: Mesh,
                            max_loss: float = math.inf) -> Callable:
    """:func:`make_guarded_step` jitted with the batch sharded and the state replicated.

    Nothing in the step mentions devices: given these shardings, XLA partitions the forward
    pass by batch and all-reduces the loss and the gradients, so each device applies the same
    update from the gradient of the global mean loss, and the parameters stay identical copies.
    Signature: ``(params, rest, opt, alive, batch) -> (loss, params, rest, opt, ok)``.
    """
    repl = NamedSharding(mesh, PartitionSpec())
    data = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
    return jax.jit(make_guarded_step(graphdef, loss_fn, tx, max_loss),
                   in_shardings=(repl, repl, repl, repl, data), out_shardings=repl,
                   donate_argnums=(0, 1, 2))


def train_data_parallel(
    model: nnx.Module,
    loss_fn: LossFn,
    batches: Callable[[int], Iterator[Batch]],
    config: TrainConfig,
    *,
    devices: Sequence[jax.Device] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place like :func:`.training.train`, each batch split over ``devices``.

    ``loss_fn`` must average over the batch (as every loss of :mod:`elm.experiments.training`
    does), so the gradient is the mean over the global batch and the run matches a single-device
    run on the same batches up to float rounding. A NaN, infinite or exploding loss stops the run
    as in :func:`.training.train`; the model keeps its state from before that step.
    The trained arrays written back into ``model`` stay replicated on the mesh.
    """
    mesh = data_mesh(devices)
    tx = make_optimizer(config)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    params, rest = replicate(nnx.as_pure(params), mesh), replicate(nnx.as_pure(rest), mesh)
    opt_state = replicate(tx.init(params), mesh)
    alive = replicate(jnp.asarray(True), mesh)
    step_fn = make_data_parallel_step(graphdef, loss_fn, tx, mesh, config.max_loss)
    result = TrainResult()
    t0 = time.perf_counter()
    stream = batches(0)
    bar = tqdm(total=config.steps, disable=not progress, desc=f"train /{mesh.size}")
    step = 0
    try:
        while step < config.steps:
            batch = shard_batch(next(stream), mesh)
            loss, params, rest, opt_state, ok = step_fn(params, rest, opt_state, alive, batch)
            if not bool(ok):  # the step returned the old state unchanged
                result.diverged, result.diverged_at = True, step
                break
            loss = float(loss)
            result.losses.append(loss)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    nnx.update(model, params, rest)
    result.steps_done = step
    result.wall_time_s = time.perf_counter() - t0
    return result
