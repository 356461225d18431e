"""The NeuronIO chapter's library: families, the paper's points, counts, restoring trained
models from their checkpoints, the protocol's predictions and the figures."""

from __future__ import annotations

import dataclasses
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from flax import nnx
from sklearn.metrics import roc_auc_score

from elm.counting import count_params
from elm.experiments import configs
from elm.experiments.neuronio_eval import IGNORE_START_MS
from elm.experiments.records import RunRecord
from elm.experiments.run import run, run_dir
from elmbook import neuronio as nf
from elmbook import plots


def test_every_neuronio_experiment_has_a_family():
    neuronio_names = [n for n in configs.names() if n.startswith("neuronio/")]
    families = {n: nf.family_of(n) for n in neuronio_names}
    assert set(families.values()) == set(nf.FAMILIES)
    assert families["neuronio/lstm-250/paper"] == "LSTM"
    assert families["neuronio/branch-elm/released"] == "Branch-ELM"
    assert families["neuronio/tcn-1m/ours"] == "TCN"
    for bad in ("shd/elm/paper", "neuronio/gru/paper", "neuronio"):
        with pytest.raises(ValueError):
            nf.family_of(bad)


def test_released_points_are_the_authors_eval_results(pretrained_dir):
    """The third layer of Fig 2 / Table S5 holds the authors' numbers from eval_results.csv
    (read here with the csv module, independently), never ours or the paper's tables."""
    import csv

    with open(pretrained_dir / "eval_results.csv", newline="") as f:
        raw = {int(r["model_config.num_memory"]): r for r in csv.DictReader(f)}
    points = nf.released_points(pretrained_dir)
    assert [nf.size_value(p.size) for p in points] == [1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40,
                                                       50, 75, 100]
    for p in points:
        r = raw[nf.size_value(p.size)]
        assert p.family == "Branch-ELM" and p.flops is None and p.auc_std is None
        assert p.params == int(r["model_stats.model_param_count"])
        assert p.auc == float(r["test_results.AUC"])
        assert p.rmse == float(r["test_results.soma_RMSE"])
    p20 = next(p for p in points if p.size == "d_m=20")
    assert (p20.params, round(p20.auc, 4), round(p20.rmse, 3)) == (8002, 0.9922, 0.638)
    header, body = nf.released_table(pretrained_dir)
    row20 = next(r for r in body if r[0] == 20)
    assert row20[header.index("AUC: Table S5")] == "0.9924 ± 0.0002"  # the paper's, beside
    assert next(r for r in body if r[0] == 1)[header.index("AUC: Table S5")] == "–"
    for axis, n_layer in (("params", 14), ("flops", 0)):
        fig = nf.plot_scaling([], axis, released=points)
        handles, labels = fig.axes[1].get_legend_handles_labels()
        label = nf.RELEASED_LEGEND
        assert " ".join(label.split()) == f"Branch-ELM: {nf.RELEASED_LABEL}"
        assert (label in labels) == bool(n_layer)
        if n_layer:
            assert len(handles[labels.index(label)].get_xdata()) == n_layer
        plt.close(fig)


def test_paper_points_come_from_the_reference_tables():
    counts = {f: len(nf.paper_points(f)) for f in nf.FAMILIES}
    assert counts == {"Branch-ELM": 7, "ELM": 8, "LSTM": 6, "TCN": 0, "LIF": 1,
                      "simplest ELM": 1}
    (lif,) = nf.paper_points("LIF")
    assert (lif.params, lif.rmse, lif.auc, lif.flops) == (1280, 2.29, 0.9117, None)
    (simplest,) = nf.paper_points("simplest ELM")
    assert simplest.params == 1286 and simplest.auc == 0.9255
    b20 = next(p for p in nf.paper_points("Branch-ELM") if p.size == "d_m=20")
    assert (b20.params, b20.flops, b20.auc, b20.auc_std) == (8100, 18.27e6, 0.9924, 0.0002)
    assert [p.size for p in nf.paper_points("LSTM")][:2] == ["hidden=15", "hidden=25"]


