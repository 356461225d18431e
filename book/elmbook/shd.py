"""Chapter 5's aggregation: the sample of Fig 5a, the paper's Tables S8 / S9, the mean and
spread of our runs' accuracies, the ablations of Fig 5e-f and the notes on a set of runs.

Every function reads runs as typed :class:`~elm.experiments.records.RunRecord` s (what
:func:`elmbook.chapter.ensure_runs` and :func:`elmbook.snapshot.coverage` hand the chapter),
never the stored JSON by string keys; where runs are grouped by dotted keys,
:func:`summarise_runs` hands ``RunRecord.raw`` to :func:`elm.experiments.results.summarise`.
The chapter's cells draw; what they print (the run table, the figures' captions, Tables S8 / S9,
the ablation table and the notes) is computed here, so it is tested
(``tests/test_elmbook_shd.py``). A complete run that learnt nothing (:attr:`RunRecord.collapse`)
is named in the run table and in Tables S8 / S9, as a diverged one is counted. The paper's
claims are tested on the results snapshot by :mod:`elmbook.shd_claims`.

The baseline of an accuracy is the best answer that ignores the input (:func:`baseline`): 1/20
on SHD (balanced classes), but 0.10 on SHD-Adding, where always answering 9 is right for 10 of
the 100 equally likely digit pairs (uniform guessing over the 19 sums would get 1/19).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from elm.data import shd
from elm.experiments import configs, sweep
from elm.experiments.records import RunRecord
from elm.experiments.results import lookup, summarise
from elmbook import plots, reference

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
    return {(str(r["model"]), float(r["bin_size_ms"])): r
            for r in reference.load(REFERENCE_TABLES[dataset])}


def summarise_runs(records: Iterable[RunRecord], by: tuple[str, ...] = (
        "experiment", "data.bin_ms")) -> list[dict[str, Any]]:
    """Mean and std over seeds of the three accuracies, grouped by the dotted keys ``by`` of the
    stored JSON (:func:`elm.experiments.results.summarise`), with ``collapsed``: the seeds of the
    group's complete runs that learnt nothing (:attr:`RunRecord.collapse`), flagged as
    ``diverged`` counts the runs that diverged."""
    records = list(records)
    rows = summarise([r.raw for r in records], list(by), [f"metrics.{a}" for a in ACCURACIES])
    for row in rows:
        row["collapsed"] = [r.seed for r in records if r.collapse is not None
                            and all(_value(r, k) == row[k] for k in by)]
    return rows


def _value(record: RunRecord, key: str) -> Any:
    return lookup(record.raw, key, None)


def mean_std(mean: float | None, std: float | None, n: int | None = None) -> str:
    """Tables S8 / S9's accuracies: two decimals (:func:`elmbook.plots.mean_std`)."""
    return plots.mean_std(mean, std, 2, n=n)




#: Settings a demo or paper run may change without becoming an ablation: the bin and its dt,
#: and the training length / optimiser (``train.*``).
NON_ABLATION_PREFIXES = ("data.bin_ms", "dt", "train.")


def baseline(dataset: str) -> float:
    """Accuracy of the best constant answer (:func:`elm.data.shd.best_constant_accuracy`)."""
    return shd.best_constant_accuracy(dataset)


#: Binomial standard errors above the best constant answer that a group's mean must be to count
#: as having learnt something from the input.
Z = 3.0


def above_baseline(records: Sequence[RunRecord], dataset: str) -> bool:
    """Whether a group's mean test accuracy is above the best constant answer by more than
    :data:`Z` binomial standard errors of one run's test set."""
    if not records:
        return False
    b = baseline(dataset)
    n = min(int(r.metrics["n_test"]) for r in records)
    mean = sum(float(r.metrics["test_accuracy"]) for r in records) / len(records)
    return mean > b + Z * (b * (1 - b) / n) ** 0.5


class _Run(Protocol):
    """What :func:`is_model_run` and :func:`ablation_setting` read: a RunSpec or a RunRecord
    (both have it)."""

    experiment: str
    overrides: Mapping[str, Any]


def is_model_run(run: _Run) -> bool:
    """A run of the model comparison (Fig 5b-d, Fig S4), not an ablation (Fig 5e-f)."""
    return all(key.startswith(NON_ABLATION_PREFIXES) for key in run.overrides)


