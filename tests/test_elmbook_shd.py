"""Chapter 5's cells as functions (elmbook.shd), on hand-made typed records."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from elm.data import shd
from elm.experiments import configs
from elm.experiments.records import RunRecord
from elm.experiments.sweep import RunSpec
from elmbook import chapter
from elmbook import shd as ch5


def record(dataset="shd", model="elm", bin_ms=10.0, test=0.5, valid=None, train=None, n=200,
           seed=0, status="complete", steps=1000, lr=0.01, description="680 real recordings",
           **overrides):
    chance = 1 / 19 if dataset == "shd-adding" else 1 / 20
    overrides = {"data.bin_ms": bin_ms, **overrides}
    metrics = ({"train_accuracy": test if train is None else train,
                "valid_accuracy": test if valid is None else valid, "test_accuracy": test,
                "n_train": n, "n_valid": n, "n_test": n, "chance": chance}
               if status == "complete" else {})
    return RunRecord.from_json(
        {"run_id": f"{dataset}-{model}-{bin_ms:g}-{sorted(overrides.items())}-{seed}",
         "experiment": f"{dataset}/{model}/paper", "status": status, "seed": seed,
         "scale": "demo", "overrides": overrides, "metrics": metrics, "steps_done": steps,
         "config": {"train": {"batch_size": 8, "learning_rate": lr, "epochs": 1,
                              "batches_per_epoch": steps}},
         "data": {"bin_ms": bin_ms, "description": description},
         "wall_time_s": 12.4, "train_wall_time_s": 9.6}, "hand-made")


def test_summarise_runs_names_the_seeds_that_learnt_nothing():
    records = [record(seed=0, test=0.5), record(seed=1, test=0.05),  # seed 1: at chance
               record(seed=2, status="diverged"), record(bin_ms=50.0, seed=0, test=0.05)]
    assert records[1].collapse and records[0].collapse is None
    rows = {r["data.bin_ms"]: r for r in ch5.summarise_runs(records)}
    assert rows[10.0]["collapsed"] == [1] and rows[10.0]["seeds"] == [0, 1]
    assert rows[10.0]["diverged"] == 1 and rows[50.0]["collapsed"] == [0]
    assert rows[10.0]["test_accuracy_mean"] == pytest.approx(0.275)


def test_tables_s8_s9_flag_collapsed_and_diverged_seeds():
    records = [record(seed=0, test=0.5), record(seed=1, test=0.05), record(seed=2,
               status="diverged"), record(model="lstm", test=0.6)]
    rows = ch5.table_rows(ch5.summarise_runs(records), "shd")
    assert len(rows[0]) == len(ch5.TABLE_COLUMNS)
    elm, lstm = rows
    assert elm[:2] == ["ELM", "10"] and elm[-3:] == [2, 1, "seed 1"]
    assert elm[2] != "–"  # Table S8 has the ELM at 10 ms
    assert lstm[0] == "LSTM" and lstm[-3:] == [1, 0, ""]
    assert ch5.table_rows(ch5.summarise_runs(records), "shd-adding") == []


def test_collapsed_seeds_cell():
    assert ch5.collapsed_seeds([]) == ""
    assert ch5.collapsed_seeds([0]) == "seed 0"
    assert ch5.collapsed_seeds([3, 0]) == "seeds 0, 3"


def test_run_rows_show_status_times_and_why_a_run_learnt_nothing():
    good, flat = record(seed=0), record(seed=1, test=0.05)
    lost = RunSpec("shd/lstm/paper", {"data.bin_ms": 10.0})
    runs = [RunSpec(good.experiment, good.overrides, 0), RunSpec(flat.experiment,
            flat.overrides, 1), lost]
    rows = ch5.run_rows(runs, {runs[0].run_id: good, runs[1].run_id: flat})
    assert rows[0][2:] == ["complete", "10", "12", ""]
    assert rows[1][-1].startswith("test accuracy 0.050 within 3 SE of chance")
    assert rows[2][2:] == ["not in the store", "–", "–", ""]
    assert all(len(r) == len(ch5.RUN_COLUMNS) for r in rows)


def test_run_label_reads_the_records_and_skips_failed_ones():
    records = [record(seed=1, steps=300, lr=0.005), record(seed=0),
               record(dataset="shd-adding", n=256, description="stand-in"),
               record(seed=7, status="failed", steps=5, description="broken")]
    label = ch5.run_label(records, "shd", "demo")
    assert label == ("scale 'demo': 300/1000 steps of batch 8, learning rate 0.005/0.01, "
                     "seeds [0, 1], test accuracy on 200 samples; data: 680 real recordings")
    assert "256 pairs; data: stand-in" in ch5.run_label(records, "shd-adding", "demo")
    assert ch5.run_label(records[:1], "shd-adding", "smoke") == (
        "scale 'smoke': no shd-adding runs in the store")


def test_figure_captions_carry_the_provenance():
    records = [record(seed=0), record(dataset="shd-adding", n=256, description="stand-in")]
    adding = ch5.accuracy_caption(records, "shd-adding", "demo")
    assert "the paper's Table S9 (book/elmbook/reference_data/table_s9_shd_adding.csv)" in adding
    assert "mean ± std over its five runs on the official SHD" in adding
    assert adding.endswith("Our runs at scale 'demo': 1000 steps of batch 8, learning rate "
                           "0.01, seeds [0], test accuracy on 256 pairs; data: stand-in.")
    assert "Table S8" in ch5.accuracy_caption(records, "shd", "demo")
    assert ch5.accuracy_caption([], "shd", "smoke").endswith(
        "Our runs at scale 'smoke': no shd runs in the store.")
    reduced = ch5.ablation_caption(records, "shd", 50.0, "demo")
    assert reduced.startswith("Training and test accuracy of ELM variants on SHD at 50 ms bins")
    assert "so none are drawn. Below paper scale this is a reduced version (SHD at 50 ms bins)" in (
        reduced)
    assert "reduced" not in ch5.ablation_caption(records, "shd-adding", 2.0, "paper")
    sample = {"rows": (3, 17), "target": 11, "provenance": "stand-in, generated by elm.data"}
    caption = ch5.sample_caption(sample, ["english one", "german zehn"])
    assert "row 3 of the test file ('english one') followed by row 17 ('german zehn')" in caption
    assert "Data: a generated STAND-IN (synthetic spikes in the SHD layout, not SHD)" in caption
    real = ch5.sample_caption({**sample, "provenance": "real Heidelberg Digits"}, ["a", "b"])
    assert real.endswith("Data: real recordings; real Heidelberg Digits.")


def test_the_chapter_grid_at_smoke_and_demo():
    for scale in ("smoke", "demo"):
        ch = chapter.setup(scale, out_dir="/nonexistent")
        runs = ch.runs("shd_models", "shd_ablations")
        assert {r.scale for r in runs} == {scale} and len(runs) == len({r.run_id for r in runs})
        assert ch5.ablation_setting(runs) == ("shd", 50.0)
    smoke = chapter.setup("smoke", out_dir="/nonexistent").runs("shd_models", "shd_ablations")
    assert [r.experiment for r in smoke if ch5.is_model_run(r)] == ["shd/elm/paper",
                                                                    "shd-adding/elm/paper"]
    assert all(not any(k.startswith("train.") for k in r.overrides) for r in smoke)
    demo = chapter.setup("demo", out_dir="/nonexistent").runs("shd_models", "shd_ablations")
    models = {(r.experiment, r.overrides["data.bin_ms"]) for r in demo if ch5.is_model_run(r)}
    assert models == {(f"{ds}/{m}/paper", 50.0) for ds in ("shd", "shd-adding")
                      for m in ("elm", "branch-elm", "lstm", "snn")}  # the four models, one bin
    assert sum(not ch5.is_model_run(r) for r in demo) == 2


def test_the_ablation_setting_is_where_every_ablation_run_asks():
    paper = chapter.load_runs([chapter.spec_path("shd_ablations.yaml")], scale="paper")
    assert ch5.ablation_setting(paper) == ("shd-adding", 2.0)
    mixed = [RunSpec("shd/elm/paper", {"data.bin_ms": 50.0, "d_m": 10}),
             RunSpec("shd-adding/elm/paper", {"data.bin_ms": 2.0, "d_m": 10})]
    with pytest.raises(ValueError, match="one dataset and bin size"):
        ch5.ablation_setting(mixed)


def test_figure_series_paper_and_ours():
    paper = ch5.paper_accuracies("shd")
    ref = ch5.paper_series(paper, "elm", "test_accuracy")
    assert ref.bins == sorted(ref.bins) and len(ref.bins) == len(ref.mean) == len(ref.std) > 2
    assert ref.mean[ref.bins.index(10.0)] == paper[("ELM", 10.0)]["test_acc_mean"]
    rows = ch5.ours_by_model(ch5.summarise_runs(
        [record(bin_ms=50.0, test=0.3), record(test=0.4, seed=0), record(test=0.6, seed=1),
         record(bin_ms=4.0, status="diverged")]), "shd")["elm"]
    ours = ch5.our_series(rows, "test_accuracy")
    assert ours.bins == [10.0, 50.0]  # 4 ms: no complete run
    assert ours.mean == pytest.approx([0.5, 0.3]) and ours.std == pytest.approx([0.1, 0.0])


def test_ablations_name_and_order_the_variants():
    records = [record(bin_ms=50.0, dt=50.0, test=0.4),
               record(bin_ms=50.0, dt=50.0, tau_m_init=[1.0, 25.0], tau_m_bounds=[0.0, 25.0]),
               record(bin_ms=50.0, dt=50.0, d_m=10, test=0.2),
               record(bin_ms=50.0, dt=50.0, d_m=200, test=0.3),
               record(bin_ms=10.0, dt=10.0, d_m=10),  # another bin
               record(model="lstm", bin_ms=50.0)]  # another model
    abl = ch5.ablations(records, "shd", 50.0, default_d_m=100)
    assert [r["variant"] for r in abl.e_rows] == ["d_m = 10", "default", "d_m = 200"]
    assert [r["variant"] for r in abl.f_rows] == ["tau_m 1-25 ms", "default"]
    assert abl.default is abl.e_rows[1] and len(abl.rows) == 4
    rows = ch5.ablation_rows(abl.rows)
    assert rows[0][0] == "default" and rows[0][4].startswith("0.40") and rows[0][5] == [0]
    assert rows[0][6] == "" and len(rows[0]) == len(ch5.ABLATION_COLUMNS)
    flat = ch5.ablations([record(bin_ms=50.0, dt=50.0, d_m=10, test=0.05)], "shd", 50.0, 100)
    assert ch5.ablation_rows(flat.rows)[0][6] == "seed 0"
    assert ch5.ablations(records[2:4], "shd", 50.0, 100).default is None


def test_notes_say_what_learnt_and_how_the_bins_compare():
    records = [record(dataset="shd-adding", bin_ms=20.0, test=0.3, n=256),
               record(dataset="shd-adding", model="lstm", bin_ms=20.0, test=0.1, n=256),
               record(test=0.4, valid=0.35), record(model="lstm", test=0.3, valid=0.2)]
    summary = ch5.summarise_runs(records)
    abl = [{"variant": "default", "train_accuracy_mean": 0.5, "valid_accuracy_mean": 0.35,
            "test_accuracy_mean": 0.4}]
    protocol = {ds: SimpleNamespace(epochs=70, batches_per_epoch=b, batch_size=8)
                for ds, b in (("shd", 1000), ("shd-adding", 2000))}
    lines = ch5.notes(records, summary, abl, "demo", protocol, "shd, 50 ms bins")
    assert lines[0].startswith("Our runs trained for 1000 steps") and "one seed" in lines[0]
    assert lines[1].startswith("- **SHD-Adding** (2 run(s)): test accuracy 0.10-0.30")
    assert lines[1].endswith("by more than 3 binomial standard errors): ELM at 20 ms.")
    assert ("ELM 0.40 (0.35), Branch-ELM not run (not run), LSTM 0.30 (0.20), SNN not run "
            "(not run). The ELM is ahead of the LSTM" in lines[2])
    assert lines[3].endswith("(shd, 50 ms bins): train 0.50, validation 0.35, test 0.40 "
                             "(train - validation: +0.15).")
    flat = ch5.notes(records[1:2], [], [], "paper", protocol, "")
    assert "no run beats the best constant answer" in flat[1] and "one seed" not in flat[0]


def test_learnt_needs_validation_and_test_above_chance():
    se = math.sqrt(0.1 * 0.9 / 256)
    assert ch5.learnt(record(test=0.1 + 3.1 * se, n=256), 0.1)
    assert not ch5.learnt(record(test=0.1 + 3.1 * se, valid=0.1, n=256), 0.1)


def test_paper_cost_counts_runs_and_sequence_steps_by_bin():
    runs = [RunSpec("shd/elm/paper", {"data.bin_ms": 10.0}),
            RunSpec("shd-adding/elm/paper", {"data.bin_ms": 10.0}),
            RunSpec("shd/elm/paper", {"data.bin_ms": 100.0})]
    cost = ch5.paper_cost(runs)
    assert cost[10.0]["runs"] == 2 and cost[100.0]["runs"] == 1
    for name in ("shd/elm/paper", "shd-adding/elm/paper"):
        exp = configs.get(name, "paper")
        one = ch5.paper_cost([RunSpec(name, {"data.bin_ms": 10.0})])[10.0]["units"]
        sequence = shd.n_bins(10.0, exp.data["duration_s"]) * (2 if "adding" in name else 1)
        assert one == exp.train.steps * exp.train.batch_size * sequence  # two digits per pair


def test_longer_training_is_kept_apart_and_tabled_beside_the_budget():
    base = [record("shd-adding", seed=s, bin_ms=50.0, steps=2000, train=0.10, test=0.10, n=16000)
            for s in range(3)]
    longer = [record("shd-adding", seed=s, bin_ms=50.0, steps=12000, train=0.99, test=t, n=16000)
              for s, t in enumerate((0.104, 0.098, 0.101))]
    other = [record("shd", seed=0, bin_ms=50.0, steps=2000, test=0.3)]
    assert ch5.by_training_length([*base, *longer, *other]) == ([*base, *other], longer)
    assert ch5.by_training_length([]) == ([], [])
    rows = ch5.training_length_rows([*base, *longer, *other])  # SHD has one length: no row
    assert [r[:4] for r in rows] == [["SHD-Adding ELM", "50", "2,000", "0/1/2"],
                                     ["SHD-Adding ELM", "50", "12,000", "0/1/2"]]
    assert rows[1][4] == "0.99 ± 0.00" and rows[1][6] == "0.10 ± 0.00"
    assert all(len(r) == len(ch5.LENGTH_COLUMNS) for r in rows)
    note = ch5.training_length_note(longer)
    assert note.startswith("After 12,000 steps the 3 longer-trained SHD-Adding runs fit their "
                           "training samples (train accuracy 0.99) and answer the test samples "
                           "at 0.10, not above the best constant answer (0.10")
    learning = [record("shd-adding", seed=0, bin_ms=50.0, steps=12000, train=0.4, test=0.3,
                       n=16000)]
    assert "did not fit" in ch5.training_length_note(learning)
    assert ", above the best" in ch5.training_length_note(learning)
    assert ch5.training_length_note([]) == "No longer-trained SHD-Adding run in these records."
