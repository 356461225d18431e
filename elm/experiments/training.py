"""The one training loop: a single model, K models as one vmapped ensemble, or one model over
several devices all go through :func:`run_loop`, with one guarded step, one checkpoint/resume path
and one divergence rule.

Why one loop: the paper's comparisons (ELM vs LSTM vs TCN, ablation grids) are only fair if every
model is trained the same way, and a batch run on a cluster must survive being killed. So:

* the optimiser is built from :class:`TrainSettings` (Adam or Adamax, cosine decay over the whole
  run, as App. B);
* the data stream is a function ``batches(start_step)`` that yields the batches from
  ``start_step`` on, deterministic from the seed, so a resumed run sees exactly the batches the
  uninterrupted run would have;
* every step is *guarded* (:func:`make_guarded_step`): an update is kept only if the loss is
  finite and at most ``max_loss``; otherwise the state from before the step comes back, and the
  model (or the ensemble member) is marked diverged at that step (the paper reports divergent
  runs). A single model then stops; ensemble members freeze one by one while the others go on;
* orbax checkpoints (written atomically: a crash never leaves a half-written one) hold the whole
  training state and the loss history, and :func:`run_loop` resumes from the latest one.

How the K models are laid out (one model, a vmapped stack, a device mesh) is a :class:`Program`;
:mod:`elm.experiments.ensemble` provides the ensemble and data-parallel ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from tqdm import tqdm

Batch = Any
LossFn = Callable[[nnx.Module, Batch], jax.Array]
State = Any  # a pytree of arrays: (params, rest, optimiser state, alive)

#: A loss above this counts as exploding (the step is refused like a NaN one).
MAX_LOSS = 1e6


#: The range of each numeric training setting (a test and how to say it), checked by
#: :class:`TrainSettings` and named in the messages of refused overrides.
TRAIN_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (lambda v: v > 0, "> 0"),
    "batch_size": (lambda v: v >= 1, ">= 1"),
    "epochs": (lambda v: v >= 1, ">= 1"),
    "batches_per_epoch": (lambda v: v >= 1, ">= 1"),
    "burn_in_ms": (lambda v: v >= 0, ">= 0"),
    "window_ms": (lambda v: v is None or v >= 1, ">= 1 (or null)"),
    "input_dropout": (lambda v: 0 <= v < 1, "in [0, 1)"),
}


@dataclass(frozen=True)
class TrainSettings:
    """How a model is trained (App. B unless an experiment's sources say otherwise).

    ``batch_size``, ``burn_in_ms``, ``window_ms`` and ``input_dropout`` are read by the dataset
    family's task (batches and loss); the rest by the loop. The defaults are the paper's
    NeuronIO optimiser; an experiment states every value it uses.
    """

    optimizer: Literal["adam", "adamax"] = "adam"
    learning_rate: float = 5e-4
    batch_size: int = 8
    epochs: int = 1
    batches_per_epoch: int = 1
    schedule: Literal["cosine", "constant"] = "cosine"
    burn_in_ms: int = 0  # loss ignores the first steps (NeuronIO: 150 ms)
    window_ms: int | None = None  # training sample length (NeuronIO: 500 ms windows)
    input_dropout: float = 0.0

    def __post_init__(self) -> None:
        for name, (test, says) in TRAIN_RANGES.items():
            if not test(getattr(self, name)):
                raise ValueError(f"train.{name} must be {says}, got {getattr(self, name)!r}")
        if self.optimizer not in ("adam", "adamax"):
            raise ValueError(f"train.optimizer must be 'adam' or 'adamax', got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"train.schedule must be 'cosine' or 'constant', "
                             f"got {self.schedule!r}")

    @property
    def steps(self) -> int:
        """Optimiser steps of the whole run."""
        return self.epochs * self.batches_per_epoch


@dataclass
class TrainResult:
    """What a single-model run produced: the loss curve and how it ended."""

    losses: list[float] = field(default_factory=list)
    steps_done: int = 0
    diverged: bool = False
    diverged_at: int | None = None
    resumed_from: int | None = None
    wall_time_s: float = 0.0


@dataclass
class LoopResult:
    """What :func:`run_loop` produced for K members (K = 1 for a single model)."""

    losses: np.ndarray  # (K, steps_done); NaN from a member's divergence on
    diverged_at: list[int | None]  # the step whose loss was refused, per member
    steps_done: int
    resumed_from: int | None
    wall_time_s: float

    @property
    def members(self) -> int:
        return len(self.diverged_at)

    @property
    def diverged(self) -> np.ndarray:
        """(K,) bool: which members diverged."""
        return np.array([d is not None for d in self.diverged_at])

    def member(self, k: int = 0) -> TrainResult:
        """Member ``k`` as the :class:`TrainResult` a single run would have returned."""
        end = self.diverged_at[k] if self.diverged_at[k] is not None else self.steps_done
        return TrainResult(losses=[float(v) for v in self.losses[k, :end]], steps_done=end,
                           diverged=self.diverged_at[k] is not None,
                           diverged_at=self.diverged_at[k], resumed_from=self.resumed_from,
                           wall_time_s=self.wall_time_s)


def make_optimizer(settings: TrainSettings) -> optax.GradientTransformation:
    """Adam or Adamax with the learning rate decayed by a cosine over the whole run."""
    lr = (optax.cosine_decay_schedule(settings.learning_rate, settings.steps)
          if settings.schedule == "cosine" else settings.learning_rate)
    return {"adam": optax.adam, "adamax": optax.adamax}[settings.optimizer](lr)


def _keep_where(ok: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``ok``, else ``old``, leaf by leaf (``ok`` is a scalar: one member)."""
    return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def make_guarded_step(graphdef: nnx.GraphDef, loss_fn: LossFn, tx: optax.GradientTransformation,
                      max_loss: float = MAX_LOSS) -> Callable:
    """One model's training step as a pure function of arrays, refusing bad steps:
    ``(params, rest, opt_state, alive, batch) -> (loss, params, rest, opt_state, ok)``.

    ``value_and_grad`` over the ``nnx.Param`` state, then ``tx.update`` and
    ``optax.apply_updates`` (what ``nnx.Optimizer.update`` does), written on arrays so that
    ``jax.vmap`` and shardings apply. The update is kept only if the member was alive and its
    loss finite and at most ``max_loss``; otherwise the old state comes back and ``ok`` is False.
    Selecting inside the program lets the old state's buffers be donated, and lets each member
    of a vmapped ensemble freeze on its own.
    """

    def step(params, rest, opt_state, alive, batch):
        def loss_of(p: State) -> tuple[jax.Array, State]:
            model = nnx.merge(graphdef, p, rest)
            loss = loss_fn(model, batch)
            return loss, nnx.as_pure(nnx.state(model, nnx.Not(nnx.Param)))

        (loss, new_rest), grads = jax.value_and_grad(loss_of, has_aux=True)(params)
        updates, new_opt = tx.update(grads, opt_state, params)
        new_params = optax.apply_updates(params, updates)
        ok = alive & jnp.isfinite(loss) & (loss <= max_loss)
        return (loss, _keep_where(ok, new_params, params), _keep_where(ok, new_rest, rest),
                _keep_where(ok, new_opt, opt_state), ok)

    return step


class Program(Protocol):
    """How K members are laid out and stepped (one model, a vmapped stack, a device mesh)."""

    members: int

    def initial_state(self) -> State:
        """The training state before the first step: ``(params, rest, opt_state, alive)``."""

    def step(self, state: State, batch: Batch) -> tuple[State, np.ndarray, np.ndarray]:
        """One guarded step: the new state, each member's loss and whether it was kept."""

    def finish(self, state: State) -> None:
        """Write the trained (or last good) state back into the models."""


class SingleModel:
    """One model on the default device: the program of an ordinary run."""

    members = 1

    def __init__(self, model: nnx.Module, loss_fn: LossFn, tx: optax.GradientTransformation,
                 max_loss: float = MAX_LOSS) -> None:
        self.model, self.tx = model, tx
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        self._params, self._rest = nnx.as_pure(params), nnx.as_pure(rest)
        self._step = jax.jit(make_guarded_step(graphdef, loss_fn, tx, max_loss),
                             donate_argnums=(0, 1, 2))

    def initial_state(self) -> State:
        return (self._params, self._rest, self.tx.init(self._params), jnp.asarray(True))

    def step(self, state: State, batch: Batch) -> tuple[State, np.ndarray, np.ndarray]:
        params, rest, opt_state, alive = state
        loss, params, rest, opt_state, ok = self._step(params, rest, opt_state, alive, batch)
        return (params, rest, opt_state, ok), np.asarray(loss)[None], np.asarray(ok)[None]

    def finish(self, state: State) -> None:
        nnx.update(self.model, state[0], state[1])


def _manager(directory: Path) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        directory.resolve(),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False),
    )