# -- the chapter's cells: the runs, their labels, the tables' cells and the notes ----------------

#: Splits of Tables S8 / S9 and Fig 5b-d: our metric -> its name on the page, and the paper's key.
SPLITS = {"train_accuracy": "train", "valid_accuracy": "validation", "test_accuracy": "test"}
PAPER_KEYS = {"train_accuracy": "train_acc", "valid_accuracy": "valid_acc",
              "test_accuracy": "test_acc"}
RUN_COLUMNS = ["experiment", "overrides", "status", "training (s)", "run (s)", "learnt nothing"]
TABLE_COLUMNS = ["model", "bin (ms)", "train: paper", "train: ours", "valid: paper", "valid: ours",
                 "test: paper", "test: ours", "our seeds", "diverged", "learnt nothing"]
ABLATION_COLUMNS = ["variant", "overrides", "train acc.", "valid acc.", "test acc.", "seeds",
                    "learnt nothing"]


def ablation_setting(runs: Iterable[_Run]) -> tuple[str, float]:
    """(dataset, bin size in ms) of the ablation runs (Fig 5e-f) among ``runs``: the specs say
    where a scale asks the ablation questions (the paper: SHD-Adding at 2 ms), and every
    ablation run of a grid asks them at the same place."""
    places = {(run.experiment.split("/")[0], float(run.overrides["data.bin_ms"]))
              for run in runs if not is_model_run(run)}
    if len(places) != 1:
        raise ValueError(f"the ablation runs should share one dataset and bin size, found "
                         f"{sorted(places) or 'none'}")
    return places.pop()


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def run_rows(runs: Iterable[sweep.RunSpec], records: Mapping[str, RunRecord]) -> list[list[Any]]:
    """The run table (:data:`RUN_COLUMNS`): each run's status, times and, for a complete run that
    learnt nothing, why (:attr:`RunRecord.collapse`)."""
    rows = []
    for r in runs:
        rec = records.get(r.run_id)
        if rec is None:
            rows.append([r.experiment, r.overrides, "not in the store", "–", "–", ""])
        else:
            rows.append([r.experiment, r.overrides, rec.status, _seconds(rec.train_wall_time_s),
                         _seconds(rec.wall_time_s), rec.collapse or ""])
    return rows


def _joined(values: Iterable[Any], fmt: str = "") -> str:
    return "/".join(format(v, fmt) for v in sorted(set(values)))


def run_label(records: Iterable[RunRecord], dataset: str, scale: str) -> str:
    """What produced a figure, from its runs' records: scale, steps, batch, learning rate, seeds,
    evaluation sizes and data of the ``dataset`` runs (failed ones left out)."""
    recs = [r for r in records if r.experiment.startswith(f"{dataset}/") and not r.failed]
    if not recs:
        return f"scale {scale!r}: no {dataset} runs in the store"
    seeds = sorted({r.seed for r in recs})
    n_test = _joined(r.metrics["n_test"] for r in recs if r.metrics)
    data = "; ".join(sorted({r.data_label for r in recs}))
    return (f"scale {scale!r}: {_joined(r.steps_done for r in recs)} steps of batch "
            f"{_joined(r.batch_size for r in recs)}, learning rate "
            f"{_joined((r.config['train']['learning_rate'] for r in recs), 'g')}, "
            f"seeds {seeds}, test accuracy on "
            f"{n_test} {'pairs' if dataset == 'shd-adding' else 'samples'}; data: {data}")


#: The datasets as the captions name them.
DATASET_NAMES = {"shd": "SHD", "shd-adding": "SHD-Adding"}
#: Dataset -> the paper's table of accuracies, as the captions cite it.
PAPER_TABLE_NAMES = {"shd": "Table S8", "shd-adding": "Table S9"}


def runs_sentence(records: Iterable[RunRecord], dataset: str, scale: str) -> str:
    """:func:`run_label` as a caption's sentence: ``"Our runs at scale 'demo': ... ."``"""
    return f"Our runs at {run_label(records, dataset, scale).rstrip('.')}."


