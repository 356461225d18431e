"""Chapter 5's aggregation and verdicts: the sample of Fig 5a, the paper's Tables S8 / S9, the
mean and spread of our runs' accuracies, and which of the paper's SHD / SHD-Adding claims our
runs support.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from elm.data import shd
from elm.experiments.results import summarise
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


def summarise_runs(records: list[dict[str, Any]], by: tuple[str, ...] = (
        "experiment", "data.bin_ms")) -> list[dict[str, Any]]:
    """Mean and std over seeds of the three accuracies, grouped by ``by`` (results.summarise)."""
    return summarise(records, list(by), [f"metrics.{a}" for a in ACCURACIES])


def mean_std(mean: float | None, std: float | None, n: int | None = None) -> str:
    """Tables S8 / S9's accuracies: two decimals (:func:`elmbook.plots.mean_std`)."""
    return plots.mean_std(mean, std, 2, n=n)




Verdict = Literal["holds", "does not hold", "undecided"]
#: Settings a demo or paper run may change without becoming an ablation: the bin and its dt,
#: and the training length / optimiser (``train.*``).
NON_ABLATION_PREFIXES = ("data.bin_ms", "dt", "train.")


def baseline(dataset: str) -> float:
    """Accuracy of the best constant answer: 1/20 on SHD, P(sum = 9) = 10/100 on SHD-Adding."""
    if dataset == "shd-adding":
        sums = [a + b for a in range(10) for b in range(10)]
        return max(sums.count(k) for k in set(sums)) / len(sums)
    if dataset == "shd":
        return 1 / 20
    raise ValueError(f"dataset must be 'shd' or 'shd-adding', got {dataset!r}")


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


def is_model_run(record: Mapping[str, Any]) -> bool:
    """A run of the model comparison (Fig 5b-d, Fig S4), not an ablation (Fig 5e-f)."""
    return all(key.startswith(NON_ABLATION_PREFIXES) for key in record.get("overrides", {}))


def accuracies(records: Iterable[Mapping[str, Any]], split: str = "test"
               ) -> dict[tuple[str, str, float], Acc]:
    """``(dataset, model, bin_ms) -> Acc`` from complete or diverged model-comparison runs.

    Seeds are pooled: the mean weighted by the scored count, and the counts added."""
    sums: dict[tuple[str, str, float], list[float]] = {}
    for rec in records:
        if rec.get("status") not in ("complete", "diverged") or not is_model_run(rec):
            continue
        metrics = rec.get("metrics") or {}
        if f"{split}_accuracy" not in metrics:
            continue
        dataset, model = rec["experiment"].split("/")[:2]
        key = (dataset, model, float(rec["data"]["bin_ms"]))
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


def claim_verdicts(records: Iterable[Mapping[str, Any]],
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
