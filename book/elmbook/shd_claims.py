"""Chapter 5's claims: the paper's sentences on Fig 5 and Fig S4, tested on the snapshot.

Why a module of its own: each sentence becomes comparisons between two groups of seeds (which
model, dataset, bin size and variant), and that choice is what a reader should be able to
check; :mod:`elmbook.claims` does the statistics, on test accuracy (the split the paper's
figures report), one value per seed.

Two groups that both sit at the best answer that ignores the input (:func:`elmbook.shd.baseline`:
always "9" on SHD-Adding, 0.10) rank nothing, even when their means differ in the last digit:
such a comparison cannot decide, whatever the t-test says. A group counts as above that answer
when its mean exceeds it by more than :data:`elmbook.shd.Z` binomial standard errors of one
run's test set (:func:`elmbook.shd.above_baseline`).

"Especially for smaller bin sizes" is tested by making the comparison at every bin that
the snapshot's spec has, smallest first, so the rows show whether the gap grows as the bins
shrink. The paper's Fig 5e-f ablates at 2 ms bins; the snapshot asks the same questions where its
spec's ablation runs are (:func:`elmbook.shd.ablation_setting`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from elm.experiments.records import RunRecord
from elm.experiments.sweep import RunSpec
from elmbook import claims
from elmbook.shd import (
    DATASET_NAMES,
    MODEL_LABELS,
    ablation_setting,
    above_baseline,
    baseline,
    by_training_length,
    is_model_run,
    variant,
)

QUOTES = {
    "fig5 lstm": ("The ELM neuron (186K params.) consistently outperforms a classic LSTM (956K "
                  "params.), especially for smaller bin sizes (meaning longer training samples)",
                  "Fig 5b-d caption"),
    "fig5 branch": ("The Branch-ELM (67K params.) can retain performance for fine-grained "
                    "binning at a much reduced model size", "Fig 5b-d caption"),
    "fig5 snn": ("Our Leaky Integrate and Fire (LIF) (51K params.) Spiking Neural Network (SNN) "
                 "does not manage to achieve good performance for any bin size",
                 "Fig 5b-d caption"),
    "figS4": ("The ELM and Branch-ELM neuron reliably outperforms a classic LSTM, especially for "
              "smaller bin sizes (meaning longer training samples)", "Fig S4 caption"),
    "fig5e": ("Solving SHD-Adding requires ELM neuron to have a higher complexity than required "
              "for NeuronIO", "Fig 5e caption"),
    "fig5f": ("Longer memory timescales are crucial for extracting long-range dependencies",
              "Fig 5f caption"),
}


def _bin(record: RunRecord) -> float:
    return float(record.data["bin_ms"])


def _group(records: Iterable[RunRecord], dataset: str, model: str, bin_ms: float,
           which: str) -> list[RunRecord]:
    return [r for r in records if r.complete and r.experiment == f"{dataset}/{model}/paper"
            and _bin(r) == bin_ms and variant(r.overrides) == which]


def seed_accuracies(records: Iterable[RunRecord], dataset: str, model: str, bin_ms: float,
                    which: str = "default") -> list[float]:
    """Test accuracy of every complete run of ``dataset``/``model`` at ``bin_ms`` whose
    variant (:func:`elmbook.shd.variant`: ``"default"`` for a model-comparison run,
    ``"d_m = 25"``, ``"tau_m 1-25 ms"``) is ``which``, one value per seed."""
    return [float(r.metrics["test_accuracy"])
            for r in _group(records, dataset, model, bin_ms, which)]


def _compare(records: Sequence[RunRecord], quote: str, dataset: str, bin_ms: float,
             a: tuple[str, str], b: tuple[str, str]) -> claims.Claim:
    """``a`` ahead of ``b`` (each ``(model, variant)``) on ``dataset`` at ``bin_ms``."""
    def name(model: str, which: str) -> str:
        return MODEL_LABELS[model] + ("" if which == "default" else f" {which}")

    names = (name(*a), name(*b))
    groups = [_group(records, dataset, model, bin_ms, which) for model, which in (a, b)]
    verdict = claims.ahead(*([float(r.metrics["test_accuracy"]) for r in g] for g in groups),
                           names=names, digits=2)
    if all(groups) and not any(above_baseline(g, dataset) for g in groups):
        verdict = claims.Verdict(claims.UNDECIDED, f"{verdict.evidence}; neither above the "
                                 f"best constant answer, {baseline(dataset):.2f}")
    test = (f"{DATASET_NAMES[dataset]} test accuracy at {bin_ms:g} ms bins: {names[0]} above "
            f"{names[1]}")
    return claims.Claim(*QUOTES[quote], verdict, test)


def snapshot_claims(records: Sequence[RunRecord], runs: Sequence[RunSpec]
                    ) -> list[claims.Claim]:
    """Chapter 5's claims table from the snapshot's SHD and SHD-Adding records. Which bins and
    variants are compared comes from the snapshot's spec (``runs``: its RunSpecs), so the table
    has the same rows however much of the spec the snapshot holds; a group it lacks gives
    "cannot decide" (no run). The spec's longer-trained runs are left out
    (:func:`elmbook.shd.by_training_length`): every comparison is at one training length."""
    records = by_training_length(records)[0]  # longer-trained runs ask another question
    bins = sorted({float(r.overrides["data.bin_ms"]) for r in runs if is_model_run(r)})
    out = [_compare(records, "fig5 lstm", "shd-adding", b, ("elm", "default"),
                    ("lstm", "default")) for b in bins]
    out.append(_compare(records, "fig5 branch", "shd-adding", bins[0],
                        ("branch-elm", "default"), ("lstm", "default")))
    out += [_compare(records, "fig5 snn", "shd-adding", b, ("elm", "default"),
                     ("snn", "default")) for b in bins]
    out += [_compare(records, "figS4", "shd", b, (m, "default"), ("lstm", "default"))
            for m in ("elm", "branch-elm") for b in bins]
    dataset, ablation_bin = ablation_setting(runs)
    for which in dict.fromkeys(variant(r.overrides) for r in runs if not is_model_run(r)):
        quote = "fig5e" if which.startswith("d_m") else "fig5f"
        out.append(_compare(records, quote, dataset, ablation_bin, ("elm", "default"),
                            ("elm", which)))
    return out
