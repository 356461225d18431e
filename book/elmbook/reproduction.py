"""Chapter 2's section 3: one-field changes to the released Branch-ELM, set against seed spread.

Why a module: the section's conclusions ("beyond seed spread", which runs learnt nothing and
whether the paper's remark on λ applies) are drawn from numbers, so they are computed here and
tested (``tests/test_reproduction_notes.py``) rather than built inside a notebook cell. The
chapter reads its runs as typed :class:`~elm.experiments.records.RunRecord` s, reduces each to
:func:`summary`, and hands the summaries, grouped by variant (the released configuration first),
to :func:`variant_rows`, :func:`caption` and :func:`unstable_note`.

The yardstick is the released configuration's seed-to-seed range (:func:`spread`): a difference of
seed means no larger than it is not evidence of an effect (:func:`beyond`). With one seed there is
no range, and the verdict says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from elm.experiments.records import RunRecord

Summary = Mapping[str, Any]

#: The columns of :func:`variant_rows`.
TABLE_HEADER = ["variant", "ELMConfig change", "AUC per seed", "Δ AUC (mean)", "beyond seed spread",
                "soma RMSE per seed (mV)", "Δ RMSE (mean)", "beyond seed spread",
                "last training loss", "diverged or collapsed"]

#: The variant whose instability the paper remarks on (Fig S2 caption), by its label's text.
LARGE_LAMBDA = "λ = 10"


def summary(record: RunRecord) -> dict[str, Any]:
    """What the table needs from one record (a diverged run has no metrics: NaN)."""
    return {"auc": record.metric("auc"), "rmse": record.metric("soma_rmse_mv"),
            "loss": record.final_loss, "diverged": record.diverged,
            "collapse": record.collapse, "seed": record.seed,
            "seconds": record.train_wall_time_s}


def spread(values: Sequence[float]) -> float:
    """The seed-to-seed range (max - min); NaN for one seed, which has no range."""
    return max(values) - min(values) if len(values) > 1 else float("nan")


def beyond(delta: float, noise: float) -> str:
    """Whether a difference of seed means exceeds the released configuration's seed spread."""
    if not np.isfinite(noise):
        return "n/a (one seed)"
    return "no" if abs(delta) <= noise else "yes"


def _unstable(runs: Sequence[Summary]) -> list[Summary]:
    """The runs that learnt nothing: diverged, or complete with a collapse."""
    return [x for x in runs if x["diverged"] or x["collapse"]]


def _outcome(runs: Sequence[Summary]) -> str:
    """The table's last cell: each unstable seed named with what happened, else "no"."""
    return "; ".join(("diverged" if x["diverged"] else f"collapsed: {x['collapse']}")
                     + f" (seed {x['seed']})" for x in _unstable(runs)) or "no"


def _values(runs: Sequence[Summary], key: str) -> list[float]:
    return [x[key] for x in runs]


def variant_rows(results: Mapping[str, Sequence[Summary]],
                 variants: Mapping[str, str]) -> list[list[str]]:
    """The table (:data:`TABLE_HEADER`): per variant its seeds' values, the difference of its seed
    means from the first variant's (the released configuration) and whether that difference is
    beyond the first variant's seed spread. ``variants`` maps each label to its config change."""
    base_name = next(iter(variants))
    base_auc, base_rmse = _values(results[base_name], "auc"), _values(results[base_name], "rmse")
    rows = []
    for name, change in variants.items():
        r = results[name]
        auc, rmse = _values(r, "auc"), _values(r, "rmse")
        d_auc, d_rmse = np.mean(auc) - np.mean(base_auc), np.mean(rmse) - np.mean(base_rmse)
        first = name == base_name
        rows.append([name, change, " ".join(f"{v:.4f}" for v in auc), f"{d_auc:+.4f}",
                     "" if first else beyond(d_auc, spread(base_auc)),
                     " ".join(f"{v:.3f}" for v in rmse), f"{d_rmse:+.3f}",
                     "" if first else beyond(d_rmse, spread(base_rmse)),
                     " ".join(f"{x['loss']:.3f}" for x in r), _outcome(r)])
    return rows


def caption(results: Mapping[str, Sequence[Summary]], run_label: str) -> str:
    """The table's caption (Markdown), with the released configuration's seed spread computed
    from the first variant's runs and ``run_label`` saying which runs these are."""
    base = next(iter(results.values()))
    return (f"*Table: spike AUC and soma RMSE of each variant, one value per seed; Δ is the "
            f"difference of the seed means from the released configuration; \"beyond seed spread\" "
            f"compares |Δ| with the released configuration's seed-to-seed range. {run_label}. RMSE "
            f"re-standardised as the authors' evaluation does. Seed-to-seed spread of the released "
            f"configuration: AUC {spread(_values(base, 'auc')):.4f}, RMSE "
            f"{spread(_values(base, 'rmse')):.3f} mV.*")


def unstable_note(results: Mapping[str, Sequence[Summary]]) -> str | None:
    """The paragraph (Markdown) that names every variant's runs that learnt nothing, and cites the
    paper's Fig S2 remark when the λ = 10 variant is among them; None when every run learnt."""
    unstable = {name: bad for name, runs in results.items() if (bad := _unstable(runs))}
    if not unstable:
        return None
    flagged = "; ".join(f"{name}: seed(s) {[x['seed'] for x in bad]}"
                        for name, bad in unstable.items())
    return (f"**Runs that learnt nothing** ({flagged}) are flagged in the table, not averaged "
            "away: a run collapses when its spike AUC ends at or below chance, or its loss never "
            "falls. "
            + ("The paper reports the same tendency for larger λ: its Fig S2 caption says "
               "\"Branch-ELM neuron training is more stable with smaller λ\" (λ = 5 against Table "
               "S1's 10). " if any(LARGE_LAMBDA in name for name in unstable) else "")
            + "With a handful of seeds and short training, one collapsed seed moves a mean a lot: "
            "read the per-seed values.")