def sample_caption(sample: Mapping[str, Any], names: Sequence[str]) -> str:
    """Fig 5a's caption: which pair of the test file, which data (real or the stand-in), and
    that nothing was trained. ``sample`` is :func:`adding_sample`'s, ``names`` the two digits'."""
    rows = sample["rows"]
    data = ("a generated STAND-IN (synthetic spikes in the SHD layout, not SHD)"
            if sample["provenance"].startswith("stand-in") else "real recordings")
    return (f"The first of the authors' fixed SHD-Adding test pairs: row {rows[0]} of the test "
            f"file ('{names[0]}') followed by row {rows[1]} ('{names[1]}'), whose sum "
            f"{sample['target']} is the target. Raw spike times, before binning; no training. "
            f"Data: {data}; {sample['provenance']}.")


def accuracy_caption(records: Iterable[RunRecord], dataset: str, scale: str) -> str:
    """Fig 5b-d's (SHD-Adding) or Fig S4's (SHD) caption: where the paper's values come from
    and how they are drawn, and what produced ours (:func:`run_label`)."""
    table = PAPER_TABLE_NAMES[dataset]
    return (f"Training, validation and test accuracy on {DATASET_NAMES[dataset]} against the bin "
            f"size, one marker per model. Grey (dashed, hollow markers): the paper's {table} "
            f"(book/elmbook/reference_data/{REFERENCE_TABLES[dataset]}.csv), mean ± std over its "
            "five runs on the official SHD. Colour (filled markers): ours, mean ± std over seeds "
            f"where there is more than one. {runs_sentence(records, dataset, scale)}")


def ablation_caption(records: Iterable[RunRecord], dataset: str, bin_ms: float,
                     scale: str) -> str:
    """Fig 5e-f's caption: the variants' dataset and bin, what produced them, and why no paper
    values are drawn (and, below paper scale, that this is not the paper's setting)."""
    name = DATASET_NAMES[dataset]
    setting = (f" Below paper scale this is a reduced version ({name} at {bin_ms:g} ms bins), "
               "not the paper's setting." if scale != "paper" else "")
    return (f"Training and test accuracy of ELM variants on {name} at {bin_ms:g} ms bins: "
            "e) the number of memory units d_m (with d_mlp = 2 d_m), f) the range of the memory "
            f"timescales τ_m. {runs_sentence(records, dataset, scale)} The paper ablates on "
            "SHD-Adding at 2 ms bins and publishes its values only in the figure, so none are "
            f"drawn.{setting}")


def ours_by_model(summary: Iterable[Mapping[str, Any]], dataset: str
                  ) -> dict[str, list[Mapping[str, Any]]]:
    """Rows of :func:`summarise_runs` (by experiment and bin) of ``dataset``: model -> rows by
    bin."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for row in summary:
        if row["experiment"].startswith(f"{dataset}/") and row["data.bin_ms"] is not None:
            out.setdefault(row["experiment"].split("/")[1], []).append(row)
    return {m: sorted(rows, key=lambda r: r["data.bin_ms"]) for m, rows in out.items()}


@dataclass(frozen=True)
class Series:
    """One model's accuracies against bin size, as Fig 5b-d draws them."""

    bins: list[float]
    mean: list[float]
    std: list[float]


def paper_series(paper: Mapping[tuple[str, float], Mapping[str, float]], model: str,
                 metric: str) -> Series:
    """The paper's points of ``model`` for ``metric`` (a key of :data:`SPLITS`)."""
    key = PAPER_KEYS[metric]
    ref = sorted(((b, r) for (m, b), r in paper.items() if m == MODEL_LABELS[model]),
                 key=lambda item: item[0])
    return Series([b for b, _ in ref], [r[f"{key}_mean"] for _, r in ref],
                  [r[f"{key}_std"] for _, r in ref])


def our_series(rows: Iterable[Mapping[str, Any]], metric: str) -> Series:
    """Our points from :func:`ours_by_model` rows: bins with a complete run; the std is 0 for
    one seed."""
    rows = [r for r in rows if r["n"] > 0]
    return Series([r["data.bin_ms"] for r in rows], [r[f"{metric}_mean"] for r in rows],
                  [r[f"{metric}_std"] if r["n"] > 1 else 0.0 for r in rows])


def collapsed_seeds(seeds: Sequence[int]) -> str:
    """The tables' "learnt nothing" cell: ``""``, ``"seed 0"`` or ``"seeds 0, 3"``."""
    if not seeds:
        return ""
    return f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"


