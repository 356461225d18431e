"""Long Range Arena: one-hot tokens, the last real token's output, accuracy on valid and test.

What the six tasks share (Section 3.3, App. B):

* **Inputs.** The data layer (:mod:`elm.data.lra`) keeps sequences as ``uint8`` token ids or
  grey levels; the one-hot encoding to the experiment's ``num_input`` (Table S2's input dim)
  happens inside the jitted loss, so no one-hot copy of a dataset is ever held in memory.
* **Loss.** Cross-entropy on the model's last output (App. B), with
  :func:`elm.experiments.tasks.last_step_cross_entropy`.
* **Padding.** Text, ListOps and Retrieval sequences have different lengths; the readers
  right-pad them with ``<pad>`` as Mega batches them (``RightPadDataset``; the ELM authors
  trained on Mega's preprocessed data). A recurrent model reading right-padded input would end
  on pad tokens, and its "last output" would depend on how much padding its batch happened to
  get. Neither the paper nor the authors' code (which has no LRA script) says how this was
  handled; we take the output at each sequence's **last real token** (``lengths - 1``,
  :func:`elm.baselines.two_tower.last_output`), which is what PyTorch's packed sequences give an
  LSTM and is independent of the padding. Because the ELM and the LSTM are causal, that output
  depends on the real tokens only, so each batch is also cut to the width its longest sequence needs
  (rounded up to one of ``WIDTH_BUCKETS`` widths, to bound recompilation); the loss is unchanged
  by the cut (``tests/test_lra_task.py`` checks both). The image tasks have no padding: the
  last real step is the last pixel.
* **Batches.** The training set is read in a new random order every pass, deterministic from
  (seed, pass): step ``s`` takes examples ``s B ... s B + B - 1`` of the concatenated passes,
  so ``batches(start)`` yields exactly the batches an uninterrupted run would (resume).
* **Evaluation.** Accuracy (``sklearn.metrics.accuracy_score``) of the final model on the
  validation and test splits; at reduced scales on a fixed random subset
  (``configs.EVALUATION``), and the metrics say so (``n_valid``, ``n_test``, ``eval_subset``).
  The paper used the validation split "for model selection during training" (App. B); a run
  here reports its final model, with the validation accuracy beside the test accuracy.

Retrieval uses the two-tower model of :mod:`elm.baselines.two_tower`; its batches carry both
documents.

The functions at the end (:func:`find_real_data`, :func:`p_above_chance`,
:func:`accuracy_interval`, :func:`training_flops`) serve the LRA chapter's tables.

Data settings (``Experiment.data``; ``data.<key>`` overrides): the reader's keyword arguments
(``max_len``, ``difficulty``, ``limit``, ...), for ListOps, Pathfinder and Path-X the size
and shape of the generated stand-in used when no real data is found (``standin_<key>``, passed
to :mod:`elm.data.lra_generate`; ignored for real data), and for the image tasks
``silent_token`` (see :func:`one_hot`; None in the paper's experiments).
"""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score

from elm.baselines.two_tower import last_output
from elm.counting import count_flops
from elm.data import lra, paths
from elm.data.lra_common import generated_record
from elm.experiments.configs import Experiment
from elm.experiments.tasks import Task, last_step_cross_entropy

#: Tasks with an offline generator (a stand-in is made when no real data is found).
SYNTHETIC = ("listops", "pathfinder", "pathfinder_x")
#: Validation and test examples evaluated per scale (None: all), a fixed random subset.
#: Sequences per evaluation batch.
EVAL_BATCH = 64
#: A batch is cut to the smallest multiple of max(ceil(L / WIDTH_BUCKETS), MIN_BUCKET) steps
#: that holds its longest sequence (L: the padded length), so a run compiles at most
#: WIDTH_BUCKETS shapes of training step (each compile costs seconds on a CPU).
WIDTH_BUCKETS = 8
MIN_BUCKET = 256
STANDIN_PREFIX = "standin_"
#: The data setting that changes the encoding, not the reading (see :func:`one_hot`).
SILENT_KEY = "silent_token"


