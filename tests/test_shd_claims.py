"""Chapter 5's claims (elmbook.shd_claims) and the SHD baselines, on hand-made records."""

from __future__ import annotations

import pytest

from elm.experiments.records import RunRecord
from elm.experiments.sweep import RunSpec
from elmbook import claims, shd_claims, snapshot
from elmbook import shd as shd_task


def rec(dataset, model, bin_ms, test, seed=0, status="complete", steps=2000, **overrides):
    """A hand-made typed record, as the snapshot hands the chapter."""
    overrides = {"data.bin_ms": bin_ms, "dt": bin_ms, "train.learning_rate": 0.01, **overrides}
    return RunRecord.from_json(
        {"run_id": f"{dataset}-{model}-{bin_ms:g}-{sorted(overrides.items())}-{seed}",
         "experiment": f"{dataset}/{model}/paper", "status": status, "seed": seed,
         "scale": "study", "overrides": overrides, "data": {"bin_ms": bin_ms},
         "config": {"train": {"epochs": 1, "batches_per_epoch": steps}},
         "metrics": {"test_accuracy": test, "valid_accuracy": test, "n_test": 180,
                     "n_valid": 117}}, "test record")


def three(dataset, model, bin_ms, test, **overrides):
    return [rec(dataset, model, bin_ms, test + 0.01 * s, seed=s, **overrides) for s in range(3)]


def test_the_baseline_is_the_best_constant_answer():
    assert shd_task.baseline("shd") == 1 / 20
    assert shd_task.baseline("shd-adding") == 0.10  # "9": 10 of the 100 digit pairs
    with pytest.raises(ValueError):
        shd_task.baseline("lra")


def test_seed_accuracies_pick_dataset_model_bin_and_variant():
    records = (three("shd-adding", "elm", 5.0, 0.6)
               + three("shd-adding", "elm", 5.0, 0.2, d_m=25)
               + [rec("shd-adding", "elm", 5.0, 0.9, seed=9, status="failed")])
    assert shd_claims.seed_accuracies(records, "shd-adding", "elm", 5.0) == pytest.approx(
        [0.6, 0.61, 0.62])
    assert shd_claims.seed_accuracies(records, "shd-adding", "elm", 5.0,
                                      "d_m = 25") == pytest.approx([0.2, 0.21, 0.22])
    assert shd_claims.seed_accuracies(records, "shd", "elm", 5.0) == []


def spec(*points):
    """RunSpecs of a snapshot spec: (dataset, model, bin, extra overrides) per point."""
    return [RunSpec(f"{ds}/{m}/paper", {"data.bin_ms": b, "dt": b, **extra}, 0, "study")
            for ds, m, b, extra in points]


SPEC = spec(("shd-adding", "elm", 5.0, {}), ("shd-adding", "elm", 50.0, {}),
            ("shd-adding", "lstm", 5.0, {}), ("shd-adding", "lstm", 50.0, {}),
            ("shd-adding", "elm", 5.0, {"tau_m_init": [1.0, 5.0], "tau_m_bounds": [0.0, 5.0]}),
            ("shd-adding", "elm", 5.0, {"d_m": 25}))


def test_every_bin_is_compared_and_the_direction_counts():
    records = (three("shd-adding", "elm", 5.0, 0.6) + three("shd-adding", "lstm", 5.0, 0.1)
               + three("shd-adding", "elm", 50.0, 0.3) + three("shd-adding", "lstm", 50.0, 0.7)
               + three("shd-adding", "elm", 5.0, 0.3, tau_m_init=[1.0, 5.0],
                       tau_m_bounds=[0.0, 5.0]))
    out = shd_claims.snapshot_claims(records, SPEC)
    lstm = [c for c in out if c.quote == shd_claims.QUOTES["fig5 lstm"][0]]
    assert [c.test for c in lstm] == [
        "SHD-Adding test accuracy at 5 ms bins: ELM above LSTM",
        "SHD-Adding test accuracy at 50 ms bins: ELM above LSTM"]
    assert [c.verdict.outcome for c in lstm] == [claims.SUPPORTS, claims.CONTRADICTS]
    (f,) = [c for c in out if c.where == "Fig 5f caption"]
    assert f.verdict.outcome == claims.SUPPORTS and "tau_m 1-5 ms" in f.test
    (e,) = [c for c in out if c.where == "Fig 5e caption"]
    assert e.verdict.outcome == claims.UNDECIDED and "d_m = 25 no run" in e.verdict.evidence
    snn = [c for c in out if c.quote == shd_claims.QUOTES["fig5 snn"][0]]
    assert [c.verdict.outcome for c in snn] == [claims.UNDECIDED] * 2  # no SNN run
    assert "no run" in snn[0].verdict.evidence
    # longer-trained runs of the ELM at 50 ms do not join its group, whatever they score
    longer = [rec("shd-adding", "elm", 50.0, 0.95, seed=s, steps=12000) for s in range(3)]
    again = shd_claims.snapshot_claims(records + longer, SPEC)
    assert [c.verdict for c in again] == [c.verdict for c in out]


def test_without_records_every_sentence_is_listed_undecided():
    out = shd_claims.snapshot_claims([], snapshot.coverage("study_shd").runs)
    assert {c.quote for c in out} == {q for q, _ in shd_claims.QUOTES.values()}
    assert {c.verdict.outcome for c in out} == {claims.UNDECIDED}


def test_two_groups_at_the_best_constant_answer_rank_nothing():
    # always "9" on SHD-Adding scores 0.10; 0.09 with no spread would "lose" by the means alone
    records = ([rec("shd-adding", "elm", 5.0, 0.10, seed=s) for s in range(3)]
               + [rec("shd-adding", "lstm", 5.0, 0.09, seed=s) for s in range(3)])
    (first, *_) = shd_claims.snapshot_claims(records, SPEC)
    assert first.test == "SHD-Adding test accuracy at 5 ms bins: ELM above LSTM"
    assert first.verdict.outcome == claims.UNDECIDED
    assert "neither above the best constant answer, 0.10" in first.verdict.evidence
    # 3 binomial s.e. of 180 test pairs above 0.10 is 0.167: a group at 0.2 counts
    assert shd_claims.above_baseline([rec("shd-adding", "elm", 5.0, 0.2)], "shd-adding")
    assert not shd_claims.above_baseline([rec("shd-adding", "elm", 5.0, 0.16)], "shd-adding")