def _save(manager: ocp.CheckpointManager, step: int, state: State, losses: np.ndarray,
          diverged_at: list[int | None]) -> None:
    payload = {"state": state, "losses": np.asarray(losses[:, :step], np.float64),
               "diverged_at": np.asarray([-1 if d is None else d for d in diverged_at])}
    manager.save(step, args=ocp.args.StandardSave(payload))


def _restore(manager: ocp.CheckpointManager, step: int, state: State, members: int
             ) -> tuple[State, np.ndarray, list[int | None]]:
    template = {"state": state, "losses": np.zeros((members, step), np.float64),
                "diverged_at": np.zeros(members, np.int64)}
    restored = manager.restore(step, args=ocp.args.StandardRestore(template))
    diverged_at = [None if d < 0 else int(d) for d in np.asarray(restored["diverged_at"])]
    # orbax gives back host arrays; put them where the template's arrays live (e.g. a mesh)
    placed = jax.tree.map(lambda new, old: jax.device_put(new, old.sharding)
                          if isinstance(old, jax.Array) else new, restored["state"], state)
    return placed, np.asarray(restored["losses"]), diverged_at


def load_checkpoint(model: nnx.Module, settings: TrainSettings, directory: str | Path,
                    step: int | None = None) -> int:
    """Load the model state of a run's checkpoint (the latest, or ``step``) into ``model``.

    ``model`` must be built like the run's (same experiment); ``settings`` rebuild the
    optimiser state the checkpoint also holds. Returns the step that was loaded.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no checkpoints (has the run been trained here?)")
    program = SingleModel(model, lambda m, b: jnp.zeros(()), make_optimizer(settings))
    manager = _manager(directory)
    try:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"{directory}: no finished checkpoint")
        state, _, _ = _restore(manager, step, program.initial_state(), 1)
    finally:
        manager.close()
    program.finish(state)
    return step


def run_loop(program: Program, batches: Callable[[int], Iterator[Batch]], steps: int, *,
             checkpoint_dir: str | Path | None = None, checkpoint_every: int = 0,
             checkpoint_min_s: float = 0.0, progress: bool = True,
             desc: str = "train") -> LoopResult:
    """Step ``program`` ``steps`` times (fewer if every member diverges) and write it back.

    ``batches(start)`` must yield the batches of steps ``start, start + 1, ...``; if it returns
    a generator, the generator is closed when training ends, so a sampler opened in a ``with``
    block inside it stops its background thread. With a ``checkpoint_dir`` holding checkpoints
    of an earlier (killed) run, training resumes from the latest one; checkpoints are written
    every ``checkpoint_every`` steps (0: only at the end) and at the end, but no sooner than
    ``checkpoint_min_s`` seconds after the last one: a save costs about half a second, so a
    short run (a chapter's demo, seconds of steps) writes its final checkpoint only, while a
    long one still loses at most a few minutes when killed.
    """
    k = program.members
    state = program.initial_state()
    losses = np.full((k, steps), np.nan)
    diverged_at: list[int | None] = [None] * k
    manager, start, resumed_from = None, 0, None
    if checkpoint_dir is not None:
        manager = _manager(Path(checkpoint_dir))
        latest = manager.latest_step()
        if latest is not None:
            state, done, diverged_at = _restore(manager, latest, state, k)
            losses[:, :latest] = done
            start = resumed_from = latest
    alive = np.array([d is None for d in diverged_at])
    t0 = last_save = time.perf_counter()
    stream = batches(start)
    bar = tqdm(total=steps, initial=start, disable=not progress,
               desc=desc if k == 1 else f"{desc} x{k}")
    step = start
    try:
        while step < steps and alive.any():
            state, loss, ok = program.step(state, next(stream))
            for member in np.flatnonzero(alive & ~ok):
                diverged_at[member] = step
            alive = ok
            if not alive.any():  # this step was refused for everyone: nothing left to train
                break
            losses[ok, step] = loss[ok]
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss[ok].mean():.4g}", refresh=False)
            if (manager and checkpoint_every and step % checkpoint_every == 0
                    and time.perf_counter() - last_save >= checkpoint_min_s):
                _save(manager, step, state, losses, diverged_at)
                last_save = time.perf_counter()
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close is not None:  # a generator's close() runs its `finally`/`with` clean-up
            close()
    if manager is not None:
        if alive.any() and manager.latest_step() != step:
            _save(manager, step, state, losses, diverged_at)
        manager.wait_until_finished()
        manager.close()
    program.finish(state)
    return LoopResult(losses[:, :step], diverged_at, step, resumed_from,
                      time.perf_counter() - t0)


def train(model: nnx.Module, loss_fn: LossFn, batches: Callable[[int], Iterator[Batch]],
          settings: TrainSettings, *, checkpoint_dir: str | Path | None = None,
          checkpoint_every: int = 0, checkpoint_min_s: float = 0.0,
          max_loss: float = MAX_LOSS, progress: bool = True) -> TrainResult:
    """Train ``model`` in place for ``settings.steps`` steps and return its loss history.

    A NaN, infinite or exploding (``> max_loss``) loss stops the run and marks it diverged;
    the model keeps its state from before that step. See :func:`run_loop` for ``batches`` and
    the checkpoints (``checkpoint_every``, ``checkpoint_min_s``).
    """
    program = SingleModel(model, loss_fn, make_optimizer(settings), max_loss)
    return run_loop(program, batches, settings.steps, checkpoint_dir=checkpoint_dir,
                    checkpoint_every=checkpoint_every, checkpoint_min_s=checkpoint_min_s,
                    progress=progress).member(0)

