"""elmbook.neuronio_claims: which groups of seeds stand for each of chapter 3's sentences."""

from __future__ import annotations

from elm.experiments.records import RunRecord
from elmbook import claims
from elmbook import neuronio as nf
from elmbook import neuronio_claims as nc


def record(experiment: str, seed: int, auc: float, rmse: float, d_m: int | None = None
           ) -> RunRecord:
    overrides = {"d_m": d_m} if d_m else {}
    return RunRecord.from_json({
        "run_id": f"{experiment}-{d_m}-{seed}", "experiment": experiment,
        "overrides": overrides, "seed": seed, "scale": "study", "status": "complete",
        "steps_done": 3000, "hardware": {"device_kind": "cpu"},
        "data": {"description": "stand-in", "stand_in": True},
        "metrics": {"auc": auc, "soma_rmse_mv": rmse, "tp_at_fp_0.0025": 0.1,
                    "tp_at_fp_0.01": 0.2}}, "test record")


def three(experiment: str, auc: float, rmse: float, d_m: int | None = None) -> list[RunRecord]:
    return [record(experiment, s, auc + 0.001 * s, rmse + 0.01 * s, d_m) for s in range(3)]


def test_seed_values_pick_one_family_and_size():
    records = (three("neuronio/elm/paper", 0.97, 1.0, 20)
               + three("neuronio/elm/paper", 0.9, 2.0, 10))
    assert nc.seed_values(records, "ELM", "d_m=20", "auc") == [0.97, 0.971, 0.972]
    assert nc.seed_values(records, "ELM", "d_m=50", "auc") == []


def test_each_elm_size_meets_the_smallest_lstm_with_at_least_its_parameters():
    records = (three("neuronio/elm/paper", 0.97, 0.8, 10)
               + three("neuronio/elm/paper", 0.98, 0.7, 50)
               + three("neuronio/lstm-15/paper", 0.96, 1.2)
               + three("neuronio/lstm-50/paper", 0.99, 0.6))
    rows = nf.summary_rows(records)
    got = {c.test: c.verdict.outcome for c in nc.snapshot_claims(records, rows)
           if c.where == "Section 3.1"}
    # ELM d_m=10 (27,300) meets LSTM 15 (77,672); d_m=50 (139,380) meets LSTM 50 (265,902)
    assert got == {
        "spike AUC of ELM d_m=10 (27,300 params) higher than of LSTM hidden=15 (77,672 params)":
            claims.SUPPORTS,
        "soma RMSE of ELM d_m=10 (27,300 params) lower than of LSTM hidden=15 (77,672 params)":
            claims.SUPPORTS,
        "spike AUC of ELM d_m=50 (139,380 params) higher than of LSTM hidden=50 (265,902 params)":
            claims.CONTRADICTS,
        "soma RMSE of ELM d_m=50 (139,380 params) lower than of LSTM hidden=50 (265,902 params)":
            claims.CONTRADICTS}


def test_a_model_the_snapshot_lacks_decides_nothing():
    records = (three("neuronio/branch-elm/paper", 0.98, 0.8, 20)
               + three("neuronio/elm/paper", 0.97, 0.9, 20))
    out = nc.snapshot_claims(records, nf.summary_rows(records))
    by_where = {}
    for c in out:
        by_where.setdefault(c.where, []).append(c.verdict.outcome)
    assert by_where["Fig 4 caption"] == [claims.SUPPORTS, claims.SUPPORTS]  # AUC up, RMSE down
    assert by_where["Fig 2 caption"] == [claims.UNDECIDED] * 2  # no LSTM 50 in these records
    assert by_where["App. C, Table S4"] == [claims.UNDECIDED] * 2
    assert "no run" in out[-1].verdict.evidence
    assert {c.quote for c in out} == {q for q, _ in nc.QUOTES.values()}
