"""What a training run needs from a dataset family: batches, a loss, an evaluation, provenance.

Why a layer between data and runs: :func:`elm.experiments.run.run` trains any experiment of
:mod:`elm.experiments.configs` the same way (the fairness of the paper's comparisons depends on
it), so what differs between NeuronIO, SHD and LRA (how batches are drawn, which loss, which
metrics) lives here, one module per family with a function ``task(experiment, data_dir, seed) ->
Task``, selected by ``Experiment.dataset``.

Every ``batches(start)`` is deterministic from the run's seed and starts at step ``start``, so a
run resumed from a checkpoint sees exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from elm.experiments.configs import Experiment
from elm.experiments.training import LossFn

#: dataset family (the part of ``Experiment.dataset`` before any "/") -> module with ``task``
FAMILIES = {"neuronio": "elm.experiments.tasks.neuronio", "shd": "elm.experiments.tasks.shd",
            "shd-adding": "elm.experiments.tasks.shd", "lra": "elm.experiments.tasks.lra"}


@dataclass
class Task:
    """A dataset family bound to one experiment and seed."""

    batches: Callable[[int], Iterator[Any]]
    loss_fn: LossFn
    evaluate: Callable[[nnx.Module], dict[str, float]]
    data: dict[str, Any] = field(default_factory=dict)  # provenance, stored in the run record


def predictor(model: nnx.Module) -> Callable[[np.ndarray], np.ndarray]:
    """``x -> model(x)`` compiled once per input shape, returning numpy."""
    forward = nnx.jit(lambda m, x: m(x))
    return lambda x: np.asarray(forward(model, x))


def last_step_cross_entropy(y: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy on the last time step's output (SHD and LRA, App. B)."""
    return optax.softmax_cross_entropy_with_integer_labels(y[:, -1], labels).mean()


def _family(experiment: Experiment) -> Any:
    family = experiment.dataset.split("/")[0]
    if family not in FAMILIES:
        raise KeyError(f"no task for dataset {experiment.dataset!r} (experiment "
                       f"{experiment.name}); known families: {sorted(FAMILIES)}")
    return importlib.import_module(FAMILIES[family])


def check_task(experiment: Experiment) -> None:
    """Raise ``ValueError`` if the task of ``experiment`` cannot run its settings (e.g. SHD's
    ``dt`` against ``data.bin_ms``), without reading any data: the family module's ``check``."""
    check = getattr(_family(experiment), "check", None)
    if check is not None:
        check(experiment)


def make_task(experiment: Experiment, data_dir: Any = None, seed: int = 0) -> Task:
    """The task of ``experiment.dataset`` (``"neuronio"``, ``"shd-adding"``, ``"lra/text"``...)."""
    return _family(experiment).task(experiment, data_dir, seed)
