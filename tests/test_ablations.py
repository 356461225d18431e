"""The ablation panels: which run is a point of which panel, aggregation, references, figures.

The references the tests hold against: Table S1 (each panel's default), the sweep specs of the
chapter (every point must build and land on a panel), hand-computed means and standard
deviations of made-up records (typed, as the chapter reads them: ``RunRecord.from_json``), and the
paper's tables as typed in ``elmbook.reference``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pytest

from elm.experiments import configs
from elm.experiments.records import RecordError, RunRecord
from elm.experiments.results import ResultsStore
from elm.experiments.sweep import RunSpec, load_spec
from elmbook import ablations, plots, reference

REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "book" / "sweeps" / "neuronio_ablations.yaml"
DEMO = REPO / "book" / "sweeps" / "neuronio_ablations_demo.yaml"
ELM, BRANCH = ablations.ELM_EXP, ablations.BRANCH_EXP


def payload(experiment=ELM, overrides=None, seed=0, status="complete", auc=0.9, rmse=1.0,
            stand_in=True, scale="demo", params=100):
    """A record as the store keeps it (JSON)."""
    overrides = dict(overrides or {})
    return {"run_id": f"{experiment}-{sorted(overrides.items())}-{seed}", "experiment": experiment,
            "overrides": overrides, "seed": seed, "scale": scale, "status": status,
            "metrics": ({"auc": auc, "soma_rmse_mv": rmse} if status == "complete" else None),
            "data": {"stand_in": stand_in, "description": "stand-in" if stand_in else "real"},
            "params": params,
            "config": {"train": {"epochs": 1, "batches_per_epoch": 300, "batch_size": 8}}}


def record(*args, **kwargs) -> RunRecord:
    """The typed record of :func:`payload`, as ``ablations.plan`` hands it to the chapter."""
    made = payload(*args, **kwargs)
    return RunRecord.from_json(made, made["run_id"])


def keys(experiment, overrides):
    return [p.key for p in ablations.panels_of(experiment, overrides)]


# --------------------------------------------------------------------------------------------
# classification


def test_defaults_sit_where_table_s1_puts_them():
    s1 = {r["hyper_parameter"]: r["neuronio"] for r in reference.load("table_s1_defaults")}
    assert ablations.panel("3a").default_x() == int(s1["d_m"])
    assert ablations.panel("3b").default_x() == int(s1["l_mlp"])
    assert ablations.panel("3b'").default_x() == 2 * int(s1["d_m"])  # "2*d_m"
    assert ablations.panel("3c").default_x() == float(s1["lambda"])
    assert ablations.panel("3f").default_x() == 500.0  # "0ms,500ms"
    assert ablations.panel("3g").default_x() == int(s1["d_tree"])
    assert ablations.panel("3h").default_x() == int(s1["d_brch"])
    assert ablations.panel("3d").default_x() is None  # the default is not on these axes
    assert ablations.panel("3e").default_x() is None


def test_a_run_is_classified_by_what_it_changes_not_how_it_is_spelled():
    assert ablations.is_default(ELM, {}) and ablations.is_default(ELM, {"d_m": 20})
    assert ablations.is_default(ELM, {"d_mlp": 40})  # = 2 d_m, the default width
    assert not ablations.is_default(ELM, {"d_m": 21})
    every_default_panel = ["3a", "3b", "3b'", "3c", "3f", "S5"]
    assert keys(ELM, {}) == keys(ELM, {"d_m": 20}) == every_default_panel
    assert keys(ELM, {"d_m": 5}) == ["3a"]
    assert keys(ELM, {"mlp_layers": 0}) == ["3b"]
    assert keys(ELM, {"d_mlp": 80}) == ["3b'"]
    assert keys(ELM, {"lambda_value": 1.0}) == ["3c"]
    assert keys(ELM, {"tau_m_init": [1, 50], "tau_m_bounds": [1, 50]}) == ["3d"]
    # the same range as the default init, bounded to it: a range point, not a bounds point
    assert keys(ELM, {"tau_m_init": [1, 100], "tau_m_bounds": [1, 100]}) == ["3d"]
    assert keys(ELM, {"tau_m_bounds": [0, 1000]}) == ["3f"]
    assert keys(ELM, {"tau_m_init": [25, 25], "learn_tau_m": False}) == ["3e"]
    # a constant init that is still learnt is none of the panels
    assert keys(ELM, {"tau_m_init": [25, 25]}) == []
    assert keys(BRANCH, {"d_tree": 35, "d_brch": 65}) == ["3gh"]
    assert keys(BRANCH, {"d_tree": 35}) == ["3g"]
    assert keys(BRANCH, {"d_m": 10, "lambda_value": 5.0}) == ["S2"]
    assert keys(BRANCH, {"lambda_value": 5.0}) == ["S3c", "S2"]  # where the two axes cross
    assert keys(BRANCH, {"routing": "random"}) == ["S5"]
    assert keys(BRANCH, {"branch_activation": "relu"}) == ["S5"]
    assert keys(BRANCH, {"d_m": 5, "lambda_value": 1.0}) == []  # two changes: no panel
    assert keys(ELM, {"train.learning_rate": 1e-3}) == []  # not an ablation of the neuron
    assert not ablations.is_default(ELM, {"train.learning_rate": 1e-3})


def test_x_values_are_read_from_the_configuration():
    assert ablations.panel("3a").x_of(ELM, {}) == 20
    assert ablations.panel("3b'").x_of(ELM, {}) == 40
    assert ablations.panel("3b'").x_of(ELM, {"d_mlp": 80}) == 80
    assert ablations.panel("3d").x_of(ELM, {"tau_m_init": [1, 50], "tau_m_bounds": [1, 50]}) == 50
    assert ablations.panel("3e").x_of(ELM, {"tau_m_init": [25, 25], "learn_tau_m": False}) == 25
    assert ablations.panel("3f").x_of(ELM, {"tau_m_bounds": [0, 2000]}) == 2000
    assert ablations.panel("3gh").x_of(BRANCH, {"d_tree": 35, "d_brch": 65}) == "35×65"
    assert ablations.panel("S5").x_of(ELM, {}) == "no branches (vanilla ELM)"
    assert ablations.panel("S5").x_of(BRANCH, {"learn_w_s": False}) == "neuronio routing, w_s fixed"
    assert (ablations.panel("S5").x_of(BRANCH, {"branch_activation": "relu"})
            == "neuronio routing, w_s learnt, relu on branch output")


@pytest.mark.parametrize("spec", [FULL, DEMO], ids=["full", "demo"])
def test_every_point_of_the_specs_builds_and_lands_on_a_panel(spec):
    runs = load_spec(spec)
    points = {(r.experiment, str(sorted(r.overrides.items()))): r for r in runs}
    seen = set()
    for r in points.values():
        configs.override(configs.get(r.experiment, "smoke"), r.overrides)  # validates, raises
        panels = ablations.panels_of(r.experiment, r.overrides)
        assert panels, f"{r.experiment} {r.overrides} is a point of no panel"
        if not ablations.is_default(r.experiment, r.overrides):
            assert len(panels) == 1 or keys(r.experiment, r.overrides) == ["S3c", "S2"]
        # no configuration is trained twice under two spellings
        config = ablations.point_config(r.experiment, r.overrides)
        changed = ablations.changes(config, ablations.base_config(r.experiment))
        key = (r.experiment, str(sorted(changed.items())))
        assert key not in seen, f"{r.overrides} repeats another point"
        seen.add(key)


def test_full_spec_is_the_paper_protocol_and_contains_the_demo_points():
    full = load_spec(FULL)
    assert {r.scale for r in full} == {"paper"}
    seeds = {}
    for r in full:
        seeds.setdefault((r.experiment, str(sorted(r.overrides.items()))), set()).add(r.seed)
    assert all(s == {0, 1, 2} for s in seeds.values())  # three runs per point (App. B)
    demo_points = {(r.experiment, str(sorted(r.overrides.items()))) for r in load_spec(DEMO)}
    assert demo_points <= set(seeds)
    # every panel of the paper has a grid of several settings
    for p in ablations.PANELS:
        assert len(ablations.axis_values(p, full)) >= 2, p.key


def test_the_smoke_spec_is_a_default_and_one_variant_of_the_demo_grid():
    chosen = load_spec(DEMO.with_name("neuronio_ablations_smoke.yaml"))
    demo = {(r.experiment, json.dumps(dict(r.overrides), sort_keys=True))
            for r in load_spec(DEMO)}
    assert len(chosen) == 2 and {r.scale for r in chosen} == {"smoke"}
    assert (chosen[0].experiment, chosen[0].seed) == (ELM, 0)
    assert ablations.is_default(ELM, chosen[0].overrides)
    assert not ablations.is_default(chosen[1].experiment, chosen[1].overrides)
    assert all((r.experiment, json.dumps(dict(r.overrides), sort_keys=True)) in demo
               for r in chosen)


# --------------------------------------------------------------------------------------------
# aggregation


def test_panel_rows_mean_std_merges_spellings_and_keeps_diverged_runs():
    records = [record(ELM, {}, 0, auc=0.80), record(ELM, {"d_m": 20}, 1, auc=0.90),
               record(ELM, {"d_m": 5}, 0, auc=0.60), record(ELM, {"d_m": 5}, 1, auc=0.70),
               record(ELM, {"d_m": 5}, 2, status="diverged"),
               record(ELM, {"d_m": 2}, 0, status="failed"),
               record(ELM, {"lambda_value": 1.0}, 0, auc=0.1),  # another panel
               record(ELM, {"train.learning_rate": 1.0}, 0, auc=0.2)]  # no panel
    rows = ablations.panel_rows(ablations.panel("3a"), records)
    assert [r["x"] for r in rows] == [2, 5, 20]  # sorted by the axis
    two, five, twenty = rows
    assert two["n"] == 0 and two["failed"] == 1 and math.isnan(two["auc_mean"])
    assert five["n"] == 2 and five["diverged"] == 1 and five["seeds"] == [0, 1]
    assert five["auc_mean"] == pytest.approx(0.65) and five["auc_std"] == pytest.approx(0.05)
    assert twenty["n"] == 2 and twenty["default"] and not five["default"]
    assert twenty["auc_mean"] == pytest.approx(0.85)
    default = ablations.default_rows(records, ELM)
    assert default["n"] == 2 and default["auc_range"] == pytest.approx(0.10)
    delta, beyond = ablations.versus_default(five, default)
    assert delta == pytest.approx(-0.20) and beyond == "yes"
    close = {**five, "auc_mean": 0.80}
    assert ablations.versus_default(close, default)[1] == "no"
    one_seed = ablations.default_rows(records[:1], ELM)
    assert ablations.versus_default(five, one_seed)[1].startswith("n/a")
    assert ablations.has_variants(ablations.panel("3a"), records)
    assert not ablations.has_variants(ablations.panel("3b"), records)  # only the default


def test_the_fig_s5_default_is_the_branch_elm_not_the_vanilla_elm():
    records = [record(BRANCH, {}, 0, auc=0.7), record(ELM, {}, 0, auc=0.8),
               record(BRANCH, {"routing": "random"}, 0, auc=0.6)]
    rows = {r["x"]: r for r in ablations.panel_rows(ablations.panel("S5"), records)}
    assert rows["neuronio routing, w_s learnt"]["default"]
    assert not rows["no branches (vanilla ELM)"]["default"]
    assert next(iter(rows)) == "neuronio routing, w_s learnt"  # the default first


def test_records_of_panels_and_best_metric():
    records = [record(ELM, {}, 0, auc=0.80), record(ELM, {"d_m": 5}, 0, auc=0.95),
               record(ELM, {"lambda_value": 1.0}, 0, auc=0.99),
               record(ELM, {"d_m": 2}, 0, status="diverged"),
               record(BRANCH, {"d_tree": 35}, 0, auc=0.97)]
    used = ablations.records_of([ablations.panel("3a")], records)
    assert [r.overrides for r in used] == [{}, {"d_m": 5}, {"d_m": 2}]  # in order, diverged kept
    both = ablations.records_of([ablations.panel("3a"), ablations.panel("3g")], records)
    assert [r.experiment for r in both] == [ELM, ELM, ELM, BRANCH]
    assert ablations.records_of([ablations.panel("3e")], records) == []
    assert ablations.best_metric(records) == pytest.approx(0.99)  # over every complete record
    assert ablations.best_metric(used) == pytest.approx(0.95)
    assert math.isnan(ablations.best_metric([record(status="diverged")]))


def test_table_rows_cover_every_point():
    records = [record(ELM, {}, 0), record(ELM, {}, 1, auc=0.8), record(ELM, {"d_m": 5}, 0),
               record(ELM, {"d_m": 5}, 3, auc=0.45)]  # seed 3 collapsed
    rows = ablations.table_rows([ablations.panel("3a")], records)
    assert len(rows) == 2 and all(len(r) == len(ablations.TABLE_HEADER) for r in rows)
    col = ablations.TABLE_HEADER.index("collapsed seeds (in the mean)")
    assert rows[1][2] == "20 (default)" and rows[0][col + 3] in ("yes", "no")
    assert rows[0][col] == "3" and rows[1][col] == "–"  # named, and kept in the mean
    assert rows[0][col + 1] == f"{(0.9 + 0.45) / 2:.4f} ± {0.225:.4f}"


NO_YARDSTICK = "fewer than two complete default runs, so no seed yardstick."


def test_the_yardstick_needs_two_complete_default_runs():
    one = [record(ELM, {}, 0, auc=0.80), record(ELM, {"d_m": 5}, 0, auc=0.60)]
    assert ablations.yardstick_lines(one) == [f"- ELM: {NO_YARDSTICK}",
                                              f"- Branch-ELM: {NO_YARDSTICK}"]
    # a diverged second seed has no AUC, so it gives no range either
    diverged = [*one, record(ELM, {"d_m": 20}, 1, status="diverged")]
    assert ablations.yardstick_lines(diverged)[0] == f"- ELM: {NO_YARDSTICK}"
    two = [*one, record(ELM, {"d_m": 20}, 1, auc=0.90)]
    assert ablations.yardstick_lines(two)[0].startswith("- ELM default, 2 seeds:")


def test_the_yardstick_calls_each_variant_within_or_beyond_the_default_range():
    records = [record(ELM, {}, 0, auc=0.80, rmse=1.0),
               record(ELM, {"d_m": 20}, 1, auc=0.90, rmse=1.2),
               record(ELM, {"d_m": 5}, 0, auc=0.60),
               record(ELM, {"lambda_value": 1.0}, 0, auc=0.88),
               record(ELM, {"train.learning_rate": 1.0}, 0, auc=0.7),  # no panel: not listed
               record(BRANCH, {}, 0, auc=0.70, rmse=2.0), record(BRANCH, {}, 1, auc=0.72, rmse=2.5),
               record(BRANCH, {"routing": "random"}, 0, auc=0.75)]
    assert ablations.yardstick_lines(records) == [
        "- ELM default, 2 seeds: AUC 0.8500 (seed range 0.1000), soma RMSE 1.100 mV (range "
        "0.200 mV).",
        "  - Fig 3a memory units d_m = 5: ΔAUC -0.2500 (beyond the default's seed range).",
        "  - Fig 3c memory update scale λ = 1.0: ΔAUC +0.0300 (within the default's seed range).",
        "- Branch-ELM default, 2 seeds: AUC 0.7100 (seed range 0.0200), soma RMSE 2.250 mV (range "
        "0.500 mV).",
        # the vanilla ELM's default is a point of Fig S5 too, but not a variant of the Branch-ELM
        "  - Fig S5 branch architecture = random routing, w_s learnt: ΔAUC +0.0400 (beyond the "
        "default's seed range).",
    ]


def test_the_yardstick_names_runs_that_learnt_nothing_with_the_fig_s2_remark():
    records = [record(ELM, {}, 0), record(ELM, {}, 1, auc=0.50),
               record(BRANCH, {"d_tree": 35}, 2, auc=0.45)]
    last = ablations.yardstick_lines(records)[-1]
    assert last.startswith("- **Runs that learnt nothing** (kept in the means above")
    assert ("elm default seed 1: spike AUC 0.500 (chance 0.5); branch-elm {'d_tree': 35} seed 2: "
            "spike AUC 0.450 (chance 0.5).") in last
    assert last.endswith("the paper's Fig S2 caption reports that \"Branch-ELM neuron training "
                         "is more stable with smaller λ\".")
    learnt = [record(ELM, {}, 0), record(ELM, {}, 1, auc=0.8)]
    assert not any("learnt nothing" in line for line in ablations.yardstick_lines(learnt))


def test_paper_share_sets_the_runs_training_against_the_papers():
    # App. B: 30 epochs of 11,400 batches of 8 windows of 500 ms; the records: 300 steps of 8
    paper = "the paper's 30 × 11,400 = 342,000 steps of 8 windows of 500 ms"
    assert (ablations.paper_share([record(seed=0), record(seed=1)])
            == f"training per run: 300 steps of 8 windows, 1/1,140 of {paper}")
    longer = payload(seed=2)
    longer["config"] = {"train": {**longer["config"]["train"], "epochs": 2, "window_ms": 500}}
    mixed = [RunRecord.from_json(longer), record(seed=0)]
    assert (ablations.paper_share(mixed) == "training per run: 300 steps of 8 windows or 600 "
            f"steps of 8 windows of 500 ms, 1/1,140 or 1/570 of {paper}")
    unconfigured = RunRecord.from_json({**payload(), "config": {}})
    assert ablations.paper_share([unconfigured]) == "training per run: not recorded"
    # the chapter's prose: at demo scale a run has a small fraction of the paper's training
    demo, full = configs.get(ELM, "demo").train, configs.get(ELM).train
    assert demo.epochs * demo.batches_per_epoch < 0.01 * full.epochs * full.batches_per_epoch


def test_plan_counts_outcomes_and_lists_missing_runs(tmp_path):
    store = ResultsStore(tmp_path)
    runs = [RunSpec(ELM, {"d_m": 20}, 0), RunSpec(ELM, {"d_m": 5}, 0), RunSpec(ELM, {"d_m": 2}, 0)]
    for spec, status in zip(runs[:2], ("complete", "diverged"), strict=True):
        store.write({**payload(ELM, spec.overrides, status=status), "run_id": spec.run_id})
    state = ablations.plan(runs, store)
    assert (state.complete, state.diverged, state.failed) == (1, 1, 0)
    assert state.missing == [runs[2].run_id] and len(state.records) == 2
    assert all(isinstance(r, RunRecord) for r in state.records)  # typed, read by attribute
    assert [r.run_id for r in state.records] == [runs[0].run_id, runs[1].run_id]
    assert state.records[0].complete and state.records[1].diverged
    assert state.gpu_hours_bound == 3 * ablations.PAPER_HOURS_PER_RUN


def test_plan_names_the_file_of_a_malformed_record(tmp_path):
    store = ResultsStore(tmp_path)
    spec = RunSpec(ELM, {}, 0)
    store.write({**payload(ELM, status="complete"), "run_id": spec.run_id})
    broken = {k: v for k, v in store.read(spec.run_id).items() if k != "experiment"}
    store.path(spec.run_id).write_text(json.dumps(broken))
    with pytest.raises(RecordError, match=str(store.path(spec.run_id))):
        ablations.plan([spec], store)


# --------------------------------------------------------------------------------------------
# provenance and references


def test_data_label_names_stand_in_real_and_mixed():
    assert "stand-in" in ablations.data_label([record(stand_in=True)])
    assert ablations.data_label([record(stand_in=False)]) == "data: real"
    assert "MIXED" in ablations.data_label([record(stand_in=True), record(stand_in=False)])
    unrecorded = RunRecord.from_json({"run_id": "r", "experiment": ELM, "seed": 0,
                                      "scale": "demo", "status": "failed"})
    assert "unknown" in ablations.data_label([unrecorded])


def test_run_label_reads_scale_steps_and_seeds():
    label = ablations.run_label([record(seed=0), record(seed=2)])
    assert label == "scale 'demo'; 300 steps of batch 8 per run; seeds [0, 2]"


def test_paper_references_come_from_the_typed_tables():
    s6 = reference.load("table_s6_elm_neuronio")
    refs = ablations.paper_references(ablations.panel("3a"), "auc")
    points = [r for r in refs if r.kind == "point"]
    assert [(r.x, r.value, r.std) for r in points] == [
        (row["memory_units"], row["spike_auc_mean"], row["spike_auc_std"]) for row in s6]
    assert any(r.kind == "hline" and r.value == 0.991 for r in refs)
    s5_default = next(r for r in reference.load("table_s5_branch_elm_neuronio")
                      if r["memory_units"] == 20)
    level = [r for r in ablations.paper_references(ablations.panel("3g"), "soma_rmse_mv")
             if r.kind == "hline"]
    assert [r.value for r in level] == [s5_default["voltage_rmse_mean"]]  # no AUC threshold
    above = [r for r in ablations.paper_references(ablations.panel("3gh")) if r.kind == "above"]
    assert [(r.x, r.value) for r in above] == [("35×65", 0.991)]


# --------------------------------------------------------------------------------------------
# figures


def _colors(artists):
    return {matplotlib.colors.to_hex(a.get_color()) for a in artists}


def test_plot_marks_failures_default_and_paper_values():
    records = [record(ELM, {}, 0, auc=0.80), record(ELM, {}, 1, auc=0.90),
               record(ELM, {"d_m": 5}, 0, auc=0.60), record(ELM, {"d_m": 2}, 0, status="diverged")]
    plots.apply_style()
    fig = ablations.plot_panels([ablations.panel("3a"), ablations.panel("3d")], records,
                                title="test title")
    ax_a, ax_d = fig.axes[:2]
    texts = [t.get_text() for t in ax_a.texts]
    assert "1 diverged" in texts
    labels = ax_a.get_legend_handles_labels()[1]
    assert "default setting (Table S1)" in labels and "0.991 threshold (Section 3.1)" in labels
    assert any(label.startswith("Table S6") for label in labels)
    assert matplotlib.colors.to_hex(plots.PAPER_COLOR) in _colors(ax_a.get_lines())
    assert ax_a.get_xscale() == "log"
    assert "no runs in the store" in [t.get_text() for t in ax_d.texts]
    assert "test title" in fig._suptitle.get_text()
    plt.close(fig)


def test_caption_names_the_runs_their_data_and_the_grey_numbers():
    records = [record(ELM, {}, 0), record(ELM, {}, 1), record(ELM, {"d_m": 5}, 0)]
    caption = ablations.panels_caption([ablations.panel("3a")], records, "auc",
                                       "the reduced demo grid")
    assert caption == (
        "Spike AUC on the test files against each panel's setting. Ours: 3 runs at scale "
        "'demo', 300 steps of batch 8 per run, seeds 0 and 1 (the reduced demo grid); a point is "
        "the mean ± std over its complete runs. Data: NeuronIO stand-in (our own NEURON "
        "simulation, data/neuronio; not comparable with the paper). The paper publishes these "
        "panels as plots only, not as numbers; in grey, what it does state in numbers: Table S6 "
        "(Fig 2's d_m family); 0.991 threshold (Section 3.1).")
    one = [record(BRANCH, {}, 2, stand_in=False)]
    rmse = ablations.panels_caption([ablations.panel("3g"), ablations.panel("3gh")], one,
                                    "soma_rmse_mv")
    assert rmse.startswith("Soma RMSE (mV) on the test files") and "seed 2; a point" in rmse
    assert "Data: real." in rmse
    assert rmse.endswith("in numbers: Table S5, default config (d_m = 20).")  # no AUC threshold
    auc = ablations.panels_caption([ablations.panel("3gh")], one)
    assert auc.endswith("0.991 threshold (Section 3.1); Section 3.1: 35×65 'over 0.991 AUC'.")
    assert "$" not in caption + rmse + auc


def test_every_panel_title_is_short():
    """Panel titles stay short (at most 60 characters, wrapped at 40): what the runs were is in
    the figure's caption (``panels_caption``), not above the panels."""
    fig = ablations.plot_panels(list(ablations.PANELS), [], title="Fig 3a–f: ELM ablations")
    assert plots.long_titles(fig, 60) == []
    plt.close(fig)