def table_rows(summary: Iterable[Mapping[str, Any]], dataset: str) -> list[list[Any]]:
    """Table S8 (``"shd"``) or S9 (``"shd-adding"``), :data:`TABLE_COLUMNS`: the paper's
    accuracies beside ours for every model and bin we ran, with our seeds, the diverged runs and
    the seeds that learnt nothing (:attr:`RunRecord.collapse`)."""
    paper = paper_accuracies(dataset)
    ours = ours_by_model(summary, dataset)
    rows = []
    for model in [m for m in MODEL_LABELS if m in ours]:
        label = MODEL_LABELS[model]
        for r in ours[model]:
            ref = paper.get((label, r["data.bin_ms"]))
            cells = [label, f"{r['data.bin_ms']:g}"]
            for metric, key in PAPER_KEYS.items():
                cells.append(mean_std(ref[f"{key}_mean"], ref[f"{key}_std"]) if ref else "–")
                cells.append(mean_std(r[f"{metric}_mean"], r[f"{metric}_std"], r["n"]))
            cells += [len(r["seeds"]), r["diverged"], collapsed_seeds(r.get("collapsed", []))]
            rows.append(cells)
    return rows


def variant(overrides: Mapping[str, Any]) -> str:
    """An ablation's name on Fig 5e-f: ``"default"``, ``"d_m = 10"`` or ``"tau_m 1-25 ms"``."""
    ov = {k: v for k, v in overrides.items() if not k.startswith(NON_ABLATION_PREFIXES)}
    if not ov:
        return "default"
    if "d_m" in ov:
        return f"d_m = {ov['d_m']}"
    lo, hi = ov["tau_m_init"]
    return f"tau_m {lo:g}-{hi:g} ms"


@dataclass(frozen=True)
class Ablations:
    """Fig 5e-f: the ELM's variants at one dataset and bin, summarised over seeds."""

    rows: list[dict[str, Any]]  # summarise_runs rows by overrides, with "variant"
    default: dict[str, Any] | None
    e_rows: list[dict[str, Any]]  # memory units (d_m), the default among them, by d_m
    f_rows: list[dict[str, Any]]  # memory timescales, then the default


def ablations(records: Iterable[RunRecord], dataset: str, bin_ms: float, default_d_m: int
              ) -> Ablations:
    """The ELM runs of ``dataset`` at ``bin_ms`` grouped by their overrides and named."""
    chosen = [r for r in records if r.experiment == f"{dataset}/elm/paper"
              and r.overrides.get("data.bin_ms") == bin_ms]
    rows = summarise_runs(chosen, by=("overrides",))
    for row in rows:
        row["variant"] = variant(row["overrides"])
    default = next((r for r in rows if r["variant"] == "default"), None)
    with_default = [default] if default is not None else []
    e_rows = sorted([r for r in rows if r["variant"].startswith("d_m")] + with_default,
                    key=lambda r: r["overrides"].get("d_m", default_d_m))
    f_rows = [r for r in rows if r["variant"].startswith("tau_m")] + with_default
    return Ablations(rows, default, e_rows, f_rows)


def ablation_rows(rows: Iterable[Mapping[str, Any]]) -> list[list[Any]]:
    """The ablation table (:data:`ABLATION_COLUMNS`), naming the seeds that learnt nothing."""
    return [[r["variant"], r["overrides"]]
            + [mean_std(r[f"{a}_mean"], r[f"{a}_std"], r["n"]) for a in ACCURACIES]
            + [r["seeds"], collapsed_seeds(r.get("collapsed", []))] for r in rows]


def learnt(record: RunRecord, chance: float, z: float = 3.0) -> bool:
    """Validation and test accuracy both above ``chance`` by more than ``z`` binomial standard
    errors."""
    m = record.metrics
    return all(m[f"{s}_accuracy"] > chance + z * np.sqrt(chance * (1 - chance) / m[f"n_{s}"])
               for s in ("valid", "test"))


def _fmt_run(v: float | None) -> str:
    return "not run" if v is None else f"{v:.2f}"


