"""elmbook.ablations_claims: which points of chapter 4's panels stand for each sentence.

The full case is the snapshot's two specs filled with made-up records (every run of
``study_neuronio_ablations`` and ``study_neuronio_models``), read back through
``snapshot.coverage`` as the chapter reads them.
"""

from __future__ import annotations

import pytest

from elm.experiments.records import RunRecord
from elm.experiments.results import ResultsStore
from elm.experiments.sweep import RunSpec
from elmbook import ablations, claims, snapshot
from elmbook import ablations_claims as ac

SPECS = ("study_neuronio_ablations", "study_neuronio_models")
LR = {"train.learning_rate": 5.0e-3}


def payload(run: RunSpec, auc: float, rmse: float, status: str = "complete") -> dict:
    return {"run_id": run.run_id, "experiment": run.experiment, "overrides": dict(run.overrides),
            "seed": run.seed, "scale": run.scale, "status": status, "steps_done": 3000,
            "data": {"description": "stand-in", "stand_in": True},
            "metrics": {"auc": auc, "soma_rmse_mv": rmse} if status == "complete" else {}}


def quality(run: RunSpec) -> float:
    """A made-up score that grows with d_m, hidden layers and λ (and a little with the seed)."""
    o = run.overrides
    return (o.get("d_m", 20) + 10 * o.get("mlp_layers", 1) + o.get("lambda_value", 10.0)
            + 0.1 * run.seed)


def snapshot_with(tmp_path, score, keep=lambda run: True):
    """The snapshot's runs (both specs) with records where ``keep``: AUC ``score(run)``/100,
    soma RMSE its negative, so a higher score is better in both."""
    store = ResultsStore(tmp_path)
    runs = [r for spec in SPECS for r in snapshot.coverage(spec, root=tmp_path).runs]
    for run in runs:
        if keep(run) and store.read(run.run_id) is None:
            store.write(payload(run, score(run) / 100, -score(run)))
    cover = [snapshot.coverage(spec, root=tmp_path) for spec in SPECS]
    records = list({r.run_id: r for c in cover for r in c.usable}.values())
    return records, [r for c in cover for r in c.runs]


def outcomes(out: list[claims.Claim]) -> dict[str, str]:
    return {c.test: c.verdict.outcome for c in out}


def test_the_full_snapshot_supports_when_the_paper_side_is_better(tmp_path):
    records, runs = snapshot_with(tmp_path, quality)
    out = ac.snapshot_claims(records, runs)
    assert set(outcomes(out).values()) == {claims.SUPPORTS}
    assert list(outcomes(out)) == [
        f"{metric} of the ELM at {a} {better} than at {b}"
        for a, b in (("d_m = 10", "d_m = 3"), ("d_m = 10", "d_m = 5"),
                     ("hidden layers = 1", "hidden layers = 0"), ("λ = 10", "λ = 1"),
                     ("λ = 30", "λ = 1"))
        for metric, better in (("spike AUC", "higher"), ("soma RMSE", "lower"))]
    assert all("(n 3)" in c.verdict.evidence for c in out)
    assert {c.quote for c in out} == {s.quote for s in ac.SENTENCES}


def test_the_full_snapshot_contradicts_when_the_other_side_is_better(tmp_path):
    records, runs = snapshot_with(tmp_path, lambda run: 1000 - quality(run))
    assert set(outcomes(ac.snapshot_claims(records, runs)).values()) == {claims.CONTRADICTS}


def test_a_point_the_snapshot_lacks_decides_nothing(tmp_path):
    # the snapshot as it is now: the models' runs, among them the ablations' shared defaults
    models = {r.run_id for r in snapshot.coverage(SPECS[1], root=tmp_path).runs}
    records, runs = snapshot_with(tmp_path, quality, keep=lambda run: run.run_id in models)
    assert len(snapshot.coverage(SPECS[0], root=tmp_path).usable) == 6
    out = ac.snapshot_claims(records, runs)
    assert set(outcomes(out).values()) == {claims.UNDECIDED}
    assert "d_m = 10 0.301 ± 0.001 (n 3) vs d_m = 3 no run" in out[0].verdict.evidence
    assert all("no run" in c.verdict.evidence for c in out)


def test_a_diverged_seed_is_left_out_and_counted(tmp_path):
    records, runs = snapshot_with(tmp_path, quality)
    lam1 = next(r for r in records if r.overrides.get("lambda_value") == 1.0 and r.seed == 0)
    diverged = RunRecord.from_json({**lam1.raw, "status": "diverged", "metrics": {}})
    out = ac.snapshot_claims([diverged if r is lam1 else r for r in records], runs)
    lam = [c for c in out if c.where == "Fig 3c caption"]
    assert all(c.verdict.outcome == claims.UNDECIDED for c in lam)  # two seeds left at λ = 1
    assert all("1 non-finite left out" in c.verdict.evidence for c in lam)


def test_records_and_points_are_read_with_their_shared_training_set_aside():
    runs = [RunSpec(ablations.ELM_EXP, {"d_m": d, **LR}, 0, "study") for d in (5, 20)]
    assert ablations.shared_training(runs) == LR
    assert ablations.axis_values(ablations.panel("3a"), runs) == []  # training changed: no panel
    assert ablations.axis_values(ablations.panel("3a"), runs, LR) == [5, 20]
    record = RunRecord.from_json(payload(runs[0], 0.9, 1.0))
    (placed,) = ablations.at_training([record], LR)
    assert placed.overrides == {"d_m": 5} and placed.run_id == record.run_id
    assert ablations.at_training([record], {}) == []  # trained otherwise: left out
    with pytest.raises(ValueError, match="differ in their training"):
        ablations.shared_training([*runs, RunSpec(ablations.ELM_EXP, {"d_m": 5}, 0, "study")])


def test_a_sentence_without_points_in_the_specs_still_gets_a_row():
    runs = [RunSpec(ablations.ELM_EXP, {**LR}, 0, "study")]  # the default only
    out = ac.snapshot_claims([], runs)
    assert [c.where for c in out] == [s.where for s in ac.SENTENCES]
    assert all(c.verdict.outcome == claims.UNDECIDED and "no point" in c.verdict.evidence
               for c in out)