def trained(steps, **kwargs) -> RunRecord:
    """A complete record that trained ``steps`` steps."""
    made = {**payload(**kwargs), "steps_done": steps}
    return RunRecord.from_json(made, made["run_id"])


def test_the_same_default_in_another_chapter_is_set_beside_with_its_training_length():
    here = [trained(300, seed=0, auc=0.75), trained(300, seed=1, auc=0.77)]
    there = [trained(600, overrides={"train.epochs": 2}, auc=0.96)]  # a train.* change only
    (line,) = ablations.same_configuration_elsewhere(here, there, "chapter 3")
    assert "Here: spike AUC 0.7600 (2 run(s), 300 steps)" in line
    assert "Chapter 3: 0.9600 (1 run(s), 600 steps)" in line
    assert "the gap is training length" in line

    worse = [trained(600, auc=0.70)]
    (line,) = ablations.same_configuration_elsewhere(here, worse, "chapter 3")
    assert "training length alone does not explain the gap" in line
    equal = [trained(300, auc=0.9)]
    (line,) = ablations.same_configuration_elsewhere(here, equal, "chapter 3")
    assert "gap" not in line  # same length: nothing to attribute
    # another model configuration, or nothing on one side: no line
    assert ablations.same_configuration_elsewhere(here, [trained(600, overrides={"d_m": 5})],
                                                  "chapter 3") == []
    assert ablations.same_configuration_elsewhere([], there, "chapter 3") == []
