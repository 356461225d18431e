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
* **Loss**: :func:`elm.experiments.training.last_step_cross_entropy`, with input dropout
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
  reduced scales only the first samples / pairs of each set are scored (:data:`EVAL_SIZES`);
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
from elm.experiments.tasks import Task, predictor
from elm.experiments.training import last_step_cross_entropy

#: Samples (SHD) or pairs (SHD-Adding) scored per scale: (valid, test, train); None = all of the
#: authors' set. The training subset is the first samples of the training part (SHD) or fixed
#: pairs drawn from it (SHD-Adding), never with dropout.
EVAL_SIZES: dict[str, tuple[int | None, int | None, int]] = {
    "smoke": (16, 16, 16), "demo": (128, 256, 128), "paper": (None, None, 4000)}
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


def task(experiment: Experiment, data_dir: Any, seed: int) -> Task:
    """The SHD or SHD-Adding task of ``experiment`` (module docstring) for one seed."""
    task_name = experiment.dataset
    if task_name not in ("shd", "shd-adding"):
        raise ValueError(f"{experiment.name}: the SHD task serves 'shd' and 'shd-adding', "
                         f"not {task_name!r}")
    check_time_step(experiment)
    data = experiment.data
    bin_ms, duration = float(data["bin_ms"]), float(data.get("duration_s", 1.0))
    folder, origin = shd.resolve_data_dir(data_dir, scale=experiment.scale)
    split = shd.load_split(folder, bin_ms, duration)
    settings = experiment.train
    p = float(settings.input_dropout)
    rescale = bool(data.get("dropout_rescale", True))
    spike_l1 = float(data.get("spike_l1", 0.0))
    if spike_l1 and experiment.model != "snn":
        raise ValueError(f"{experiment.name}: data.spike_l1 penalises spikes; only the 'snn' "
                         f"model has them, not {experiment.model!r}")
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

    n_valid, n_test, n_train = EVAL_SIZES[experiment.scale]
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
                "bin_ms": bin_ms, "eval_dropout": eval_dropout is not None}

    return Task(batches, loss_fn, evaluate, provenance(folder, origin, task_name, split))


# --------------------------------------------------------------------------------------------
# for the chapter: the sample of Fig 5a, the paper's Tables S8 / S9, summaries of runs

#: Experiment name part -> model label of Tables S8 and S9.
MODEL_LABELS = {"elm": "ELM", "branch-elm": "B-ELM", "lstm": "LSTM", "snn": "SNN"}
#: Dataset -> reference table (elmbook.reference) with the paper's accuracies.
REFERENCE_TABLES = {"shd": "table_s8_shd", "shd-adding": "table_s9_shd_adding"}
ACCURACIES = ("train_accuracy", "valid_accuracy", "test_accuracy")


def model_label(experiment_name: str) -> str:
    """``"shd-adding/branch-elm/paper"`` -> ``"B-ELM"`` (the tables' label)."""
    return MODEL_LABELS[experiment_name.split("/")[1]]


def adding_sample(data_dir: Any = None, pair: int = 0, duration_s: float = 1.0, *,
                  scale: str | None = None) -> dict[str, Any]:
    """The raw spikes of one SHD-Adding input (Fig 5a): pair ``pair`` of the first batch of the
    authors' fixed test pairs, each digit cut at ``duration_s``, the second shifted by it.

    Returns ``times`` (s), ``units``, ``boundary`` (s), the two ``labels`` (0-19), their
    ``target`` sum, the file ``rows`` and the data ``provenance`` line. `scale` picks the data
    as the runs do (:func:`elm.data.shd.resolve_data_dir`: the stand-in at ``"smoke"``).
    """
    folder, origin = shd.resolve_data_dir(data_dir, scale=scale)
    rec = shd.read(folder / shd.TEST_FILE)
    first, second = shd.adding_pairs(len(rec), 1, shd.BATCH_SIZE, 0)
    rows = (int(first[pair]), int(second[pair]))
    times, units = [], []
    for k, row in enumerate(rows):
        t = rec.times[rec.offsets[row]:rec.offsets[row + 1]].astype(np.float64)
        u = rec.units[rec.offsets[row]:rec.offsets[row + 1]]
        keep = t < duration_s
        times.append(t[keep] + k * duration_s)
        units.append(u[keep])
    labels = tuple(int(rec.labels[r]) for r in rows)
    return {"times": np.concatenate(times), "units": np.concatenate(units),
            "boundary": duration_s, "labels": labels,
            "target": int(shd.adding_targets(labels[0], labels[1])), "rows": rows,
            "provenance": origin}


def paper_accuracies(dataset: str) -> dict[tuple[str, float], dict[str, float]]:
    """The paper's Table S8 (SHD) or S9 (SHD-Adding): ``(model label, bin ms) -> row``."""
    from elmbook import reference

    return {(str(r["model"]), float(r["bin_size_ms"])): r
            for r in reference.load(REFERENCE_TABLES[dataset])}


def summarise_runs(records: list[dict[str, Any]], by: tuple[str, ...] = (
        "experiment", "data.bin_ms")) -> list[dict[str, Any]]:
    """Mean and std over seeds of the three accuracies, grouped by ``by`` (results.summarise)."""
    from elm.experiments.results import summarise

    return summarise(records, list(by), [f"metrics.{a}" for a in ACCURACIES])


def mean_std(mean: float, std: float, n: int | None = None) -> str:
    """``"0.86 ± 0.02"``; one run: just the value; none: ``"–"``."""
    if mean is None or not np.isfinite(mean):
        return "–"
    if n == 1 or std is None or not np.isfinite(std):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"
