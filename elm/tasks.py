"""What a training run needs from a dataset family: batches, a loss, an evaluation, provenance.

Why a layer between data and runs: :func:`elm.run.run` trains any experiment of
:mod:`elm.configs` the same way (the fairness of the paper's comparisons depends on it), so what
differs between NeuronIO, SHD and LRA (how batches are drawn, which loss, which metrics) lives
here, one function per family, selected by ``Experiment.dataset``.

Every ``batches(start)`` is deterministic from the run's seed and starts at step ``start``, so a
run resumed from a checkpoint sees exactly the batches the uninterrupted run would have.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flax import nnx

from elm.configs import Experiment
from elm.data import neuronio
from elm.metrics import evaluate_neuronio
from elm.train import LossFn, neuronio_loss


@dataclass
class Task:
    """A dataset family bound to one experiment and seed."""

    batches: Callable[[int], Iterator[Any]]
    loss_fn: LossFn
    evaluate: Callable[[nnx.Module], dict[str, float]]
    data: dict[str, Any] = field(default_factory=dict)  # provenance, stored in the run record


def _predictor(model: nnx.Module) -> Callable[[np.ndarray], np.ndarray]:
    forward = nnx.jit(lambda m, x: m(x))
    return lambda x: np.asarray(forward(model, x))


# --------------------------------------------------------------------------------------------
# NeuronIO

#: Test files evaluated per scale (None: all); the stand-in's test split has 3 files.
NEURONIO_EVAL_FILES = {"smoke": 1, "demo": None, "paper": None}


def neuronio_provenance(root: Any) -> dict[str, Any]:
    """Which NeuronIO data a run used: the folder, whether it is the stand-in, file counts."""
    path = neuronio.resolve_data_dir(root)
    split = neuronio.discover(path)
    stand_in = path.resolve() == neuronio.stand_in_dir().resolve()
    kind = ("stand-in: our own NEURON simulation in NeuronIO format (data/neuronio)"
            if stand_in else f"NeuronIO files under {path}")
    return {"family": "neuronio", "dir": str(path), "stand_in": stand_in, "description": kind,
            "files": {"train": len(split.train), "valid": len(split.valid),
                      "test": len(split.test)}}


def neuronio_task(experiment: Experiment, data_dir: Any, seed: int) -> Task:
    """Windows of the authors' training split; BCE + MSE after the burn-in; test-set metrics."""
    split = neuronio.discover(neuronio.resolve_data_dir(data_dir))
    settings = experiment.train
    window = settings.window_ms or 500
    burn_in = settings.burn_in_ms

    def batches(start: int) -> Iterator[Any]:
        with neuronio.WindowSampler(split.train, batch_size=settings.batch_size, window=window,
                                    seed=seed) as sampler:
            yield from itertools.islice(sampler, start, None)

    def loss_fn(model: nnx.Module, batch: Any):
        x, spikes, soma = batch
        return neuronio_loss(model(x), spikes, soma, burn_in=burn_in)

    n_eval = NEURONIO_EVAL_FILES[experiment.scale]
    eval_files = split.test[:n_eval]

    def evaluate(model: nnx.Module) -> dict[str, float]:
        metrics = evaluate_neuronio(_predictor(model), eval_files, burn_in=burn_in)
        return {**metrics, "eval_files": len(eval_files)}

    return Task(batches, loss_fn, evaluate, neuronio_provenance(data_dir))


TASKS: dict[str, Callable[[Experiment, Any, int], Task]] = {
    "neuronio": neuronio_task,
}


def make_task(experiment: Experiment, data_dir: Any = None, seed: int = 0) -> Task:
    """The task of ``experiment.dataset`` (e.g. ``"neuronio"``, ``"shd-adding"``)."""
    family = experiment.dataset
    maker = TASKS.get(family) or TASKS.get(family.split("/")[0])
    if maker is None:
        raise KeyError(f"no task for dataset {family!r} (experiment {experiment.name}); "
                       f"known: {sorted(TASKS)}")
    return maker(experiment, data_dir, seed)