def _acc(ours: Mapping[str, Sequence[Mapping[str, Any]]], model: str, bin_ms: float,
         metric: str = "test_accuracy") -> float | None:
    for r in ours.get(model, []):
        if r["data.bin_ms"] == bin_ms and r["n"] > 0:
            return r[f"{metric}_mean"]
    return None


def notes(records: Sequence[RunRecord], summary: Iterable[Mapping[str, Any]],
          ablation: Iterable[Mapping[str, Any]], scale: str, protocol: Mapping[str, Any],
          ablation_where: str) -> list[str]:
    """The chapter's notes on its runs: how long they trained against the paper's protocol
    (``protocol``: dataset -> the ELM's ``TrainConfig`` at paper scale), which SHD-Adding runs
    beat the best constant answer, SHD's accuracies per bin, and each ablation's train-validation
    gap (``ablation_where``: e.g. ``"shd, 50 ms bins"``)."""
    steps = _joined(r.steps_done for r in records)
    lines = [f"Our runs trained for {steps} steps of up to 8 samples; the paper's "
             f"for {protocol['shd'].epochs} epochs of {protocol['shd'].batches_per_epoch:,} (SHD) "
             f"or {protocol['shd-adding'].batches_per_epoch:,} (SHD-Adding) batches of "
             f"{protocol['shd'].batch_size}, with five seeds. "
             + ("So these numbers measure early learning, with one seed, and are not comparable "
                "with the paper's final accuracies." if scale != "paper" else "")]
    adding = [r for r in records if r.experiment.startswith("shd-adding/") and r.complete
              and is_model_run(r)]
    if adding:
        chance = baseline("shd-adding")  # always "9"; uniform guessing would get 1/19
        tests = [r.metrics["test_accuracy"] for r in adding]
        above = sorted({f"{model_label(r.experiment)} at {r.data['bin_ms']:g} ms"
                        for r in adding if learnt(r, chance)})
        verdict = ("above the best constant answer (validation and test, by more than 3 binomial "
                   f"standard errors): {', '.join(above)}" if above else
                   "no run beats the best constant answer (always 9) by more than 3 binomial "
                   "standard errors on both validation and test, so these runs cannot say which "
                   "model remembers the first digit better")
        lines.append(f"- **SHD-Adding** ({len(adding)} run(s)): test accuracy {min(tests):.2f}-"
                     f"{max(tests):.2f} (uniform guessing {1 / shd.N_SUMS:.3f}, always answering "
                     f"9: {chance:.2f}); {verdict}.")
    ours = ours_by_model(summary, "shd")
    for b in sorted({r["data.bin_ms"] for rows in ours.values() for r in rows}):
        e, l_ = _acc(ours, "elm", b, "valid_accuracy"), _acc(ours, "lstm", b, "valid_accuracy")
        compared = ("" if e is None or l_ is None else
                    f" The ELM is {'ahead of' if e > l_ else 'behind'} the LSTM on validation "
                    "accuracy.")
        lines.append(
            f"- **SHD, {b:g} ms bins**: test (validation) accuracy: ELM "
            f"{_fmt_run(_acc(ours, 'elm', b))} ({_fmt_run(e)}), Branch-ELM "
            f"{_fmt_run(_acc(ours, 'branch-elm', b))} "
            f"({_fmt_run(_acc(ours, 'branch-elm', b, 'valid_accuracy'))}), LSTM "
            f"{_fmt_run(_acc(ours, 'lstm', b))} ({_fmt_run(l_)}), SNN "
            f"{_fmt_run(_acc(ours, 'snn', b))} "
            f"({_fmt_run(_acc(ours, 'snn', b, 'valid_accuracy'))})." + compared)
    for r in ablation:
        gap = r["train_accuracy_mean"] - r["valid_accuracy_mean"]
        lines.append(f"- **Ablation, {r['variant']}** ({ablation_where}): "
                     f"train {r['train_accuracy_mean']:.2f}, validation "
                     f"{r['valid_accuracy_mean']:.2f}, test {r['test_accuracy_mean']:.2f} "
                     f"(train - validation: {gap:+.2f}).")
    return lines


