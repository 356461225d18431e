"""Chapter 6's claims (elmbook.lra_claims), on hand-made records."""

from __future__ import annotations

from elm.experiments.records import RunRecord
from elm.experiments.sweep import RunSpec
from elmbook import claims, lra_claims, snapshot

SPEC = snapshot.coverage("study_lra").runs  # the snapshot's spec, whatever the snapshot holds


def rec(task, model, test, seed=0, tau_s=5.0, final_loss=0.6, status="complete"):
    """A study-scale record as the snapshot holds it (tau_s other than 5 ms: a Fig S6 point)."""
    overrides = {"tau_s": tau_s} if tau_s != 5.0 else {}
    return RunRecord.from_json(
        {"run_id": f"{task}-{model}-{tau_s:g}-{seed}", "experiment": f"lra/{task}/{model}/paper",
         "status": status, "seed": seed, "scale": "study", "overrides": overrides,
         "config": {"model_args": {"tau_s": tau_s}, "train": {"batch_size": 32}},
         "data": {"task": task, "stand_in": True, "settings": {"silent_token": 0}},
         "metrics": {"test_accuracy": test, "n_test": 2000},
         "curves": {"step": [1000, 2000], "loss": [0.69, final_loss]}}, "test record")


def three(task, model, test, **kwargs):
    return [rec(task, model, test + 0.01 * s, seed=s, **kwargs) for s in range(3)]


def by_where(out, where):
    return [c for c in out if c.where == where]


def test_rows_come_from_the_spec_in_table1s_order():
    out = lra_claims.snapshot_claims([], SPEC)
    assert [c.test for c in out] == [
        "Pathfinder stand-in (generated 32x32 pictures, not LRA's Path-X): test accuracy, "
        "ELM neuron above Chrono-LSTM",
        "ListOps stand-in (generated expressions, not LRA's data): test accuracy, ELM neuron "
        "above Chrono-LSTM",
        "Pathfinder stand-in (generated 32x32 pictures, not LRA's Path-X), ELM neuron: training "
        "loss at the end of the run, τ_s 150 ms below τ_s 5 ms",
        "Pathfinder stand-in (generated 32x32 pictures, not LRA's Path-X), ELM neuron: training "
        "loss at the end of the run, τ_s 150 ms below τ_s 30 ms",
        "Pathfinder stand-in (generated 32x32 pictures, not LRA's Path-X), ELM neuron: test "
        "accuracy, τ_s 150 ms above τ_s 5 ms",
        "Pathfinder stand-in (generated 32x32 pictures, not LRA's Path-X), ELM neuron: test "
        "accuracy, τ_s 150 ms above τ_s 30 ms"]
    assert {c.quote for c in out} == {q for q, _ in lra_claims.QUOTES.values()}
    assert {c.verdict.outcome for c in out} == {claims.UNDECIDED}
    assert out[0].verdict.evidence.startswith("ELM neuron no run vs Chrono-LSTM no run")
    assert lra_claims.spec_taus(SPEC) == ("pathfinder", [5.0, 30.0, 150.0])


def test_table1_verdicts_go_both_ways():
    records = (three("listops", "elm", 0.40) + three("listops", "chrono-lstm", 0.20)
               + three("pathfinder", "elm", 0.55) + three("pathfinder", "chrono-lstm", 0.80)
               + [rec("listops", "elm", 0.1, seed=5, status="failed")])
    pathfinder, listops = by_where(lra_claims.snapshot_claims(records, SPEC), "Table 1 caption")
    assert listops.verdict.outcome == claims.SUPPORTS
    assert "(n 3)" in listops.verdict.evidence  # the failed run is left out
    assert pathfinder.verdict.outcome == claims.CONTRADICTS


def test_tau_s_loss_is_lower_better_and_accuracy_higher_better():
    records = (three("pathfinder", "elm", 0.55, final_loss=0.69)
               + three("pathfinder", "elm", 0.60, tau_s=30.0, final_loss=0.40)
               + three("pathfinder", "elm", 0.70, tau_s=150.0, final_loss=0.50))
    out = lra_claims.snapshot_claims(records, SPEC)
    note, fig = by_where(out, "note to Table S2"), by_where(out, "Fig S6 caption")
    assert [c.verdict.outcome for c in note] == [claims.SUPPORTS, claims.CONTRADICTS]
    assert [c.verdict.outcome for c in fig] == [claims.SUPPORTS, claims.SUPPORTS]
    assert note[0].verdict.evidence.startswith("τ_s 150 ms 0.5")


def test_a_missing_tau_cannot_decide():
    records = three("pathfinder", "elm", 0.55) + three("pathfinder", "elm", 0.70, tau_s=150.0)
    fig = by_where(lra_claims.snapshot_claims(records, SPEC), "Fig S6 caption")
    assert [c.verdict.outcome for c in fig] == [claims.SUPPORTS, claims.UNDECIDED]
    assert "τ_s 30 ms no run" in fig[1].verdict.evidence


def test_other_taus_in_a_spec_give_other_rows():
    spec = [RunSpec("lra/pathfinder/elm/paper", over, 0, "study")
            for over in ({}, {"tau_s": 50.0})]
    out = lra_claims.tau_claims([], spec)
    assert [c.test.rsplit(": ", 1)[1] for c in out] == [
        "training loss at the end of the run, τ_s 50 ms below τ_s 5 ms",
        "test accuracy, τ_s 50 ms above τ_s 5 ms"]
    assert lra_claims.table1_claims([], spec) == []  # no Chrono-LSTM run in this spec
