"""Chapter 3's claims: the paper's sentences on Fig 2, Fig 4 and Table S4, tested on the snapshot.

Why a module of its own: each sentence has to become a comparison between two groups of seeds
(which model, which size, which metric, which direction), and that choice is the part a reader
should be able to check. The choices are here, in one place, next to the sentences they stand for;
:mod:`elmbook.claims` does the statistics.

The paper's numbers (0.991 AUC, 53K, 266K) are NeuronIO's: on the stand-in the AUCs are not
comparable with them, so a sentence about a threshold is tested as the ordering of the models it
names, at the sizes it names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from elm.experiments.records import RunRecord
from elmbook import claims
from elmbook.neuronio import experiment_of, family_of, model_label, size_label

#: (metric key of the records, higher is better, how the page names it)
AUC = ("auc", True, "spike AUC")
RMSE = ("soma_rmse_mv", False, "soma RMSE")


def seed_values(records: Sequence[RunRecord], family: str, size: str, metric: str
                ) -> list[float]:
    """One metric of every complete run of one family and size (:func:`size_label`), one
    value per seed: a group that a claim compares."""
    return [r.metric(metric) for r in records
            if r.complete and family_of(r.experiment) == family
            and size_label(experiment_of(r)) == size]


def _row(rows: Sequence[Mapping[str, Any]], family: str, size: str) -> Mapping[str, Any] | None:
    return next((r for r in rows if r["family"] == family and r["size"] == size), None)


def _name(rows: Sequence[Mapping[str, Any]], family: str, size: str) -> str:
    row = _row(rows, family, size)
    label = model_label(family, size)
    return f"{label} ({row['params']:,} params)" if row else label


def _compare(records: Sequence[RunRecord], rows: Sequence[Mapping[str, Any]],
             a: tuple[str, str], b: tuple[str, str], metric: tuple[str, bool, str]
             ) -> tuple[str, claims.Verdict]:
    key, higher, shown = metric
    names = (_name(rows, *a), _name(rows, *b))
    verdict = claims.ahead(seed_values(records, *a, key), seed_values(records, *b, key),
                           names=(model_label(*a), model_label(*b)), higher_is_better=higher,
                           digits=3)
    better = "higher" if higher else "lower"
    return f"{shown} of {names[0]} {better} than of {names[1]}", verdict


def _elm_lstm_pairs(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Each ELM size with the smallest LSTM of at least its parameter count: "for any given
    number of trainable parameters" tested where the ELM has no more parameters than the LSTM."""
    lstms = sorted((r for r in rows if r["family"] == "LSTM"), key=lambda r: r["params"])
    pairs = []
    for elm in sorted((r for r in rows if r["family"] == "ELM"), key=lambda r: r["params"]):
        lstm = next((r for r in lstms if r["params"] >= elm["params"]), None)
        if lstm is not None:
            pairs.append((elm["size"], lstm["size"]))
    return pairs


QUOTES = {
    "any size": ("Our ELM neuron achieves better prediction of voltage and spikes than previously "
                 "used architectures for any given number of trainable parameters",
                 "Section 3.1"),
    "53K and 8K": ("an LSTM baseline is able to do it with 266K, and our ELM and Branch-ELM "
                   "(introduced later) neuron model require merely 53K and 8K respectively",
                   "Fig 2 caption"),
    "7x": ("The new Branch-ELM neuron improves on the ELM neuron by about 7× in terms of "
           "parameter efficacy", "Fig 4 caption"),
    "tiny": ("the ELM neuron performs slightly better in particular for somatic prediction",
             "App. C, Table S4"),
}


def snapshot_claims(records: Sequence[RunRecord], rows: Sequence[Mapping[str, Any]]
                    ) -> list[claims.Claim]:
    """Chapter 3's claims table from the snapshot's NeuronIO model runs (``rows``: their
    :func:`elmbook.neuronio.summary_rows`, for the sizes' parameter counts). A group the
    snapshot does not hold yet gives "cannot decide" (no run), never a silent gap."""
    tests: list[tuple[str, tuple[str, str], tuple[str, str], tuple[str, bool, str]]] = []
    # without a pair in the snapshot, the paper's own pair (53K ELM, 77K LSTM), to show "no run"
    for elm, lstm in _elm_lstm_pairs(rows) or [("d_m=20", "hidden=15")]:
        tests += [("any size", ("ELM", elm), ("LSTM", lstm), m) for m in (AUC, RMSE)]
    tests += [("53K and 8K", (fam, "d_m=20"), ("LSTM", "hidden=50"), AUC)
              for fam in ("ELM", "Branch-ELM")]
    tests += [("7x", ("Branch-ELM", "d_m=20"), ("ELM", "d_m=20"), m) for m in (AUC, RMSE)]
    tests += [("tiny", ("simplest ELM", "-"), ("LIF", "-"), m) for m in (RMSE, AUC)]
    out = []
    for quote, a, b, metric in tests:
        test, verdict = _compare(records, rows, a, b, metric)
        out.append(claims.Claim(*QUOTES[quote], verdict, test))
    return out
