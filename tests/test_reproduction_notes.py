"""Chapter 2's section 3 as functions (elmbook.reproduction), on hand-made typed records.

The references: the seeds' numbers the records are made with, their ranges and means computed by
hand, and the rule the chapter states (a difference counts only beyond the released
configuration's seed-to-seed range; one seed has no range).
"""

from __future__ import annotations

import math

import pytest

from elm.experiments.records import RunRecord
from elmbook import reproduction

BASE, READOUT, LAMBDA = "released (m_t, λ=5, τ_m fixed)", "readout m_{t-1}", "λ = 10 (Table S1)"
VARIANTS = {BASE: "-", READOUT: "readout='m_prev'", LAMBDA: "lambda_value=10.0"}
COLUMN = {name: i for i, name in enumerate(reproduction.TABLE_HEADER)}
# the two "beyond seed spread" columns share a header, so COLUMN cannot tell them apart
AUC_BEYOND, RMSE_BEYOND = (i for i, name in enumerate(reproduction.TABLE_HEADER)
                           if name == "beyond seed spread")


def record(seed=0, auc=0.8, rmse=2.0, status="complete", loss=0.1, lam=False) -> RunRecord:
    """A stored run of section 3's sweep, typed as the chapter reads it."""
    return RunRecord.from_json({
        "run_id": f"r-{lam}-{seed}", "experiment": "neuronio/branch-elm/released",
        "overrides": {"lambda_value": 10.0} if lam else {}, "seed": seed, "scale": "demo",
        "status": status,
        "metrics": {"auc": auc, "soma_rmse_mv": rmse} if status == "complete" else None,
        "curves": {"loss": [1.0, loss], "step": [0, 299]}, "train_wall_time_s": 12.5})


def summaries(*records: RunRecord) -> list[dict]:
    return [reproduction.summary(r) for r in records]


def results() -> dict[str, list[dict]]:
    """Two seeds per variant; the base's AUC spread is 0.02 and its RMSE spread 0.2 mV."""
    return {BASE: summaries(record(0, 0.80, 2.0), record(1, 0.82, 2.2)),
            READOUT: summaries(record(0, 0.81, 2.1), record(1, 0.815, 2.05)),
            LAMBDA: summaries(record(0, 0.70, 2.9, lam=True), record(1, 0.72, 3.0, lam=True))}


def test_summary_reads_the_record_and_a_diverged_run_has_nan_metrics():
    done = reproduction.summary(record(3, 0.75, 1.5, loss=0.2))
    assert done == {"auc": 0.75, "rmse": 1.5, "loss": 0.2, "diverged": False, "collapse": None,
                    "seed": 3, "seconds": 12.5}
    lost = reproduction.summary(record(4, status="diverged"))
    assert lost["diverged"] and math.isnan(lost["auc"]) and math.isnan(lost["rmse"])


def test_spread_is_the_seed_range_and_nan_for_one_seed():
    assert reproduction.spread([0.80, 0.85, 0.83]) == pytest.approx(0.05)
    assert math.isnan(reproduction.spread([0.80]))
    assert reproduction.beyond(0.01, reproduction.spread([0.80])) == "n/a (one seed)"


def test_beyond_compares_the_size_of_the_difference_with_the_spread():
    assert reproduction.beyond(0.03, 0.02) == "yes"
    assert reproduction.beyond(-0.03, 0.02) == "yes"  # a drop counts as much as a rise
    assert reproduction.beyond(0.02, 0.02) == "no"  # no larger than the spread: no evidence
    assert reproduction.beyond(-0.001, 0.02) == "no"


def test_rows_hold_the_seeds_numbers_and_the_verdicts():
    rows = reproduction.variant_rows(results(), VARIANTS)
    assert [r[0] for r in rows] == list(VARIANTS)
    assert all(len(r) == len(reproduction.TABLE_HEADER) for r in rows)
    base, readout, lam = rows
    assert base[1:] == ["-", "0.8000 0.8200", "+0.0000", "", "2.000 2.200", "+0.000", "",
                        "0.100 0.100", "no"]
    assert readout[COLUMN["AUC per seed"]] == "0.8100 0.8150"
    assert readout[COLUMN["Δ AUC (mean)"]] == f"{0.8125 - 0.81:+.4f}"  # +0.0025, within 0.02
    assert readout[AUC_BEYOND] == "no" and readout[RMSE_BEYOND] == "no"
    assert lam[COLUMN["Δ AUC (mean)"]] == "-0.1000" and lam[AUC_BEYOND] == "yes"
    assert lam[COLUMN["Δ RMSE (mean)"]] == "+0.850" and lam[RMSE_BEYOND] == "yes"
    assert lam[COLUMN["soma RMSE per seed (mV)"]] == "2.900 3.000"


def test_one_seed_gives_no_verdict():
    one = {name: runs[:1] for name, runs in results().items()}
    rows = reproduction.variant_rows(one, VARIANTS)
    assert [(r[AUC_BEYOND], r[RMSE_BEYOND]) for r in rows[1:]] == [("n/a (one seed)",) * 2] * 2
    assert "AUC nan, RMSE nan mV" in reproduction.caption(one, "L")


def test_caption_carries_the_run_label_and_the_released_spread():
    text = reproduction.caption(results(), "scale 'demo': 300 steps")
    assert "scale 'demo': 300 steps. RMSE re-standardised" in text
    assert text.endswith("AUC 0.0200, RMSE 0.200 mV.*")


def test_a_diverged_or_collapsed_seed_is_named_in_its_row_and_in_the_note():
    bad = results()
    bad[READOUT] = summaries(record(0, 0.81, 2.1), record(5, status="diverged"))
    bad[LAMBDA] = summaries(record(0, 0.70, 2.9, lam=True), record(1, 0.45, 3.5, lam=True))
    rows = reproduction.variant_rows(bad, VARIANTS)
    outcome = COLUMN["diverged or collapsed"]
    assert rows[0][outcome] == "no"
    assert rows[1][outcome] == "diverged (seed 5)"
    assert rows[2][outcome] == "collapsed: spike AUC 0.450 (chance 0.5) (seed 1)"
    note = reproduction.unstable_note(bad)
    assert f"({READOUT}: seed(s) [5]; {LAMBDA}: seed(s) [1])" in note
    assert "Fig S2 caption" in note  # the λ = 10 variant is among them


def test_the_note_is_absent_when_every_run_learnt_and_cites_fig_s2_only_for_lambda():
    assert reproduction.unstable_note(results()) is None
    only_readout = results()
    only_readout[READOUT] = summaries(record(0, 0.40, 2.1), record(1, 0.81, 2.0))
    note = reproduction.unstable_note(only_readout)
    assert note.startswith(f"**Runs that learnt nothing** ({READOUT}: seed(s) [0])")
    assert "Fig S2" not in note
