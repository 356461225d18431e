"""Chapter 5's aggregation and verdicts: the sample of Fig 5a, the paper's Tables S8 / S9, the
mean and spread of our runs' accuracies, and which of the paper's SHD / SHD-Adding claims our
runs support.

Every function reads runs as typed :class:`~elm.experiments.records.RunRecord` s (what
:func:`elmbook.chapter.ensure_runs` hands the chapter), never the stored JSON by string keys;
where runs are grouped by dotted keys, :func:`summarise_runs` hands ``RunRecord.raw`` to
:func:`elm.experiments.results.summarise`. The chapter's cells draw; what they print (the run
table, the figures' captions, Tables S8 / S9, the ablation table, the notes and the
verdicts) is computed here, so it is tested (``tests/test_elmbook_shd.py``,
``tests/test_shd_claims.py``). A complete run that learnt nothing (:attr:`RunRecord.collapse`)
is named in the run table and in Tables S8 / S9, as a diverged one is counted.

The paper's Section 3.2 and Tables S8 / S9 make comparative claims (the ELM ahead of the LSTM at
small bins, the LSTM losing accuracy as bins shrink, the spiking network failing SHD-Adding).
:func:`claim_verdicts` restates each claim, computes the paper's side from its tables and ours
from run records, and says whether ours **holds**, **does not hold** or is **undecided**.

A difference between two accuracies counts only when it exceeds ``z`` binomial standard errors
of the difference (``sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2)``, with ``n`` the evaluated samples
or pairs pooled over seeds), and a comparison in which neither model is above the baseline by that
margin is undecided: two untrained models cannot rank. The baseline is the best answer that
ignores the input (:func:`baseline`): 1/20 on SHD (balanced classes), but 0.10 on SHD-Adding,
where always answering 9 is right for 10 of the 100 equally likely digit pairs (uniform guessing
over the 19 sums would get 1/19). The verdicts read one split (``test`` by
default, the split the paper's claims are about); the demo settings were chosen on validation.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

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




Verdict = Literal["holds", "does not hold", "undecided"]
#: Settings a demo or paper run may change without becoming an ablation: the bin and its dt,
#: and the training length / optimiser (``train.*``).
NON_ABLATION_PREFIXES = ("data.bin_ms", "dt", "train.")


def baseline(dataset: str) -> float:
    """Accuracy of the best constant answer (:func:`elm.data.shd.best_constant_accuracy`)."""
    return shd.best_constant_accuracy(dataset)


@dataclass(frozen=True)
class Acc:
    """An accuracy pooled over seeds: ``mean`` and the number of scored samples or pairs."""

    mean: float
    n: int
    chance: float

    @property
    def se(self) -> float:
        return math.sqrt(max(self.mean * (1 - self.mean), 1e-12) / max(self.n, 1))

    def above_chance(self, z: float) -> bool:
        se = math.sqrt(self.chance * (1 - self.chance) / max(self.n, 1))
        return self.mean > self.chance + z * se


@dataclass(frozen=True)
class ClaimVerdict:
    claim: str
    paper: str
    ours: str
    verdict: Verdict


class _Run(Protocol):
    """What :func:`is_model_run` and :func:`ablation_setting` read: a RunSpec or a RunRecord
    (both have it)."""

    experiment: str
    overrides: Mapping[str, Any]


def is_model_run(run: _Run) -> bool:
    """A run of the model comparison (Fig 5b-d, Fig S4), not an ablation (Fig 5e-f)."""
    return all(key.startswith(NON_ABLATION_PREFIXES) for key in run.overrides)


def accuracies(records: Iterable[RunRecord], split: str = "test"
               ) -> dict[tuple[str, str, float], Acc]:
    """``(dataset, model, bin_ms) -> Acc`` from complete or diverged model-comparison runs.

    Seeds are pooled: the mean weighted by the scored count, and the counts added."""
    sums: dict[tuple[str, str, float], list[float]] = {}
    for rec in records:
        if rec.failed or not is_model_run(rec):
            continue
        metrics = rec.metrics
        if f"{split}_accuracy" not in metrics:
            continue
        dataset, model = rec.experiment.split("/")[:2]
        key = (dataset, model, float(rec.data["bin_ms"]))
        n = int(metrics[f"n_{split}"])
        s = sums.setdefault(key, [0.0, 0, baseline(dataset)])
        s[0] += float(metrics[f"{split}_accuracy"]) * n
        s[1] += n
    return {k: Acc(total / n, int(n), chance) for k, (total, n, chance) in sums.items() if n}


def compare(a: Acc, b: Acc, z: float) -> int:
    """+1 if ``a`` is above ``b`` by more than ``z`` standard errors, -1 if below, else 0."""
    d = a.mean - b.mean
    se = math.sqrt(a.se ** 2 + b.se ** 2)
    return 0 if abs(d) <= z * se else (1 if d > 0 else -1)


def _paper(paper: Mapping[str, Mapping[tuple[str, float], Mapping[str, float]]], dataset: str,
           model: str, bin_ms: float) -> float | None:
    row = paper.get(dataset, {}).get((MODEL_LABELS[model], float(bin_ms)))
    return None if row is None else float(row["test_acc_mean"])


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}"


def _ahead(acc: Mapping[tuple[str, str, float], Acc], paper: Mapping[str, Any], dataset: str,
           a: str, b: str, z: float, name: str) -> ClaimVerdict:
    """Claim "`a` is ahead of `b` on `dataset` at small bins", judged at our smallest bin
    where both ran."""
    claim = f"{name}: the {MODEL_LABELS[a]} is ahead of the {MODEL_LABELS[b]} at small bins"
    bins = sorted(k[2] for k in acc if k[0] == dataset and k[1] == a
                  and (dataset, b, k[2]) in acc)
    paper_bins = sorted(k[1] for k in paper.get(dataset, {}) if k[0] == MODEL_LABELS[a]
                        and (MODEL_LABELS[b], k[1]) in paper[dataset])
    shown = {p for p in paper_bins if p <= 10} | ({bins[0]} & set(paper_bins) if bins else set())
    paper_text = "; ".join(f"{p:g} ms: {_fmt(_paper(paper, dataset, a, p))} vs "
                           f"{_fmt(_paper(paper, dataset, b, p))}" for p in sorted(shown))
    if not bins:
        return ClaimVerdict(claim, paper_text, "not run at this scale", "undecided")
    bin_ms = bins[0]
    x, y = acc[(dataset, a, bin_ms)], acc[(dataset, b, bin_ms)]
    ours = f"{bin_ms:g} ms: {x.mean:.2f} vs {y.mean:.2f} (n = {x.n}, {y.n})"
    if not (x.above_chance(z) or y.above_chance(z)):
        return ClaimVerdict(claim, paper_text, ours + f"; neither above the baseline "
                            f"{x.chance:.2f}", "undecided")
    c = compare(x, y, z)
    verdict: Verdict = "holds" if c > 0 else ("does not hold" if c < 0 else "undecided")
    if c == 0:
        ours += "; within noise"
    return ClaimVerdict(claim, paper_text, ours, verdict)


def _degrades(acc: Mapping[tuple[str, str, float], Acc], paper: Mapping[str, Any],
              dataset: str, z: float, name: str) -> ClaimVerdict:
    """Claim "shrinking the bins costs the LSTM more accuracy than the ELM", judged between
    our smallest and largest bin where both models ran."""
    claim = f"{name}: smaller bins cost the LSTM more accuracy than the ELM"
    both = sorted(k[2] for k in acc if k[0] == dataset and k[1] == "elm"
                  and (dataset, "lstm", k[2]) in acc)
    paper_both = sorted(k[1] for k in paper.get(dataset, {}) if k[0] == "ELM"
                        and ("LSTM", k[1]) in paper[dataset])
    paper_text = "; ".join(f"{p:g} ms: ELM {_fmt(_paper(paper, dataset, 'elm', p))}, LSTM "
                           f"{_fmt(_paper(paper, dataset, 'lstm', p))}"
                           for p in paper_both if p in (both or paper_both)) or "–"
    if len(both) < 2:
        return ClaimVerdict(claim, paper_text, "needs both models at two bins", "undecided")
    lo, hi = both[0], both[-1]
    e_lo, e_hi = acc[(dataset, "elm", lo)], acc[(dataset, "elm", hi)]
    l_lo, l_hi = acc[(dataset, "lstm", lo)], acc[(dataset, "lstm", hi)]
    loss_e, loss_l = e_hi.mean - e_lo.mean, l_hi.mean - l_lo.mean
    se = math.sqrt(e_lo.se ** 2 + e_hi.se ** 2 + l_lo.se ** 2 + l_hi.se ** 2)
    ours = (f"{hi:g} -> {lo:g} ms: ELM {e_hi.mean:.2f} -> {e_lo.mean:.2f}, LSTM "
            f"{l_hi.mean:.2f} -> {l_lo.mean:.2f}")
    if not any(a.above_chance(z) for a in (e_lo, e_hi, l_lo, l_hi)):
        return ClaimVerdict(claim, paper_text, ours + f"; all at the baseline {e_lo.chance:.2f}",
                            "undecided")
    d = loss_l - loss_e
    verdict: Verdict = ("holds" if d > z * se else "does not hold" if d < -z * se
                        else "undecided")
    return ClaimVerdict(claim, paper_text, ours + ("; within noise" if verdict == "undecided"
                                                   else ""), verdict)


def _snn_fails(acc: Mapping[tuple[str, str, float], Acc], paper: Mapping[str, Any], z: float
               ) -> ClaimVerdict:
    """Claim "the SNN does not learn SHD-Adding" (Table S9: 0.08-0.10 at every bin). At our
    bins: holds if the SNN stays at the baseline while the ELM or Branch-ELM at the same bin
    does not; undecided if they all stay there (then the failure says nothing)."""
    claim = "SHD-Adding: the spiking network does not learn the task"
    rows = paper.get("shd-adding", {})
    snn_paper = [float(r["test_acc_mean"]) for (m, _), r in rows.items() if m == "SNN"]
    paper_text = (f"SNN {min(snn_paper):.2f}-{max(snn_paper):.2f} at every bin (baseline 0.10)"
                  if snn_paper else "–")
    bins = sorted(k[2] for k in acc if k[0] == "shd-adding" and k[1] == "snn")
    if not bins:
        return ClaimVerdict(claim, paper_text, "not run at this scale", "undecided")
    snn = [acc[("shd-adding", "snn", b)] for b in bins]
    ours = ", ".join(f"{b:g} ms: {a.mean:.2f}" for b, a in zip(bins, snn, strict=True))
    if any(a.above_chance(z) for a in snn):
        return ClaimVerdict(claim, paper_text, ours + "; above the baseline", "does not hold")
    others = [acc[k] for k in acc if k[0] == "shd-adding" and k[1] in ("elm", "branch-elm")
              and k[2] in bins]
    if any(a.above_chance(z) for a in others):
        return ClaimVerdict(claim, paper_text, ours + "; the ELMs learn at these bins", "holds")
    return ClaimVerdict(claim, paper_text, ours + "; but no model is above the baseline here",
                        "undecided")


def claim_verdicts(records: Iterable[RunRecord],
                   paper: Mapping[str, Mapping[tuple[str, float], Mapping[str, float]]],
                   split: str = "test", z: float = 2.0) -> list[ClaimVerdict]:
    """The paper's SHD / SHD-Adding claims, each with the paper's numbers, ours and a verdict.

    ``paper``: ``{"shd": ..., "shd-adding": ...}``, each ``(model label, bin) -> row`` as
    :func:`elm.experiments.tasks.shd.paper_accuracies` returns (Tables S8, S9)."""
    acc = accuracies(records, split)
    return [
        _ahead(acc, paper, "shd-adding", "elm", "lstm", z, "SHD-Adding"),
        _ahead(acc, paper, "shd-adding", "branch-elm", "lstm", z, "SHD-Adding"),
        _degrades(acc, paper, "shd-adding", z, "SHD-Adding"),
        _snn_fails(acc, paper, z),
        _ahead(acc, paper, "shd", "elm", "lstm", z, "SHD"),
        _degrades(acc, paper, "shd", z, "SHD"),
        _ahead(acc, paper, "shd", "elm", "snn", z, "SHD"),
    ]


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


def verdict_tally(verdicts: Sequence[ClaimVerdict], scale_words: str = "At this scale") -> str:
    """``"At this scale **1** of the 7 claims hold (...), **0** do not, and **6** are
    undecided."``"""
    by = {k: [v.claim for v in verdicts if v.verdict == k]
          for k in ("holds", "does not hold", "undecided")}
    return (f"{scale_words} **{len(by['holds'])}** of the {len(verdicts)} claims hold"
            + (f" ({'; '.join(by['holds'])})" if by["holds"] else "")
            + f", **{len(by['does not hold'])}** do not"
            + (f" ({'; '.join(by['does not hold'])})" if by["does not hold"] else "")
            + f", and **{len(by['undecided'])}** are undecided.")


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