class Batch(NamedTuple):
    """One batch as the loss reads it: ``uint8`` ids ``(B, T)``, real lengths, labels; for
    Retrieval also the second document."""

    x: np.ndarray
    lengths: np.ndarray
    y: np.ndarray
    x2: np.ndarray | None = None
    lengths2: np.ndarray | None = None


def task_name(experiment: Experiment) -> str:
    """``"lra/listops"`` -> ``"listops"`` (a name of :data:`elm.data.lra.TASKS`)."""
    family, _, name = experiment.dataset.partition("/")
    if family != "lra" or name not in lra.TASKS:
        raise KeyError(f"{experiment.name}: dataset {experiment.dataset!r} is not an LRA task; "
                       f"one of {', '.join('lra/' + t for t in lra.TASKS)}")
    return name


def split_settings(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``Experiment.data`` -> (reader keywords, stand-in generator keywords); the encoding's
    ``silent_token`` is neither."""
    reader = {k: v for k, v in data.items() if not k.startswith(STANDIN_PREFIX) and k != SILENT_KEY}
    generate = {k.removeprefix(STANDIN_PREFIX): v for k, v in data.items()
                if k.startswith(STANDIN_PREFIX)}
    return reader, generate


@contextlib.contextmanager
def _generation_lock() -> Iterator[None]:
    """One process at a time may generate a stand-in (runs of a sweep start together)."""
    folder = paths.cache_dir() / "lra"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".generate.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load(experiment: Experiment, data_dir: Any = None) -> tuple[lra.LRAData, Path]:
    """The experiment's LRA data and its folder: real files (``data_dir``, else
    ``$ELM_DATA_DIR/lra``) or, for the synthetic tasks, the stand-in generated with the
    experiment's ``standin_*`` settings."""
    name = task_name(experiment)
    reader, generate = split_settings(dict(experiment.data))
    if name in SYNTHETIC:
        if name != "listops" and "difficulty" in reader:
            generate = {"difficulty": reader["difficulty"], **generate}
        with _generation_lock():
            folder, _ = lra.resolve_task_dir(name, data_dir, **generate)
    elif generate:
        raise ValueError(f"{experiment.name}: {name} has no generator, so the settings "
                         f"{sorted(STANDIN_PREFIX + k for k in generate)} mean nothing")
    else:
        folder, _ = lra.resolve_task_dir(name, data_dir)
    return lra.load_task(name, folder, **reader), folder


def provenance(experiment: Experiment, data: lra.LRAData, folder: Path) -> dict[str, Any]:
    """What the run record says about the data (``description`` is shown on every figure)."""
    return {"family": "lra", "task": data.task, "description": data.provenance,
            "stand_in": generated_record(folder) is not None, "dir": str(folder),
            "settings": dict(experiment.data), "seq_len": data.seq_len,
            "input_dim": data.input_dim, "n_classes": data.n_classes,
            "sizes": {"train": len(data.train), "valid": len(data.valid),
                      "test": len(data.test)}}


# --------------------------------------------------------------------------------------------
# batches


def bucket_width(longest: int, padded: int, buckets: int = WIDTH_BUCKETS,
                 min_bucket: int = MIN_BUCKET) -> int:
    """The batch width for a longest sequence of ``longest`` steps (see ``WIDTH_BUCKETS``)."""
    step = max(math.ceil(padded / buckets), min_bucket)
    return min(padded, max(step, math.ceil(longest / step) * step))


