"""The typed view of a stored run record."""

from __future__ import annotations

import math

import pytest

from elm.experiments.records import RecordError, RunRecord

STORED = {
    "run_id": "shd_branch-elm_paper-demo-s2-abc", "experiment": "shd/branch-elm/paper",
    "overrides": {"data.bin_ms": 10.0}, "seed": 2, "scale": "demo", "status": "complete",
    "metrics": {"test_accuracy": 0.625, "n_test": 256},
    "config": {"train": {"batch_size": 8, "epochs": 1, "batches_per_epoch": 300}},
    "data": {"description": "real Heidelberg Digits recordings", "stand_in": False},
    "steps_done": 300, "curves": {"step": [100, 200, 300], "loss": [2.9, 2.1, 1.7]},
    "train_wall_time_s": 41.5, "code_version": "abc123", "params": 67000,
}


def test_fields_come_from_the_stored_json():
    rec = RunRecord.from_json(STORED)
    assert (rec.run_id, rec.experiment, rec.seed, rec.scale) == (
        "shd_branch-elm_paper-demo-s2-abc", "shd/branch-elm/paper", 2, "demo")
    assert rec.complete and not rec.diverged and not rec.failed
    assert rec.metric("test_accuracy") == 0.625 and math.isnan(rec.metric("auc"))
    assert rec.batch_size == 8 and rec.model == "branch-elm"
    assert rec.data_label == "real Heidelberg Digits recordings" and not rec.on_stand_in
    assert rec.losses == (2.9, 2.1, 1.7) and rec.final_loss == 1.7
    assert rec.overrides == {"data.bin_ms": 10.0} and rec.raw is STORED


def test_a_diverged_run_has_no_metrics():
    rec = RunRecord.from_json({**STORED, "status": "diverged", "metrics": None,
                               "diverged_at": 17, "curves": {"loss": []}})
    assert rec.diverged and rec.diverged_at == 17 and rec.metrics == {}
    assert math.isnan(rec.metric("test_accuracy")) and math.isnan(rec.final_loss)


@pytest.mark.parametrize(("change", "message"), [
    ({"status": "done"}, "status 'done' is not one of"),
    ({"run_id": None}, None),
])
def test_malformed_records_are_named(change, message):
    payload = {**STORED, **change}
    if change.get("run_id", "") is None:
        del payload["run_id"]
        message = r"missing \['run_id'\]"
    with pytest.raises(RecordError, match=f"records/x.json: .*{message}"):
        RunRecord.from_json(payload, "records/x.json")


@pytest.mark.parametrize(("change", "reason"), [
    ({"metrics": {"auc": 0.503}}, "spike AUC 0.503"),
    ({"metrics": {"auc": 0.10}}, "spike AUC 0.100"),  # an inverted spike ranking
    # 19 classes, 256 pairs: chance 0.0526 + 3 SE (0.0418) = 0.0944
    ({"metrics": {"test_accuracy": 0.09, "n_test": 256, "chance": 1 / 19}}, "within 3 SE"),
    ({"curves": {"loss": [2.9] + [2.8] * 10}}, "loss never fell"),
])
def test_a_run_that_learnt_nothing_is_flagged(change, reason):
    assert reason in (RunRecord.from_json({**STORED, **change}).collapse or "")


@pytest.mark.parametrize("change", [
    {"metrics": {"auc": 0.93}},
    {"metrics": {"test_accuracy": 0.10, "n_test": 256, "chance": 1 / 19}},  # 0.10 > 0.0944
    {"curves": {"loss": [2.9] * 5}},  # too short a curve to call a stall
    {"status": "diverged", "metrics": None},  # diverged is its own flag
])
def test_a_run_that_learnt_is_not_flagged(change):
    assert RunRecord.from_json({**STORED, **change}).collapse is None
