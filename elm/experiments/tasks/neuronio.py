"""NeuronIO: windows of the authors' training split, BCE + MSE after the burn-in, test metrics."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from elm.data import neuronio
from elm.experiments.configs import Experiment
from elm.experiments.neuronio_eval import evaluate_neuronio
from elm.experiments.tasks import Task, predictor


def neuronio_loss(y: jax.Array, spikes: jax.Array, soma: jax.Array, burn_in: int) -> jax.Array:
    """BCE on the spike logit (channel 0) + MSE on the scaled soma (channel 1), equal weights.

    Both are averaged over the steps after ``burn_in``: the memory starts at zero, so the first
    steps are not a fair prediction (App. B uses a 150 ms burn-in).
    """
    y = y[:, burn_in:]
    bce = optax.sigmoid_binary_cross_entropy(y[..., 0], spikes[:, burn_in:]).mean()
    mse = jnp.mean((y[..., 1] - soma[:, burn_in:]) ** 2)
    return bce + mse


def neuronio_provenance(root: Any) -> dict[str, Any]:
    """Which NeuronIO data a run used: the folder, whether it is the stand-in, file counts."""
    path, description = neuronio.resolve_data_dir(root)
    split = neuronio.discover(path)
    stand_in = description == neuronio.STAND_IN_DESCRIPTION
    return {"family": "neuronio", "dir": str(path), "stand_in": stand_in,
            "description": description,
            "files": {"train": len(split.train), "valid": len(split.valid),
                      "test": len(split.test)}}


def task(experiment: Experiment, data_dir: Any, seed: int) -> Task:
    """Windows of the authors' training split; BCE + MSE after the burn-in; test-set metrics."""
    split = neuronio.discover(data_dir)
    settings = experiment.train
    window = settings.window_ms or 500
    burn_in = settings.burn_in_ms
    # Training feeds the ELM a SparseInput (about 1 % of NeuronIO's inputs are spikes): same
    # outputs, and the weight gradient of the input projection touches only the active synapses
    # (benchmarks/recurrence.py). The baselines read dense arrays.
    sparse = experiment.model == "elm"

    def batches(start: int) -> Iterator[Any]:
        with neuronio.WindowSampler(split.train, batch_size=settings.batch_size, window=window,
                                    seed=seed, sparse=sparse) as sampler:
            yield from itertools.islice(sampler, start, None)

    def loss_fn(model: nnx.Module, batch: Any):
        x, spikes, soma = batch
        return neuronio_loss(model(x), spikes, soma, burn_in=burn_in)

    n_eval = experiment.evaluation["test_files"]  # configs.EVALUATION (None: all)
    eval_files = split.test[:n_eval]

    def evaluate(model: nnx.Module) -> dict[str, float]:
        # dense: the forward pass alone gains little from sparsity, and whole-file windows of
        # varying spike counts would compile one program per count
        metrics = evaluate_neuronio(predictor(model), eval_files, burn_in=burn_in)
        return {**metrics, "eval_files": len(eval_files)}

    return Task(batches, loss_fn, evaluate, neuronio_provenance(data_dir))
