"""SHD and SHD-Adding: binned spikes, cross-entropy on the last output, accuracy on fixed sets.

One function, :func:`task`, serves both datasets (``Experiment.dataset`` "shd" or "shd-adding")
and all four models of Fig 5 / Fig S4 (ELM, Branch-ELM, LSTM, SNN). What it does, with App. B:

* **Data** (:mod:`elm.data.shd`): each recording cut to ``data.duration_s`` (1 s) and binned at
  ``data.bin_ms`` (10 ms by default); the authors' validation split, training order and
  SHD-Adding pairs. The real files come from ``data_dir`` or ``$ELM_DATA_DIR``, else the offline
  stand-in is used and the provenance says so.
* **Time step.** App. B sets "Δt to the bin size". A model with a ``dt`` (the ELM and the SNN,
  whose time constants are in ms) must have ``dt == data.bin_ms``, otherwise :func:`task` raises
  a ``ValueError`` naming both: a sweep that overrides ``data.bin_ms`` must override ``dt`` too
  (``{"data.bin_ms": 2, "dt": 2}``), so that no run silently keeps 10 ms time constants on 2 ms
  bins. The LSTM has no time constants and no ``dt``.
* **Loss**: :func:`elm.experiments.tasks.last_step_cross_entropy`, with input dropout
  ``train.input_dropout`` (0.5; none for the SNN) applied inside the loss. Its key is part of
  each batch, derived from ``(seed, step)`` only (:func:`dropout_key`), so a run resumed at step
  ``s`` draws exactly the masks the uninterrupted run draws. Kept inputs are scaled by
  ``1/(1-p)`` (inverted dropout) unless ``data.dropout_rescale`` is False (the authors'
  notebook zeroes inputs without rescaling). The LSTM also gets its variational recurrent
  dropout (``recurrent_dropout``, 0.3) from the same key; the SNN adds
  :func:`elm.baselines.snn_spike_l1` with weight ``data.spike_l1`` (0.01).
* **Evaluation** runs without any dropout by default. The authors' notebook
  (``train_elm_on_shd.ipynb``) applies the same random input dropout in its validation and test
  loops too (chapter 2 lists it); ``data.eval_dropout = True`` reproduces that, with masks from a
  fixed key so that the score is deterministic. Accuracy (``sklearn.metrics.accuracy_score``)
  of the last output's argmax on the authors' fixed validation and test sets (SHD: every sample;
  SHD-Adding: 4,000 and 16,000 fixed pairs) and on a fixed subset of the training data. At the
  reduced scales only the first samples / pairs of each set are scored (``configs.EVALUATION``);
  the metrics state the sizes (``n_valid``, ``n_test``, ``n_train_eval``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from sklearn.metrics import accuracy_score

from elm.baselines import snn_spike_l1
from elm.data import shd
from elm.experiments.configs import Experiment
from elm.experiments.tasks import Task, last_step_cross_entropy, predictor

#: Sequences per evaluation forward pass (the last batch is padded, so one shape compiles).
EVAL_BATCH = 64
#: Mixed into every dropout key, so dropout never reuses the model initialisation's keys.
DROPOUT_STREAM = 0x5D0
#: Seed of the training pairs scored for ``train_accuracy`` (SHD-Adding), apart from the
#: validation / test draws (seed 0, as the authors).
TRAIN_EVAL_SEED = 1


def check_time_step(experiment: Experiment) -> None:
    """Raise unless the model's ``dt`` equals ``data.bin_ms`` (App. B: Δt = bin size)."""
    bin_ms = float(experiment.data["bin_ms"])
    if experiment.model == "elm":
        dt: float | None = experiment.elm_config().dt
    else:
        dt = experiment.model_args.get("dt")
    if dt is not None and not math.isclose(float(dt), bin_ms):
        raise ValueError(
            f"{experiment.name}: the model's dt = {dt:g} ms but data.bin_ms = {bin_ms:g} ms; "
            f"App. B sets the time step to the bin size, so change both together, e.g. "
            f"overrides {{'data.bin_ms': {bin_ms:g}, 'dt': {bin_ms:g}}}")


def dropout_key(seed: int, step: int, *, evaluation: bool = False) -> jax.Array:
    """The dropout key of training step ``step`` of a run with ``seed`` (depends on nothing
    else); ``evaluation=True``: the key of evaluation batch ``step`` (a stream of its own)."""
    stream = jax.random.fold_in(jax.random.key(seed), DROPOUT_STREAM + int(evaluation))
    return jax.random.fold_in(stream, step)


def input_dropout(x: jax.Array, key: jax.Array, p: float, rescale: bool = True) -> jax.Array:
    """Zero each input bin with probability ``p``; kept ones times ``1/(1-p)`` if ``rescale``."""
    if p <= 0.0:
        return x
    keep = jax.random.bernoulli(key, 1.0 - p, x.shape)
    return jnp.where(keep, x / (1.0 - p) if rescale else x, 0.0)


def _subset(eval_set: shd.EvalSet, n: int | None) -> shd.EvalSet:
    if n is None or n >= len(eval_set):
        return eval_set
    second = None if eval_set.second is None else eval_set.second[:n]
    return shd.EvalSet(eval_set.samples, eval_set.first[:n], second, eval_set.targets[:n])