def paper_cost(runs: Iterable[sweep.RunSpec]) -> dict[float, dict[str, float]]:
    """Paper-scale runs by bin: how many, and their sequence steps (steps x batch x bins of a
    sample; SHD-Adding's samples are two digits long)."""
    cost: dict[float, dict[str, float]] = {}
    for r in runs:
        exp = configs.get(r.experiment, "paper")  # the specs change bins and sizes, not training
        bin_ms = r.overrides.get("data.bin_ms", exp.data["bin_ms"])
        bins = shd.n_bins(bin_ms, exp.data["duration_s"]) * (2 if exp.dataset == "shd-adding"
                                                               else 1)
        c = cost.setdefault(bin_ms, {"runs": 0, "units": 0.0})
        c["runs"] += 1
        c["units"] += exp.train.steps * exp.train.batch_size * bins
    return cost


# -- training length: why SHD-Adding stays at the constant answer on the shipped recordings ------

LENGTH_COLUMNS = ["model", "bin (ms)", "steps", "seeds", "train acc.", "valid acc.", "test acc."]


def training_steps(record: RunRecord) -> int:
    """The optimiser steps a run was set to train (epochs x batches per epoch)."""
    train = record.config["train"]
    return int(train["epochs"]) * int(train["batches_per_epoch"])


def by_training_length(records: Iterable[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    """(the runs at the shortest training length, the longer-trained ones). The snapshot's model
    comparison and ablations all train for one budget; its longer runs ask a different question
    (does more training alone move SHD-Adding?), so they are shown apart and never averaged
    into Fig 5b-d, Tables S8 / S9 or the claims."""
    records = list(records)
    if not records:
        return [], []
    shortest = min(training_steps(r) for r in records)
    return ([r for r in records if training_steps(r) == shortest],
            [r for r in records if training_steps(r) > shortest])


def training_length_rows(records: Iterable[RunRecord]) -> list[list[Any]]:
    """One row per training length of every model run (experiment and bin) that was trained
    for more than one length: the mean ± std over seeds of the three accuracies
    (:func:`summarise_runs`), shortest first."""
    length = ("config.train.epochs", "config.train.batches_per_epoch")
    rows = summarise_runs([r for r in records if is_model_run(r)],
                          by=("experiment", "data.bin_ms", *length))
    for row in rows:
        row["steps"] = row[length[0]] * row[length[1]]
    setting: dict[tuple[str, float], int] = {}
    for row in rows:
        key = (row["experiment"], row["data.bin_ms"])
        setting[key] = setting.get(key, 0) + 1
    return [[f"{DATASET_NAMES[row['experiment'].split('/')[0]]} {model_label(row['experiment'])}",
             f"{row['data.bin_ms']:g}", f"{row['steps']:,}", _joined(row["seeds"]),
             *(mean_std(row[f"{a}_mean"], row[f"{a}_std"], row["n"]) for a in ACCURACIES)]
            for row in sorted(rows, key=lambda r: (r["experiment"], r["data.bin_ms"], r["steps"]))
            if setting[(row["experiment"], row["data.bin_ms"])] > 1]


def training_length_note(records: Iterable[RunRecord], dataset: str = "shd-adding") -> str:
    """What the longest-trained runs of ``dataset`` say, from their accuracies: whether they
    fit their training samples (a mean train accuracy of at least 0.5), and whether their test
    accuracy rose above the best constant answer (:func:`above_baseline`)."""
    runs = [r for r in records if r.complete and r.experiment.startswith(f"{dataset}/")]
    if not runs:
        return f"No longer-trained {DATASET_NAMES[dataset]} run in these records."
    steps = max(training_steps(r) for r in runs)
    last = [r for r in runs if training_steps(r) == steps]
    train = float(np.mean([r.metrics["train_accuracy"] for r in last]))
    test = float(np.mean([r.metrics["test_accuracy"] for r in last]))
    n_test = min(int(r.metrics["n_test"]) for r in last)
    fit = ("fit their training samples" if train >= 0.5 else "did not fit their training samples")
    where = "above" if above_baseline(last, dataset) else "not above"
    return (f"After {steps:,} steps the {len(last)} longer-trained {DATASET_NAMES[dataset]} "
            f"runs {fit} (train accuracy {train:.2f}) and answer the test samples at {test:.2f}, "
            f"{where} the best constant answer ({baseline(dataset):.2f}, by {Z:g} binomial "
            f"standard errors of {n_test:,} test samples).")
