"""The training loop every chapter and run shares: optax, checkpoints, resume, divergence.

Why one loop: the paper's comparisons (ELM vs LSTM vs TCN, ablation grids) are only fair if every
model is trained the same way, and a batch run on a cluster must survive being killed. So:

* the optimiser is built from a :class:`TrainConfig` (Adam or Adamax, cosine decay over the whole
  run, as App. B);
* the data stream is a function ``batches(start_step)`` that yields the batches from
  ``start_step`` on, deterministic from the seed, so a resumed run sees exactly the batches the
  uninterrupted run would have;
* orbax checkpoints (written atomically: a crash never leaves a half-written one) hold the model,
  the optimiser state and the loss history, and :func:`train` resumes from the latest one;
* a NaN, infinite or exploding loss stops the run and marks it diverged (the paper reports
  divergent runs); the state from before the bad step is what the last checkpoint holds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from tqdm import tqdm

Batch = Any
LossFn = Callable[[nnx.Module, Batch], jax.Array]


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one run (defaults: the paper's NeuronIO protocol, App. B)."""

    steps: int  # optimiser steps in the whole run (epochs x batches per epoch)
    learning_rate: float = 5e-4
    optimizer: Literal["adam", "adamax"] = "adam"
    schedule: Literal["cosine", "constant"] = "cosine"
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end (if a dir is set)
    max_loss: float = 1e6  # a loss above this counts as exploding
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"TrainConfig.steps must be >= 1, got {self.steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in ("adam", "adamax"):
            raise ValueError(f"TrainConfig.optimizer must be 'adam' or 'adamax', "
                             f"got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"TrainConfig.schedule must be 'cosine' or 'constant', "
                             f"got {self.schedule!r}")


@dataclass
class TrainResult:
    """What a run produced: the loss curve and how it ended."""

    losses: list[float] = field(default_factory=list)
    steps_done: int = 0
    diverged: bool = False
    diverged_at: int | None = None
    resumed_from: int | None = None
    wall_time_s: float = 0.0


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Adam or Adamax with the learning rate decayed by a cosine over the whole run."""
    lr = (optax.cosine_decay_schedule(config.learning_rate, config.steps)
          if config.schedule == "cosine" else config.learning_rate)
    return {"adam": optax.adam, "adamax": optax.adamax}[config.optimizer](lr)


def neuronio_loss(y: jax.Array, spikes: jax.Array, soma: jax.Array, burn_in: int) -> jax.Array:
    """BCE on the spike logit (channel 0) + MSE on the scaled soma (channel 1), equal weights.

    Both are averaged over the steps after ``burn_in``: the memory starts at zero, so the first
    steps are not a fair prediction (App. B uses a 150 ms burn-in).
    """
    y = y[:, burn_in:]
    bce = optax.sigmoid_binary_cross_entropy(y[..., 0], spikes[:, burn_in:]).mean()
    mse = jnp.mean((y[..., 1] - soma[:, burn_in:]) ** 2)
    return bce + mse


def last_step_cross_entropy(y: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy on the last time step's output (SHD and LRA, App. B)."""
    return optax.softmax_cross_entropy_with_integer_labels(y[:, -1], labels).mean()


def _checkpoint_manager(directory: Path, config: TrainConfig) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        directory.resolve(),
        options=ocp.CheckpointManagerOptions(max_to_keep=2, enable_async_checkpointing=False),
    )


def _save(manager: ocp.CheckpointManager, step: int, model, optimizer, losses) -> None:
    state = {
        "model": nnx.to_pure_dict(nnx.state(model)),
        "optimizer": nnx.to_pure_dict(nnx.state(optimizer)),
        "losses": np.asarray(losses, np.float64),
    }
    manager.save(step, args=ocp.args.StandardSave(state))


def _restore(manager: ocp.CheckpointManager, step: int, model, optimizer) -> list[float]:
    template = {
        "model": nnx.to_pure_dict(nnx.state(model)),
        "optimizer": nnx.to_pure_dict(nnx.state(optimizer)),
        "losses": np.zeros(step, np.float64),
    }
    restored = manager.restore(step, args=ocp.args.StandardRestore(template))
    model_state, opt_state = nnx.state(model), nnx.state(optimizer)
    nnx.replace_by_pure_dict(model_state, restored["model"])
    nnx.replace_by_pure_dict(opt_state, restored["optimizer"])
    nnx.update(model, model_state)
    nnx.update(optimizer, opt_state)
    return [float(v) for v in restored["losses"]]


def train(
    model: nnx.Module,
    loss_fn: LossFn,
    batches: Callable[[int], Iterator[Batch]],
    config: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` in place for ``config.steps`` steps and return the loss history.

    ``batches(start)`` must yield the batches of steps ``start, start + 1, ...``; if it returns
    a generator, the generator is closed when training ends, so a sampler opened in a ``with``
    block inside it stops its background thread. With a
    ``checkpoint_dir`` holding checkpoints of an earlier (killed) run, training resumes from the
    latest one.
    """
    optimizer = nnx.Optimizer(model, make_optimizer(config), wrt=nnx.Param)

    @nnx.jit
    def step_fn(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(loss_fn)(model, batch)
        optimizer.update(model, grads)
        return loss

    result = TrainResult()
    manager = None
    start = 0
    if checkpoint_dir is not None:
        manager = _checkpoint_manager(Path(checkpoint_dir), config)
        latest = manager.latest_step()
        if latest is not None:
            result.losses = _restore(manager, latest, model, optimizer)
            start = result.resumed_from = latest
    t0 = time.perf_counter()
    stream = batches(start)
    bar = tqdm(total=config.steps, initial=start, disable=not progress, desc="train")
    step = start
    try:
        while step < config.steps:
            # keep the state before this step: a diverging step must not overwrite it
            loss = float(step_fn(model, optimizer, next(stream)))
            if not math.isfinite(loss) or loss > config.max_loss:
                result.diverged, result.diverged_at = True, step
                break
            result.losses.append(loss)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
            if manager and config.checkpoint_every and step % config.checkpoint_every == 0:
                _save(manager, step, model, optimizer, result.losses)
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close is not None:  # a generator's close() runs its `finally`/`with` clean-up
            close()
    if manager is not None:
        if not result.diverged and manager.latest_step() != step:
            _save(manager, step, model, optimizer, result.losses)
        manager.wait_until_finished()
        manager.close()
    result.steps_done = step
    result.wall_time_s = time.perf_counter() - t0
    return result