def train_eval_set(samples: shd.Samples, task_name: str, n: int) -> shd.EvalSet:
    """A fixed subset of the training data to score: the first ``n`` samples, or ``n`` pairs."""
    if task_name == "shd":
        return _subset(shd.eval_set(samples, "shd"), n)
    draws = shd.eval_set(samples, "shd-adding", math.ceil(n / shd.BATCH_SIZE), shd.BATCH_SIZE,
                         TRAIN_EVAL_SEED)
    return _subset(draws, n)


def accuracy(predict, eval_set: shd.EvalSet, *, batch_size: int = EVAL_BATCH,
             dropout: tuple[float, bool, int] | None = None) -> float:
    """Accuracy of the last output's argmax on ``eval_set`` (batches padded to one shape).

    ``dropout=(p, rescale, seed)`` applies input dropout with fixed masks (the authors'
    evaluation); None evaluates on the clean inputs.
    """
    predictions = []
    for i, (x, _) in enumerate(eval_set.batches(batch_size)):
        n = len(x)
        if n < batch_size:
            x = np.concatenate([x, np.zeros((batch_size - n, *x.shape[1:]), x.dtype)])
        if dropout is not None:
            p, rescale, seed = dropout
            x = input_dropout(jnp.asarray(x), dropout_key(seed, i, evaluation=True), p, rescale)
        predictions.append(np.argmax(predict(x)[:n, -1], axis=-1))
    return float(accuracy_score(eval_set.targets, np.concatenate(predictions)))


def provenance(folder: Any, origin: str, task_name: str, split: shd.Split) -> dict[str, Any]:
    """Which data a run used: folder, stand-in or not, the provenance line, sample counts."""
    stand_in = str(origin).startswith("stand-in")
    T = split.train.n_bins
    return {"family": task_name, "dir": str(folder), "stand_in": stand_in,
            "description": origin, "bin_ms": split.bin_ms, "duration_s": split.duration_s,
            "bins_per_digit": T, "sequence_bins": 2 * T if task_name == "shd-adding" else T,
            "samples": {"train": len(split.train), "valid": len(split.valid),
                        "test": len(split.test)}}


def check(experiment: Experiment) -> None:
    """Raise ``ValueError`` for settings this task cannot run, before any data is read: a time
    step other than the bin size, a spike penalty on a model without spikes."""
    if experiment.dataset not in ("shd", "shd-adding"):
        raise ValueError(f"{experiment.name}: the SHD task serves 'shd' and 'shd-adding', "
                         f"not {experiment.dataset!r}")
    check_time_step(experiment)
    if float(experiment.data.get("spike_l1", 0.0)) and experiment.model != "snn":
        raise ValueError(f"{experiment.name}: data.spike_l1 penalises spikes; only the 'snn' "
                         f"model has them, not {experiment.model!r}")


def task(experiment: Experiment, data_dir: Any, seed: int) -> Task:
    """The SHD or SHD-Adding task of ``experiment`` (module docstring) for one seed."""
    check(experiment)
    task_name = experiment.dataset
    data = experiment.data
    bin_ms, duration = float(data["bin_ms"]), float(data.get("duration_s", 1.0))
    folder, origin = shd.resolve_data_dir(data_dir, scale=experiment.scale)
    split = shd.load_split(folder, bin_ms, duration)
    settings = experiment.train
    p = float(settings.input_dropout)
    rescale = bool(data.get("dropout_rescale", True))
    spike_l1 = float(data.get("spike_l1", 0.0))
    recurrent = experiment.model == "lstm" and experiment.model_args.get("recurrent_dropout", 0) > 0
    stream = shd.train_batches(split.train, task_name, settings.batch_size, seed)

    def batches(start: int) -> Iterator[Any]:
        for step, (x, y) in enumerate(stream(start), start):
            yield x, y, dropout_key(seed, step)

    def loss_fn(model: nnx.Module, batch: Any) -> jax.Array:
        x, y, key = batch
        key_input, key_recurrent = jax.random.split(key)
        x = input_dropout(jnp.asarray(x), key_input, p, rescale)
        if experiment.model == "snn":
            out, spikes = model(x, return_spikes=True)
            return last_step_cross_entropy(out, y) + snn_spike_l1(spikes, spike_l1)
        out = model(x, dropout_key=key_recurrent) if recurrent else model(x)
        return last_step_cross_entropy(out, y)

    sizes = experiment.evaluation  # configs.EVALUATION: samples (pairs) scored
    n_valid, n_test, n_train = sizes["valid"], sizes["test"], sizes["train"]
    valid_full, test_full = split.eval_sets(task_name, shd.BATCH_SIZE, 0)
    sets = {"valid": _subset(valid_full, n_valid), "test": _subset(test_full, n_test),
            "train": train_eval_set(split.train, task_name, n_train)}
    eval_dropout = (p, rescale, seed) if data.get("eval_dropout", False) and p > 0 else None

    def evaluate(model: nnx.Module) -> dict[str, float]:
        predict = predictor(model)
        scores = {f"{name}_accuracy": accuracy(predict, s, dropout=eval_dropout)
                  for name, s in sets.items()}
        return {**scores, "n_valid": len(sets["valid"]), "n_test": len(sets["test"]),
                "n_train_eval": len(sets["train"]),
                "chance": 1.0 / (shd.N_SUMS if task_name == "shd-adding" else shd.N_CLASSES),
                "chance_accuracy": shd.best_constant_accuracy(task_name),
                "bin_ms": bin_ms, "eval_dropout": eval_dropout is not None}

    return Task(batches, loss_fn, evaluate, provenance(folder, origin, task_name, split))