def make_batch(split: lra.Split, idx: np.ndarray) -> Batch:
    """The examples ``idx`` of ``split``, each array cut to the width its longest one needs."""
    lengths = split.lengths[idx].astype(np.int32)
    x = split.x[idx, :bucket_width(int(lengths.max()), split.x.shape[1])]
    y = split.y[idx].astype(np.int32)
    if split.x2 is None:
        return Batch(x, lengths, y)
    lengths2 = split.lengths2[idx].astype(np.int32)
    x2 = split.x2[idx, :bucket_width(int(lengths2.max()), split.x2.shape[1])]
    return Batch(x, lengths, y, x2, lengths2)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the training examples in pass ``epoch`` (deterministic)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Training examples of step ``step``: positions ``step B .. step B + B - 1`` of the
    concatenated passes, each pass in its own order (:func:`epoch_order`)."""
    k = step * batch_size + np.arange(batch_size)
    epochs, positions = k // n, k % n
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(epochs):
        where = epochs == epoch
        out[where] = epoch_order(n, seed, int(epoch))[positions[where]]
    return out


def training_batches(split: lra.Split, batch_size: int, seed: int, start: int = 0
                     ) -> Iterator[Batch]:
    """Batches of steps ``start, start + 1, ...`` (endless)."""
    n = len(split)
    if n == 0:
        raise ValueError("the training split is empty")
    step = start
    while True:
        yield make_batch(split, batch_indices(n, batch_size, seed, step))
        step += 1


# --------------------------------------------------------------------------------------------
# model, loss, evaluation


def one_hot(x: jax.Array, input_dim: int, silent: int | None = None) -> jax.Array:
    """``uint8`` ids ``(B, T)`` -> float32 one-hot ``(B, T, input_dim)``.

    ``silent``: an id fed as the all-zero vector (no input at all) instead of its own channel,
    e.g. 0, the black background of Pathfinder. Why it matters for a leaky neuron: a channel that
    is on at almost every step drives its synaptic trace to about ``w_s tau_s / dt``, a large,
    nearly constant input that hides the few marker and path pixels (150 x larger than a single
    pixel's contribution at Path-X's tau_s = 150). The paper's experiments use None (every id has
    its channel); the book's Pathfinder demo sets 0 and says so.
    """
    ids = jnp.asarray(x, jnp.int32)
    if silent is not None:
        ids = jnp.where(ids == silent, -1, ids)  # out of range: jax.nn.one_hot gives all zeros
    return jax.nn.one_hot(ids, input_dim, dtype=jnp.float32)


def logits(model: nnx.Module, batch: Batch, input_dim: int, silent: int | None = None
           ) -> jax.Array:
    """``(B, classes)``: the output at each sequence's last real token (two towers for
    Retrieval); ``silent`` as in :func:`one_hot`."""
    if batch.x2 is None:
        return last_output(model(one_hot(batch.x, input_dim, silent)), batch.lengths)
    return model(one_hot(batch.x, input_dim, silent), one_hot(batch.x2, input_dim, silent),
                 batch.lengths, batch.lengths2)


def make_loss(input_dim: int, silent: int | None = None):
    """The training loss: cross-entropy of the last real token's output (App. B)."""
    def loss_fn(model: nnx.Module, batch: Batch) -> jax.Array:
        return last_step_cross_entropy(logits(model, batch, input_dim, silent)[:, None], batch.y)
    return loss_fn


def eval_subset(n: int, limit: int | None) -> np.ndarray:
    """A fixed random subset of ``limit`` of ``n`` examples (all when ``limit`` is None), the
    same for every run and seed, so runs are scored on the same examples."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).permutation(n)[:limit])


@nnx.jit(static_argnums=(2, 3))
def _classes(model: nnx.Module, batch: Batch, input_dim: int, silent: int | None) -> jax.Array:
    return jnp.argmax(logits(model, batch, input_dim, silent), axis=-1)


def predict(model: nnx.Module, split: lra.Split, idx: np.ndarray, input_dim: int,
            batch_size: int = EVAL_BATCH, silent: int | None = None) -> np.ndarray:
    """Predicted classes of examples ``idx``, in batches of ``batch_size`` (the last one filled
    up with repeats, so every batch has one of few shapes)."""
    by_length = np.argsort(split.lengths[idx], kind="stable")  # similar lengths together
    order = idx[by_length]
    out = np.empty(len(order), dtype=np.int64)
    for first in range(0, len(order), batch_size):
        chunk = order[first:first + batch_size]
        full = np.resize(chunk, min(batch_size, len(order)))
        batch = make_batch(split, full)
        out[first:first + len(chunk)] = np.asarray(_classes(model, batch, input_dim, silent)
                                                   )[:len(chunk)]
    predictions = np.empty(len(order), dtype=np.int64)
    predictions[by_length] = out
    return predictions


def accuracy(model: nnx.Module, split: lra.Split, limit: int | None, input_dim: int,
             silent: int | None = None) -> tuple[float, int, float]:
    """(accuracy, number of examples, share of the most frequent label) on a split's subset."""
    idx = eval_subset(len(split), limit)
    y = split.y[idx]
    predicted = predict(model, split, idx, input_dim, silent=silent)
    majority = float(np.bincount(y).max() / len(y))
    return float(accuracy_score(y, predicted)), len(idx), majority


