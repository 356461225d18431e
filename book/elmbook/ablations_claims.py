"""Chapter 4's claims: the paper's sentences on Fig 3a-c, tested on the results snapshot.

Why a module of its own: each sentence has to become a comparison between two points of one
ablation panel, each a group of seeds (which point stands for the paper's side, which for the
other, which metric), and that choice is the part a reader should be able to check. The choices
are here, one function per sentence, next to the sentences they stand for; :mod:`elmbook.claims`
does the statistics and :mod:`elmbook.ablations` says which run is a point of which panel.

The points come from the sweep specs (the runs the snapshot is meant to hold), not from the
records, so a point the snapshot does not hold yet gives "cannot decide" (no run) rather than
a missing row. Every comparison is made on the spike AUC and on the soma RMSE: the captions speak
of "accurate predictions" and "performance", which the paper measures by both.

Fig 3d-f and Fig S3 have no runs in the snapshot's spec, and the captions of Fig 3g,h (the
spec's Branch-ELM points) name their axes only; neither gives a sentence to test here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from elm.experiments.records import RunRecord
from elmbook import ablations, claims

#: (metric key of the records, higher is better, how the page names it)
METRICS = (("auc", True, "spike AUC"), ("soma_rmse_mv", False, "soma RMSE"))
#: The lower end of Fig 3a's "between 10 and 20" memory units.
RANGE_LOW = 10

Pairs = Callable[[Sequence[Any], Any], list[tuple[Any, Any]]]


def _below_the_range(xs: Sequence[Any], default: Any) -> list[tuple[Any, Any]]:
    """d_m = 10, the lower end of "between 10 and 20", against every point below it: if 10 or
    more memory units are required, fewer must predict worse."""
    return [(RANGE_LOW, x) for x in xs if x < RANGE_LOW]


def _linear(xs: Sequence[Any], default: Any) -> list[tuple[Any, Any]]:
    """The default (one hidden layer) against the axis' fewest hidden layers (none: a linear
    integration of the synaptic input), the least nonlinear integration the panel has."""
    return [(default, min(xs))] if xs and min(xs) < default else []


def _larger_updates(xs: Sequence[Any], default: Any) -> list[tuple[Any, Any]]:
    """The default λ and the axis' largest λ, each against its smallest: if greater updates are
    beneficial, both must be ahead of the smallest."""
    if not xs:
        return []
    return [(x, min(xs)) for x in dict.fromkeys((default, max(xs))) if x > min(xs)]


@dataclass(frozen=True)
class Sentence:
    """A sentence of the paper, the panel whose points test it, and how it picks them:
    ``pairs(axis points, default)`` gives (the paper's side, the other side) pairs."""

    quote: str
    where: str
    panel: str  # an ablations.PANELS key
    axis: str  # how the page names the axis
    pairs: Pairs


SENTENCES = (
    Sentence("We find between 10 and 20 memory-like hidden states to be required for accurate "
             "predictions", "Fig 3a caption", "3a", "d_m", _below_the_range),
    Sentence("Highly nonlinear integration of synaptic input is required", "Fig 3b caption",
             "3b", "hidden layers", _linear),
    Sentence("Allowing greater updates to the memory units is beneficial", "Fig 3c caption",
             "3c", "λ", _larger_updates),
)


def seed_values(records: Sequence[RunRecord], panel: ablations.Panel, x: Any, metric: str
                ) -> list[float]:
    """One metric of every run at point ``x`` of ``panel``, one value per seed (NaN for a
    diverged run, which :func:`elmbook.claims.ahead` leaves out and counts; failed runs have no
    outcome and are not read): a group that a claim compares."""
    return [r.metric(metric) for r in records
            if not r.failed and panel.holds(r) and panel.x_of(r.experiment, r.overrides) == x]


def _compare(records: Sequence[RunRecord], s: Sentence, a: Any, b: Any,
             metric: tuple[str, bool, str]) -> claims.Claim:
    key, higher, shown = metric
    p = ablations.panel(s.panel)
    names = (f"{s.axis} = {a:g}", f"{s.axis} = {b:g}")
    verdict = claims.ahead(seed_values(records, p, a, key), seed_values(records, p, b, key),
                           names=names, higher_is_better=higher, digits=3)
    better = "higher" if higher else "lower"
    return claims.Claim(s.quote, s.where, verdict,
                        f"{shown} of the ELM at {names[0]} {better} than at {names[1]}")


def snapshot_claims(records: Sequence[RunRecord], runs: Sequence[Any]) -> list[claims.Claim]:
    """Chapter 4's claims table from the snapshot's records and the runs of its sweep specs
    (``RunSpec``s; all trained alike, :func:`elmbook.ablations.shared_training`, which is set
    aside on both). A sentence whose panel has no pair of points in the specs still gets a row,
    "cannot decide", never a silent gap."""
    training = ablations.shared_training(runs)
    placed = ablations.at_training(records, training)
    out = []
    for s in SENTENCES:
        p = ablations.panel(s.panel)
        pairs = s.pairs(ablations.axis_values(p, runs, training), p.default_x())
        if not pairs:
            out.append(claims.Claim(s.quote, s.where, claims.Verdict(
                claims.UNDECIDED, f"the sweep specs have no point of {p.figure} to compare")))
        out += [_compare(placed, s, a, b, m) for a, b in pairs for m in METRICS]
    return out
