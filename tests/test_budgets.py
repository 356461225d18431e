"""elmbook.budgets: the snapshot's training beside the paper's, against independent values.

The references: App. B's NeuronIO protocol (30 epochs of 11,400 batches of 8, learning rate 5e-4:
342,000 steps), its SHD epochs and batches (70 epochs of 814 and of 2,000 batches), the study
scale's NeuronIO budget as the spec's comment states it (3,000 steps of batch 8 at 5e-3), the
number of runs load_spec expands, and hand-made records in a temporary snapshot.
"""

from __future__ import annotations

import pytest

from elm.experiments.results import ResultsStore
from elm.experiments.sweep import RunSpec, load_spec
from elmbook import REPOSITORY, budgets

NEURONIO_PAPER = budgets.Budget(342_000, 8, 5e-4)  # App. B: 30 x 11,400 batches of 8
NEURONIO_STUDY = budgets.Budget(3_000, 8, 5e-3)  # study_neuronio_models.yaml's comment


def record(rid: str, wall: float, status: str = "complete") -> dict:
    return {"run_id": rid, "experiment": "neuronio/elm/paper", "seed": 0, "scale": "study",
            "status": status, "wall_time_s": wall,
            "hardware": {"cpu": "Test CPU", "cpu_count": 2, "platform": "cpu"},
            **({"error": {"type": "ValueError", "message": "x"}} if status == "failed" else {})}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The NeuronIO models spec over a snapshot with two complete runs and one failed run."""
    root = tmp_path_factory.mktemp("snapshot")
    runs = load_spec(REPOSITORY / "book" / "sweeps" / "study_neuronio_models.yaml")
    store = ResultsStore(root)
    store.write(record(runs[0].run_id, 1800.0))
    store.write(record(runs[1].run_id, 1080.0))
    store.write(record(runs[2].run_id, 50.0, status="failed"))
    return budgets.family_budget("study_neuronio_models", root), runs, root


def test_budget_at_paper_scale_is_app_b_and_ignores_the_spec_overrides():
    run = RunSpec("neuronio/elm/paper", {"train.learning_rate": 5e-3}, 0, "study")
    assert budgets.budget(run, "paper", with_overrides=False) == NEURONIO_PAPER
    assert budgets.budget(run, "paper").learning_rate == 5e-3
    assert budgets.budget(run, "study") == NEURONIO_STUDY


def test_a_family_counts_the_spec_runs_and_reads_its_budgets(models):
    family, runs, _ = models
    assert family.runs == len(runs) == family.points * len(family.seeds)
    assert family.seeds == [0, 1, 2]
    assert family.study == {"neuronio": [NEURONIO_STUDY]}
    assert family.paper == {"neuronio": [NEURONIO_PAPER]}
    assert family.paper_runs == [3]  # App. B: "over three runs"
    assert family.fractions() == {"neuronio": pytest.approx(3_000 / 342_000)}


def test_held_runs_and_wall_time_leave_out_failed_runs(models):
    family, runs, _ = models
    assert set(family.held) == {runs[0].run_id, runs[1].run_id}
    assert family.wall_time_s == 2880.0
    assert family.machines == {"Test CPU, 2 cores (cpu)"}
    row = dict(zip(budgets.HEADER, budgets.row(family), strict=True))
    assert row["runs held"] == f"2 of {len(runs)}"
    assert row["their wall time (h)"] == "0.8"
    assert family.projected_s == 1440.0 * len(runs)  # the mean of the two held runs, per run
    assert row["paper: steps × batch"] == "342,000 × 8"
    assert row["study steps / paper steps"] == "0.88%"


def test_shd_lists_each_dataset_where_the_paper_differs(tmp_path):
    family = budgets.family_budget("study_shd", tmp_path)
    snn, others = 2e-3, 5e-3  # App. B's learning rates
    assert family.paper == {
        "shd": [budgets.Budget(70 * 814, 8, snn), budgets.Budget(70 * 814, 8, others)],
        "shd-adding": [budgets.Budget(70 * 2000, 8, snn), budgets.Budget(70 * 2000, 8, others)]}
    assert family.paper_runs == [5]  # App. B: "over five runs"
    row = dict(zip(budgets.HEADER, budgets.row(family), strict=True))
    assert row["paper: steps × batch"] == "shd: 56,980 × 8; shd-adding: 140,000 × 8"
    assert row["study: learning rate"] == "0.002, 0.01"
    assert row["runs held"] == f"0 of {len(load_spec(REPOSITORY / 'book/sweeps/study_shd.yaml'))}"
    assert family.projected_s is None and row["all runs at that pace (h)"] == ""


def test_the_caption_counts_a_run_of_two_specs_once(models):
    family, _, root = models
    ablations = budgets.family_budget("study_neuronio_ablations", root)
    shared = family.run_ids & ablations.run_ids
    assert shared  # the ablations' default points are runs of the models spec
    text = budgets.caption([family, ablations])
    distinct = len(family.run_ids | ablations.run_ids)
    held = len(set(family.held) | set(ablations.held))
    assert (f"{held} of {distinct} distinct runs held ({len(shared)} runs belong to two specs)"
            in text)
    assert "Test CPU, 2 cores (cpu)" in text