def test_model_costs_match_the_papers_exact_counts():
    lstm15, _ = nf.model_cost(configs.get("neuronio/lstm-15/paper"))
    lstm50, _ = nf.model_cost(configs.get("neuronio/lstm-50/paper"))
    assert (lstm15, lstm50) == (77_672, 265_902)  # Table S7 (printed 77.67K, 265.9K)
    assert nf.model_cost(configs.get("neuronio/lif/paper"))[0] == 1280  # Table S4
    assert nf.model_cost(configs.get("neuronio/simplest-elm/paper"))[0] == 1286  # Table S4
    assert nf.model_cost(configs.get("neuronio/branch-elm/released"))[0] == 8002
    params, flops = nf.model_cost(configs.get("neuronio/lstm-15/paper"), seq_len=10)
    assert flops * 50 == nf.model_cost(configs.get("neuronio/lstm-15/paper"))[1]
    assert params == lstm15


def test_the_flops_columns_are_500_steps_of_our_count():
    lstm = nf.flops_seq_len_fit("LSTM", "neuronio/lstm-15/paper")
    assert len(lstm) == 6
    assert all(abs(r["relative_error_at_500"]) < 1e-3 for r in lstm)
    elm_rows = nf.flops_seq_len_fit("ELM", "neuronio/elm/paper")
    assert all(abs(r["relative_error_at_500"]) < 0.025 for r in elm_rows)
    d20 = next(r for r in elm_rows if r["size"] == 20)
    assert d20["paper_flops"] == 55.38e6 and 500 < d20["seq_len"] < 510


def test_size_labels_and_cells():
    assert nf.size_label(configs.override(configs.get("neuronio/elm/paper"), {"d_m": 35})) \
        == "d_m=35"
    assert nf.size_label(configs.get("neuronio/lstm-25/paper")) == "hidden=25"
    assert nf.size_label(configs.get("neuronio/tcn-30k/ours")) == "tcn-30k"
    assert nf.size_label(configs.get("neuronio/lif/paper")) == "-"
    assert nf.size_value("d_m=20") == 20 and nf.size_value("tcn-1m") is None
    assert plots.mean_std(0.63812, 0.0031) == "0.638 ± 0.003"
    assert plots.mean_std(0.5, float("nan")) == "0.500" and plots.mean_std(float("nan")) == "–"
    assert plots.mean_std(0.86, 0.02, 2, n=1) == "0.86"  # one run has no spread


def _record(experiment, seed, auc, rmse, overrides=None, status="complete", stand_in=True,
            tp=(0.1, 0.2)):
    """A hand-made typed record, as :func:`elmbook.chapter.ensure_runs` hands the chapter."""
    return RunRecord.from_json({
        "run_id": f"{experiment}-{seed}-{overrides}", "experiment": experiment,
        "overrides": overrides or {}, "seed": seed, "scale": "demo", "status": status,
        "steps_done": 300, "wall_time_s": 10.0 + seed,
        "hardware": {"device_kind": "cpu"},
        "data": {"description": "stand-in" if stand_in else "real", "stand_in": stand_in},
        "metrics": None if status != "complete" else {
            "auc": auc, "soma_rmse_mv": rmse, "tp_at_fp_0.0025": tp[0],
            "tp_at_fp_0.01": tp[1]}}, f"test record {seed}")