def check(experiment: Experiment) -> None:
    """Raise ``ValueError`` for settings this task cannot run, before any data is read."""
    input_dim = int(experiment.model_args["num_input"])
    silent = experiment.data.get(SILENT_KEY)
    if silent is not None and (isinstance(silent, bool) or not isinstance(silent, int)
                               or not 0 <= silent < input_dim):
        raise ValueError(f"{experiment.name}: data.{SILENT_KEY} must be None or a token id in "
                         f"0..{input_dim - 1} (0: the black background), got {silent!r}")


def task(experiment: Experiment, data_dir: Any, seed: int) -> Task:
    """The LRA task of ``experiment`` (``dataset`` ``"lra/<task>"``)."""
    check(experiment)  # before any data is read
    input_dim = int(experiment.model_args["num_input"])
    silent = experiment.data.get(SILENT_KEY)
    data, folder = load(experiment, data_dir)
    if data.input_dim > input_dim:
        raise ValueError(f"{experiment.name}: the data has {data.input_dim} token types but the "
                         f"model takes num_input={input_dim}")
    batch_size = experiment.train.batch_size
    limit = experiment.evaluation["test"]  # configs.EVALUATION

    def batches(start: int) -> Iterator[Batch]:
        return training_batches(data.train, batch_size, seed, start)

    def evaluate(model: nnx.Module) -> dict[str, Any]:
        valid, n_valid, _ = accuracy(model, data.valid, limit, input_dim, silent)
        test, n_test, majority = accuracy(model, data.test, limit, input_dim, silent)
        return {"valid_accuracy": valid, "test_accuracy": test, "n_valid": n_valid,
                "n_test": n_test, "eval_subset": n_test < len(data.test),
                "test_majority_share": majority, "chance_accuracy": 1.0 / data.n_classes}

    return Task(batches, make_loss(input_dim, silent), evaluate,
                provenance(experiment, data, folder))


# --------------------------------------------------------------------------------------------
# for the chapter: where real data is, how far a result is from chance, what a run costs


def find_real_data(name: str, data_dir: Any = None) -> Path | None:
    """The folder of real LRA data for task ``name`` (``data_dir``, else ``$ELM_DATA_DIR/lra``),
    or None. Never generates anything: a generated stand-in does not count as real data."""
    env = os.environ.get("ELM_DATA_DIR")
    root = Path(data_dir) if data_dir is not None else (Path(env) / "lra" if env else None)
    if root is None:
        return None
    try:
        folder, _ = lra.resolve_task_dir(name, root)
    except lra.LRADataError:
        return None
    return None if generated_record(folder) is not None else folder


def p_above_chance(accuracy: float, n: int, chance: float) -> float:
    """One-sided binomial p-value of ``accuracy`` on ``n`` examples against guessing with
    success rate ``chance``: how often a model at chance would score at least this well."""
    return float(binomtest(round(accuracy * n), n, chance, alternative="greater").pvalue)


def training_flops(experiment: Experiment) -> dict[str, float]:
    """Analytic cost of training ``experiment`` (at its scale) on full-length sequences:
    steps, sequence length, and FLOPs (forward per sequence x 3 for forward and backward x
    batch x steps; :func:`elm.count_flops`). Retrieval counts both documents and not the head."""
    name = task_name(experiment)
    seq_len = lra.SEQ_LENS[name]
    model = experiment.abstract_model()
    encoder = getattr(model, "encoder", model)
    per_sequence = count_flops(encoder, seq_len) * (2 if encoder is not model else 1)
    steps = experiment.train.steps
    total = 3.0 * per_sequence * experiment.train.batch_size * steps
    return {"steps": steps, "seq_len": seq_len, "batch_size": experiment.train.batch_size,
            "flops_per_sequence": float(per_sequence), "train_flops": total}


def accuracy_interval(accuracy: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) confidence interval of an accuracy measured on ``n`` examples."""
    ci = binomtest(round(accuracy * n), n).proportion_ci(confidence_level=level)
    return float(ci.low), float(ci.high)
