"""Chapter 5's verdicts on the paper's SHD claims (elmbook.shd), on hand-made records."""

from __future__ import annotations

import math

import pytest

from elm.experiments.records import RunRecord
from elmbook import shd as claims

PAPER = {"shd": claims.paper_accuracies("shd"),
         "shd-adding": claims.paper_accuracies("shd-adding")}


def rec(dataset, model, bin_ms, test, n=200, valid=None, status="complete", seed=0,
        **overrides):
    """A hand-made typed record, as chapter.ensure_runs hands the chapter."""
    chance = 1 / 19 if dataset == "shd-adding" else 1 / 20
    overrides = {"data.bin_ms": bin_ms, **overrides}
    return RunRecord.from_json(
        {"run_id": f"{dataset}-{model}-{bin_ms:g}-{sorted(overrides)}-{seed}-{status}",
         "experiment": f"{dataset}/{model}/paper", "status": status, "seed": seed,
         "scale": "demo", "overrides": overrides, "data": {"bin_ms": bin_ms},
         "metrics": {"test_accuracy": test, "valid_accuracy": test if valid is None else valid,
                     "n_test": n, "n_valid": n, "chance": chance}}, "test record")


def by_claim(verdicts):
    return {v.claim: v for v in verdicts}


def test_accuracies_pool_seeds_and_skip_ablations_and_failures():
    records = [rec("shd", "elm", 10.0, 0.5, n=100), rec("shd", "elm", 10.0, 0.7, n=300),
               rec("shd", "elm", 10.0, 0.9, d_m=10),  # an ablation
               rec("shd", "elm", 10.0, 0.9, status="failed"),
               rec("shd", "elm", 10.0, 0.9, **{"train.learning_rate": 0.01, "dt": 10.0})]
    acc = claims.accuracies(records[:4])
    assert acc[("shd", "elm", 10.0)].mean == pytest.approx((50 + 210) / 400)
    assert acc[("shd", "elm", 10.0)].n == 400
    assert claims.is_model_run(records[4]) and not claims.is_model_run(records[2])


def test_the_baseline_is_the_best_constant_answer():
    assert claims.baseline("shd") == 1 / 20
    assert claims.baseline("shd-adding") == 0.10  # "9": 10 of the 100 digit pairs
    rec_ = rec("shd-adding", "elm", 20.0, 0.11, n=256)  # above 1/19, not above 0.10
    acc = claims.accuracies([rec_])[("shd-adding", "elm", 20.0)]
    assert acc.chance == 0.10 and not acc.above_chance(2.0)
    with pytest.raises(ValueError):
        claims.baseline("lra")


def test_compare_uses_the_binomial_standard_error():
    a, b = claims.Acc(0.60, 100, 0.05), claims.Acc(0.50, 100, 0.05)
    se = math.sqrt(0.6 * 0.4 / 100 + 0.5 * 0.5 / 100)  # 0.0700
    assert claims.compare(a, b, z=0.1 / se - 0.01) == 1
    assert claims.compare(a, b, z=0.1 / se + 0.01) == 0
    assert claims.compare(b, a, z=1.0) == -1


def test_verdicts_hold_fail_and_stay_undecided():
    records = [
        # SHD-Adding: ELM learns at 20 ms, LSTM does not; at 50 ms both learn equally
        rec("shd-adding", "elm", 20.0, 0.40, n=256), rec("shd-adding", "lstm", 20.0, 0.06, n=256),
        rec("shd-adding", "elm", 50.0, 0.40, n=256), rec("shd-adding", "lstm", 50.0, 0.40, n=256),
        rec("shd-adding", "snn", 20.0, 0.05, n=256),
        # SHD: the LSTM ahead of the ELM at the small bin (the paper's claim fails)
        rec("shd", "elm", 4.0, 0.30, n=180), rec("shd", "lstm", 4.0, 0.60, n=180),
        rec("shd", "snn", 4.0, 0.05, n=180),
    ]
    v = by_claim(claims.claim_verdicts(records, PAPER))
    ahead = v["SHD-Adding: the ELM is ahead of the LSTM at small bins"]
    assert ahead.verdict == "holds" and ahead.ours.startswith("20 ms: 0.40 vs 0.06")
    assert "10 ms: 0.80 vs 0.15" in ahead.paper  # Table S9, from the reference data
    assert ahead.paper.endswith("20 ms: 0.79 vs 0.60")  # and at the bin we compared
    assert v["SHD-Adding: smaller bins cost the LSTM more accuracy than the ELM"].verdict == "holds"
    assert v["SHD-Adding: the spiking network does not learn the task"].verdict == "holds"
    assert v["SHD-Adding: the B-ELM is ahead of the LSTM at small bins"].verdict == "undecided"
    assert v["SHD: the ELM is ahead of the LSTM at small bins"].verdict == "does not hold"
    assert v["SHD: the ELM is ahead of the SNN at small bins"].verdict == "holds"


def test_untrained_models_cannot_rank():
    records = [rec("shd-adding", "elm", 50.0, 0.12, n=256),  # the "always 9" level
               rec("shd-adding", "lstm", 50.0, 0.04, n=256),
               rec("shd-adding", "snn", 50.0, 0.05, n=256)]
    v = by_claim(claims.claim_verdicts(records, PAPER))
    ahead = v["SHD-Adding: the ELM is ahead of the LSTM at small bins"]
    assert ahead.verdict == "undecided" and "neither above the baseline 0.10" in ahead.ours
    snn = v["SHD-Adding: the spiking network does not learn the task"]
    assert snn.verdict == "undecided" and "no model is above the baseline" in snn.ours
    assert v["SHD: the ELM is ahead of the LSTM at small bins"].ours == "not run at this scale"