def test_summary_rows_group_seeds_and_add_costs():
    records = [_record("neuronio/elm/paper", 0, 0.90, 1.0, {"d_m": 10}),
               _record("neuronio/elm/paper", 1, 0.92, 2.0, {"d_m": 10}, tp=(0.3, 0.4)),
               _record("neuronio/elm/paper", 2, None, None, {"d_m": 10}, status="diverged"),
               _record("neuronio/elm/paper", 0, 0.70, 4.0, {"d_m": 15}, tp=(0.3, 0.5)),
               _record("neuronio/lif/paper", 0, 0.8, 3.0)]
    rows = nf.summary_rows(records)
    assert len(rows) == 3
    elm_row = next(r for r in rows if r["family"] == "ELM" and r["size"] == "d_m=10")
    assert elm_row["n"] == 2 and elm_row["diverged"] == 1 and elm_row["seeds"] == [0, 1]
    assert math.isclose(elm_row["auc_mean"], 0.91) and math.isclose(elm_row["auc_std"], 0.01)
    assert math.isclose(elm_row["soma_rmse_mv_mean"], 1.5)
    assert elm_row["params"] == 27_300 and elm_row["flops"] == 500 * 55_884
    assert elm_row["steps"] == [300]
    assert math.isclose(elm_row["tp_at_fp_0.0025_mean"], 0.2)  # over the complete seeds
    assert math.isclose(elm_row["tp_at_fp_0.01_std"], 0.1)
    assert math.isclose(elm_row["wall_time_s"], 11.0)  # over every run of the row, diverged too
    assert elm_row["collapsed"] == [] and elm_row["collapse"] == {}
    d15 = next(r for r in rows if r["size"] == "d_m=15")  # its own overrides, its own row
    assert d15["n"] == 1 and d15["tp_at_fp_0.01_mean"] == 0.5 and d15["auc_mean"] == 0.70
    lif = next(r for r in rows if r["family"] == "LIF")
    assert lif["params"] == 1280 and lif["soma_rmse_mv_mean"] == 3.0
    prov = nf.provenance(records)
    assert prov["stand_in"] and prov["seeds"] == [0, 1, 2] and prov["n_runs"] == 5
    assert (prov["scales"], prov["data"], prov["steps"], prov["hardware"]) == (
        ["demo"], ["stand-in"], [300], ["cpu"])
    text = nf.caption(prov)
    assert "STAND-IN" in text and "demo" in text and "300" in text
    assert "STAND-IN" not in nf.caption(nf.provenance([_record("neuronio/lif/paper", 0, 0.8,
                                                                3.0, stand_in=False)]))


def test_collapsed_seeds_are_named_and_kept_in_the_mean():
    """A Branch-ELM seed that ends at AUC 0.45 is a collapse (RunRecord.collapse): the row names
    its seed and why, the mean still holds it, and diverged runs are not collapses."""
    records = [_record("neuronio/branch-elm/paper", 0, 0.95, 1.0, {"d_m": 20}),
               _record("neuronio/branch-elm/paper", 1, 0.45, 3.0, {"d_m": 20}),
               _record("neuronio/branch-elm/paper", 2, None, None, {"d_m": 20},
                       status="diverged"),
               _record("neuronio/lif/paper", 0, 0.8, 3.0)]
    rows = nf.summary_rows(records)
    branch = next(r for r in rows if r["family"] == "Branch-ELM")
    assert branch["collapsed"] == [1] and branch["diverged"] == 1 and branch["n"] == 2
    assert branch["collapse"] == {1: "spike AUC 0.450 (chance 0.5)"}
    assert math.isclose(branch["auc_mean"], 0.70)  # the collapsed seed stays in the mean
    assert next(r for r in rows if r["family"] == "LIF")["collapsed"] == []
    assert nf.collapse_notes(rows) == ["Branch-ELM d_m=20, seed 1: spike AUC 0.450 (chance 0.5)"]
    lif_rows = nf.summary_rows([_record("neuronio/lif/paper", 3, 0.366, 6.0)])
    assert nf.collapse_notes(lif_rows) == ["LIF, seed 3: spike AUC 0.366 (chance 0.5)"]
    # the run a figure restores is the row's best seed, by AUC, complete
    rec, row = nf.best_record(records, rows, "Branch-ELM", "d_m=20")
    assert rec is records[0] and row is branch
    rec, row = nf.best_record(records[1:], nf.summary_rows(records[1:]), "Branch-ELM")
    assert rec.seed == 1 and row["n"] == 1  # only the collapsed seed is left: still the best
    assert nf.best_record(records, rows, "LSTM") == (None, None)
    assert nf.experiment_of(records[0]).model_args["d_m"] == 20


def test_predictions_are_scored_as_the_protocol():
    rng = np.random.default_rng(0)
    spikes = np.zeros((3, 1000), np.int64)
    spikes[0, [600, 700]] = 1
    spikes[1, 600:630] = 1  # 30 spikes: dropped by the protocol (> 24)
    spikes[2, [100, 800]] = 1  # the spike at 100 ms lies in the ignored start
    prob = rng.uniform(size=spikes.shape)
    soma = rng.normal(size=spikes.shape)
    pred = nf.Predictions(spikes, prob, soma, soma, spikes.sum(axis=1) <= 24)
    y, _ = pred.evaluated()
    assert y.size == 2 * (1000 - IGNORE_START_MS) and y.sum() == 3
    fpr, tpr = pred.roc()
    assert fpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    assert nf.tp_at(np.array([0.0, 0.5, 1.0]), np.array([0.0, 0.8, 1.0]), 0.25) == 0.4
    assert nf.busiest_simulation(spikes) == 0  # simulation 1 has the most spikes but is dropped
    assert nf.busiest_simulation(spikes.astype(np.uint8)) == 0  # the reader's dtype
    assert nf.busiest_simulation(spikes, keep=[False, False, True]) == 2
    train = np.zeros(6000, np.int64)
    train[[100, 200, 4100, 4200, 4300]] = 1
    assert nf.busiest_window(train, 2000) == (2301, 4301)  # earliest window holding all three
    assert nf.busiest_window(train[:1000], 2000) == (0, 1000)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny Branch-ELM trained for 3 steps at smoke scale into a results store."""
    root = tmp_path_factory.mktemp("store")
    overrides = {"d_m": 2}
    record = run("neuronio/branch-elm/paper", scale="smoke", seed=1, out_dir=root,
                 overrides=overrides, progress=False)
    return root, RunRecord.from_json(record, "trained")


def test_load_trained_restores_the_final_checkpoint(trained):
    root, record = trained
    model = nf.load_trained(record, store_root=root)
    assert count_params(model) == record.params
    fresh = configs.override(configs.get("neuronio/branch-elm/paper", "smoke"), {"d_m": 2})
    untrained = fresh.build(nnx.Rngs(1))
    assert not np.allclose(model.w_y.kernel[...], untrained.w_y.kernel[...])  # trained weights
    # the protocol's predictions of the restored model reproduce the record's metrics
    pred = nf.predict_files(model, nf.eval_files(record))
    y, p = pred.evaluated()
    assert math.isclose(roc_auc_score(y, p), record.metric("auc"), rel_tol=1e-9)
    assert pred.spikes.shape[0] == record.metrics["n_simulations"]


def test_load_trained_from_a_run_folder(trained):
    root, record = trained
    folder = run_dir(root, record.run_id)
    a = nf.load_trained(record, store_root=root)
    exp = nf.experiment_of(record)
    b = nf.load_trained(folder, exp)
    np.testing.assert_array_equal(a.w_y.kernel[...], b.w_y.kernel[...])
    with pytest.raises(ValueError, match="pass the experiment"):
        nf.load_trained(folder)
    (folder / "parameters.yaml").write_text(yaml.safe_dump(
        {"experiment": record.experiment, "overrides": dict(record.overrides),
         "scale": record.scale}))
    try:
        c = nf.load_trained(folder)
        np.testing.assert_array_equal(a.mlp[0].kernel[...], c.mlp[0].kernel[...])
        with pytest.raises(ValueError, match="ran"):
            nf.load_trained(folder, "neuronio/elm/paper")
    finally:
        (folder / "parameters.yaml").unlink()
    with pytest.raises(ValueError, match="record ran"):
        nf.load_trained(record, "neuronio/elm/paper", store_root=root)
    with pytest.raises(FileNotFoundError):
        nf.load_trained(record, store_root=root / "elsewhere")
    with pytest.raises(ValueError, match="final step"):  # a record of a longer run
        nf.load_trained(dataclasses.replace(record, steps_done=record.steps_done + 1),
                        store_root=root)


def test_figures_draw():
    rows = nf.summary_rows([_record("neuronio/elm/paper", 0, 0.90, 1.0, {"d_m": 10}),
                            _record("neuronio/elm/paper", 1, 0.92, 2.0, {"d_m": 10}),
                            _record("neuronio/lif/paper", 0, 0.8, 3.0)])
    for axis in ("params", "flops"):
        fig = nf.plot_scaling(rows, axis, title="t")
        ax_s = fig.axes[1]
        assert ax_s.get_xscale() == "log"
        labels = ax_s.get_legend_handles_labels()[1]
        assert "ELM (ours)" in labels and "ELM (paper)" in labels and "LSTM (paper)" in labels
        plt.close(fig)
    with pytest.raises(ValueError):
        nf.plot_scaling(rows, "seconds")

    rng = np.random.default_rng(0)
    X = (rng.uniform(size=(300, 1278)) < 0.01).astype(np.uint8)
    spikes = np.zeros(300, np.uint8)
    spikes[[50, 200]] = 1
    fig = nf.plot_sample(X, spikes, rng.normal(-70, 3, 300), title="sample")
    ax = fig.axes[0]  # the title's side follows the style (elmbook.plots puts titles on the left)
    assert "spikes" in ax.get_title() + ax.get_title(loc="left")
    plt.close(fig)

    config = configs.get("neuronio/branch-elm/paper").elm_config()
    fig = nf.plot_branch_elm(config)
    assert "45 branches × 100 synapses" in fig.axes[0].get_title(loc="left")
    plt.close(fig)

    pred = nf.Predictions(np.tile(spikes, (2, 1)).astype(np.int64),
                          rng.uniform(size=(2, 300)), rng.normal(size=(2, 300)),
                          rng.normal(size=(2, 300)), np.array([True, True]))
    plt.close(nf.plot_prediction(pred, 1, start=10, stop=250))
    fig = nf.plot_roc({"a": (np.array([0.0, 0.01, 1.0]), np.array([0.0, 0.5, 1.0]))})
    assert fig.axes[1].get_xscale() == "log"
    plt.close(fig)


def test_figures_keep_short_titles_and_their_captions_the_provenance():
    """Every figure of chapter 3 has panel titles of at most 60 characters (what the runs were
    goes into the caption under it, :func:`elmbook.plots.show_figure`), and each caption
    function names the runs (count, scale, seeds, steps, hardware), the data (the stand-in as
    such) and where the grey and black numbers come from, as plain text without TeX."""
    records = [_record("neuronio/elm/paper", 0, 0.90, 1.0, {"d_m": 10}),
               _record("neuronio/elm/paper", 1, 0.92, 2.0, {"d_m": 10}),
               _record("neuronio/lif/paper", 0, 0.8, 3.0)]
    rows = nf.summary_rows(records)
    prov = nf.provenance(records)
    ours = nf.runs_text(prov)
    assert ours == ("Ours: 3 runs at scale demo, seeds 0 and 1, 300 training steps per run, on "
                    "cpu. Data: the STAND-IN, not NeuronIO (stand-in), so these numbers are not "
                    "comparable with the paper's.")
    real = _record("neuronio/lif/paper", 0, 0.8, 3.0, stand_in=False)
    assert nf.runs_text(nf.provenance([real]), "The model") == (
        "The model: 1 run at scale demo, seed 0, 300 training steps per run, on cpu. Data: real.")

    params = nf.scaling_caption(prov, "params", paper_steps=342_000, released=True)
    assert ours in params and "against trainable parameters" in params
    assert "In grey, the paper: Tables S4–S7, on the real NeuronIO, 3 seeds, 342,000 " in params
    assert f"Black crosses: the {nf.RELEASED_LABEL} (eval_results.csv of " in params
    assert "AaronSpieler/elmneuron, commit 52e68a6" in params and "one model per d_m" in params
    flops = nf.scaling_caption(prov, "flops", paper_steps=342_000)
    assert "one sample of 500 steps (elm.count_flops)" in flops and "Black crosses" not in flops
    assert "Table S4 gives no FLOPs, so the tiny models have no grey points" in flops
    with pytest.raises(ValueError):
        nf.scaling_caption(prov, "seconds", paper_steps=1)

    sample = nf.sample_caption("test_0.h5", 3, 500, 2500, "NeuronIO STAND-IN (ours)")
    assert sample.startswith("Test simulation 3 of test_0.h5, 500–2500 ms: ")
    assert "Data: NeuronIO STAND-IN (ours). No model and no training" in sample

    config = configs.get("neuronio/branch-elm/paper").elm_config()
    valid = sum(min(100, 1278 - b * 29) for b in range(45))  # windows every 29 channels
    branch = nf.branch_elm_caption(config, "neuronio/branch-elm/paper")
    assert "of neuronio/branch-elm/paper" in branch
    assert f"45 branches × 100 synapses = 4500 slots, {valid} of them valid" in branch

    model = dataclasses.replace(records[0], params=27_300)
    prediction = nf.prediction_caption(model, 4, 500, 2500, label="ELM d_m=10")
    assert prediction.startswith(f"The restored ELM d_m=10 (27,300 trainable parameters; run "
                                 f"{model.run_id}, final checkpoint at step 300) on test "
                                 "simulation 4, 500–2500 ms")
    assert "The model: 1 run at scale demo, seed 0, 300 training steps" in prediction
    dynamics = nf.dynamics_caption(model, "d_m=10", 4, 300, 2300)
    assert "(27,300 trainable parameters) on test simulation 4: 0–2300 ms inferred in one go, " \
           "300–2300 ms drawn" in dynamics and "STAND-IN" in dynamics
    roc = nf.roc_caption(prov)
    assert "TP rate at FP 0.0025 and 0.01" in roc and roc.endswith(ours)
    for caption in (params, flops, sample, branch, prediction, dynamics, roc):
        assert "$" not in caption and "\n" not in caption

    rng = np.random.default_rng(0)
    X = (rng.uniform(size=(300, 1278)) < 0.01).astype(np.uint8)
    spikes = np.zeros(300, np.uint8)
    spikes[[50, 200]] = 1
    pred = nf.Predictions(np.tile(spikes, (2, 1)).astype(np.int64), rng.uniform(size=(2, 300)),
                          rng.normal(size=(2, 300)), rng.normal(size=(2, 300)),
                          np.array([True, True]))
    curve = (np.array([0.0, 0.01, 1.0]), np.array([0.0, 0.5, 1.0]))
    for fig in (nf.plot_scaling(rows, "params", released=nf.released_points(),
                                title="Fig 2b,c: accuracy against trainable parameters"),
                nf.plot_scaling(rows, "flops", title="Fig S1: accuracy against FLOPs per sample"),
                nf.plot_sample(X, spikes, rng.normal(-70, 3, 300),
                               title="Fig 2a: one test simulation, input and output"),
                nf.plot_branch_elm(config, title="Fig 4a: the Branch-ELM, drawn from its routing"),
                nf.plot_prediction(pred, 1, title="Fig 4b: the trained Branch-ELM d_m=20"),
                nf.plot_roc({"LIF (1,280 params)": curve}, title="Fig 4c: ROC")):
        assert plots.long_titles(fig, 60) == []
        plt.close(fig)


def test_chapter_reads_runs_as_typed_records():
    """Chapter 3 takes its runs as RunRecords (``RUNS.usable()``) and reads them by attribute:
    no ``rec["metrics"]`` / ``b_rec['params']`` / ``rec.get(...)`` left in its code cells."""
    import json
    import re
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "book" / "03_fitting_a_cortical_neuron.ipynb")
                    .read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "records = RUNS.usable()" in code and "RUNS.json()" not in code
    assert not re.findall(r"\b\w*rec\w*(?:\[['\"]|\.get\()", code)
    assert "nf.runs_table(rows)" in code and "nf.runs_table(SNAP_ROWS)" in code
    table = nf.runs_table(nf.summary_rows([_record("neuronio/lif/paper", 0, 0.4, 6.0)]))
    assert "collapsed (in the mean)" in table.header  # the run table names collapsed seeds
    assert table.rows[0][table.header.index("collapsed (in the mean)")] == "seed 0"


def test_the_spike_reading_tells_a_low_but_well_ranked_output_from_a_hit():
    from elmbook.neuronio import Predictions, spike_reading

    spikes = np.zeros((1, 100))
    spikes[0, [20, 60]] = 1
    low = np.full((1, 100), 0.01)
    low[0, [21, 59]] = 0.2  # peaks within 1 ms of each spike, far below 0.5
    flat = np.zeros((1, 100))
    pred = Predictions(spikes, low, flat, flat, np.array([True]))
    text = spike_reading(pred, 0, 0, 100, steps=600)
    assert "median 0.20 and maximum 0.20; 0 reach 0.5" in text
    # 96 of the 98 other steps are below 0.2 (the two peaks sit beside the spikes)
    assert "exceeds 98 % of those steps" in text and "after 600 training steps" in text

    hit = low.copy()
    hit[0, [21, 59]] = 0.9
    text = spike_reading(Predictions(spikes, hit, flat, flat, np.array([True])), 0, 0, 100, 600)
    assert "2 reach 0.5" in text and "does not yet commit" not in text

    quiet = spike_reading(Predictions(np.zeros((1, 100)), low, flat, flat, np.array([True])),
                          0, 0, 100, 600)
    assert quiet.startswith("No output spike in this window")
