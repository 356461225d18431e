"""Chapter 6's aggregation (elmbook.lra) on hand-made typed records: Table 1's cells, the grouping
of Fig S6, and the wording of the conclusions, whose branches depend on the numbers.

The p-values below are one-sided binomial tests (scipy.stats.binomtest): 240 of 400 against 50%
is p = 3.7e-05, 205 of 400 is p = 0.33, 60 of 400 against 10% is p = 0.0011, 48 of 400 is 0.11.
"""

from __future__ import annotations

import pytest

from elm.experiments.records import RunRecord
from elmbook import lra

NO_REAL = {t: None for t in lra.TASKS}
PATHFINDER = {"data.difficulty": "curv_contour_length_2", "data.silent_token": 0, "d_m": 32}
AT_CHANCE = "not distinguishable from chance at the 1% level"


def record(task="pathfinder", model="elm", correct=240, n=400, chance=0.5, *, overrides=None,
           tau_s=5.0, stand_in=True, silent=0, seed=0, status="complete", steps=600):
    """A record as the store holds it, typed by RunRecord.from_json."""
    if overrides is None:
        overrides = PATHFINDER if task == "pathfinder" else {}
    settings = ({"standin_min_len": 4, "standin_max_len": 40, "standin_max_depth": 3}
                if task == "listops" else
                {"difficulty": "curv_contour_length_2", "silent_token": silent})
    metrics = {"test_accuracy": correct / n, "n_test": n, "chance_accuracy": chance,
               "test_majority_share": 0.5}
    payload = {
        "run_id": f"{task}-{model}-{tau_s:g}-{silent}-{seed}-{status}",
        "experiment": f"lra/{task}/{model}/paper", "overrides": dict(overrides), "seed": seed,
        "scale": "demo", "status": status,
        "metrics": metrics if status == "complete" else {},
        "config": {"model_args": {"tau_s": tau_s}, "train": {"batch_size": 32}},
        "data": {"task": task, "stand_in": stand_in,
                 "seq_len": 1024 if task == "pathfinder" else 40,
                 "sizes": {"train": 4000}, "settings": settings},
        "steps_done": steps, "curves": {"step": [10, 20, 30], "loss": [0.7, 0.69, 0.6]},
        "train_wall_time_s": 12.0}
    return RunRecord.from_json(payload)


def listops(correct, model="elm", **kwargs):
    return record("listops", model, correct, chance=0.1, **kwargs)


def fig_s6_point(tau_s, correct, silent=0, seed=0):
    """A Fig S6 run: tau_s is an override (the control also overrides the encoding)."""
    over = {**PATHFINDER, "tau_s": tau_s, "data.silent_token": silent}
    return record(correct=correct, tau_s=tau_s, silent=silent, seed=seed, overrides=over)


def notes(records, cue=None, real=None, scale="demo"):
    return lra.conclusions(records, cue or {}, NO_REAL if real is None else real, scale)


def test_pathfinder_above_chance_verdict_has_the_binomial_p():
    (pathfinder, *_) = notes([record(correct=240)])
    assert pathfinder == ("- **Pathfinder** (the demo stand-in): Table 1's neuron scores 60.0% "
                          "on 400 test examples against 50% chance (above chance, "
                          "p = 3.7e-05). ")


def test_pathfinder_at_chance_verdict():
    (pathfinder, *_) = notes([record(correct=205)])
    assert (f"51.2% on 400 test examples against 50% chance ({AT_CHANCE}, p = 0.33)"
            in pathfinder)


def test_listops_verdicts_on_stand_in_and_real_data():
    learnt, lstm, *_ = notes([listops(60), listops(48, "chrono-lstm")])
    assert learnt == (
        "- **ListOps** (the demo stand-in): the ELM scores 15.0% on 400 test examples against "
        "10% chance (above chance, p = 0.0011). The pipeline learns: tokens, padding, readout "
        "and loss work together. The stand-in's expressions are short and shallow, a much "
        "easier problem than LRA's, so this says nothing about the paper's 46.77%.")
    assert lstm == ("  The Chrono-LSTM, trained identically, scores 12.0% on 400 test examples "
                    f"against 10% chance ({AT_CHANCE}, p = 0.11).")
    real, *_ = notes([listops(48, stand_in=False)])
    assert real == ("- **ListOps** (the real data): the ELM scores 12.0% on 400 test examples "
                    f"against 10% chance ({AT_CHANCE}, p = 0.11). At this scale it has not "
                    "picked up the task's signal. ")


def test_pathfinder_on_real_data_is_named_so():
    (pathfinder, *_) = notes([record(stand_in=False)])
    assert pathfinder.startswith("- **Pathfinder** (the real data): ")


def test_distance_cue_above_chance_and_at_chance():
    (easy, *_) = notes([record()], cue={"pathfinder": (0.75, 400)})
    assert ("A single threshold on the dots' distance scores 75.0% on the same test images "
            "(connected dots lie closer together on these short paths: an easy cue that needs "
            "no tracing). ") in easy
    (hard, *_) = notes([record()], cue={"pathfinder": (0.5125, 400)})
    assert ("scores 51.2% on the same test images (chance: on these paths only tracing tells "
            "the classes apart). ") in hard


def test_tau_s_only_the_long_one_learnt():
    recs = [record(correct=205), fig_s6_point(30.0, 210), fig_s6_point(150.0, 240)]
    (pathfinder, *_) = notes(recs)
    assert ("Fig S6's runs, test accuracy by tau_s: 5 ms 51.2% (p = 0.33); 30 ms 52.5% "
            "(p = 0.17); 150 ms 60.0% (p = 3.7e-05). Within this budget only tau_s = 150 ms "
            "left chance: the direction of the paper's note to Table S2 (tau_s = 150 "
            "'increase[s] the learning speed significantly'), seen here on an easy 32x32 "
            "stand-in with seeds [0], not on Path-X. ") in pathfinder


def test_tau_s_every_one_learnt_and_none_learnt():
    (every, *_) = notes([record(correct=240), fig_s6_point(150.0, 300)])
    assert every.endswith("Every tau_s left chance within this budget. ")
    (none, *_) = notes([record(correct=205), fig_s6_point(150.0, 210)])
    assert none.endswith("No tau_s left chance within this budget; recurrent models are known to "
                         "stay at chance on Pathfinder for a long time before they learn. ")


def test_tau_s_note_names_the_distance_cue_when_the_best_run_is_below_it():
    recs = [record(correct=205), fig_s6_point(150.0, 240)]
    (below, *_) = notes(recs, cue={"pathfinder": (0.75, 400)})
    assert below.endswith("The best run stays below the distance threshold, so the demo cannot "
                          "tell whether the neuron traces paths or, like the threshold, reads how "
                          "far apart the dots are. ")
    (above, *_) = notes(recs, cue={"pathfinder": (0.55, 400)})
    assert "The best run stays below" not in above


def test_no_tau_s_note_at_paper_scale_or_with_one_tau():
    (one, *_) = notes([record(correct=240)])
    assert "Fig S6's runs" not in one
    path_x = [record("pathfinder_x", correct=300, tau_s=150.0, overrides={}),
              record("pathfinder_x", correct=240, tau_s=30.0, overrides={"tau_s": 30.0})]
    recs = [record(correct=240), *path_x]
    assert lra.fig_s6(recs, "paper").taus == [30.0, 150.0]  # Fig S6 on Path-X at paper scale
    (paper, *_) = notes(recs, scale="paper")
    assert paper.endswith("(above chance, p = 3.7e-05). ") and "Fig S6's runs" not in paper


def test_control_encoding_that_stays_at_chance_is_what_silencing_explains():
    control = fig_s6_point(150.0, 205, silent=None)
    (pathfinder, *_) = notes([record(correct=205), fig_s6_point(150.0, 240), control])
    assert pathfinder.endswith(
        "With the background through its own one-hot channel (the paper's encoding), "
        "tau_s = 150 ms scores 51.2% (p = 0.33) and does not leave chance: at this budget, "
        "silencing the background is what lets it learn. ")


def test_control_encoding_that_also_learns_gets_no_such_clause():
    control = fig_s6_point(150.0, 300, silent=None)
    (pathfinder, *_) = notes([record(correct=205), fig_s6_point(150.0, 240), control])
    assert pathfinder.endswith(
        "With the background through its own one-hot channel (the paper's encoding), "
        "tau_s = 150 ms scores 75.0% (p = 1.3e-24). ")


def test_missing_data_and_comparability_sentences():
    lines = notes([record()])
    assert lines[1] == ("- **Image, Text, Retrieval** have no offline data; with `data_dir` "
                        "pointing at the real data the demo runs them (and ListOps and "
                        "Pathfinder on their real data) for the same 300 batches.")
    assert lines[2] == ("- **Not comparable with the paper.** Stand-in accuracies (marked * and "
                        "hatched) measure a different, easier data set; one seed gives no error "
                        "bar; at this scale at most 400 test examples are scored, and the run "
                        "table gives each accuracy's binomial interval.")
    some = notes([record()], real={**NO_REAL, "image": "/data/cifar"})
    assert some[1].startswith("- **Text, Retrieval** have no offline data")
    every = notes([record()], real={t: f"/data/{t}" for t in lra.TASKS})
    assert len(every) == 2 and "offline data" not in every[1]


def test_paper_scale_without_runs_says_so():
    empty = ["- No ListOps or Pathfinder run is in the store yet (see section 5)."]
    assert notes([], scale="paper") == empty
    assert notes([record(status="failed")], scale="paper") == empty


def test_fig_s6_grouping_by_tau_and_encoding():
    control = fig_s6_point(150.0, 205, silent=None)
    recs = [record(correct=205), fig_s6_point(30.0, 210), fig_s6_point(150.0, 240), control,
            fig_s6_point(150.0, 250, seed=1), record(status="failed", tau_s=30.0)]
    s6 = lra.fig_s6(recs, "demo")
    assert s6.taus == [5.0, 30.0, 150.0] and s6.silent == 0 and s6.seeds == [0, 1]
    assert [r.seed for r in s6.by_tau[150.0]] == [0, 1]
    assert s6.other_encoding == [control]
    assert lra.fig_s6_caption(s6, "demo") == (
        "The ELM of lra/pathfinder/elm/paper trained with the synaptic time constant τ_s varied "
        "(5, 30, 150 ms) at scale 'demo': seeds [0, 1], 600 steps of batch 32. Data: stand-in: "
        "1024 px, curv_contour_length_2, 4,000 train. Pathfinder stands in for Path-X, whose "
        "16,384 steps per image do not fit this scale. The background is fed as no input "
        "(silent_token 0), as in Table 1's run of this task at this scale. Grey mark: the "
        "paper's Table 1 value for the ELM on Pathfinder at τ_s = 5 ms (real data; "
        "book/elmbook/reference_data/table_1_lra.csv), drawn where that τ_s is among ours; "
        "Fig S6's own values are published only as a plot.")
    assert lra.loss_steps(s6.by_tau[5.0][0]) == (10, 20, 30)


def test_fig_s6_caption_at_paper_scale_and_without_runs():
    paper = [record("pathfinder_x", correct=300, tau_s=150.0, stand_in=False, silent=None,
                    overrides={}, steps=125000)]
    s6 = lra.fig_s6(paper, "paper")
    caption = lra.fig_s6_caption(s6, "paper")
    assert "seeds [0], 125000 steps of batch 32. Data: real (4,000 train). Grey mark" in caption
    assert "stands in for Path-X" not in caption and "silent_token" not in caption
    assert "the ELM on Path-X at τ_s = 150 ms" in caption
    assert lra.fig_s6_reference("paper") == ("pathfinder_x", 150.0)
    assert lra.fig_s6_caption(lra.fig_s6([], "demo"), "demo") == (
        "No run of Fig S6 (lra/pathfinder/elm/paper with the synaptic time constant τ_s varied) "
        "is in the store at scale 'demo'.")


class _Spec:
    def __init__(self, experiment, overrides=None):
        self.experiment, self.overrides = experiment, overrides or {}


@pytest.mark.parametrize(("task", "scale", "real", "expected"), [
    ("text", "demo", None, "no data offline (point data_dir at aclImdb/)"),
    ("text", "demo", "/data/lra", "not run at demo scale"),
    ("pathfinder_x", "demo", None, "not run at demo scale (16,384 steps per image)"),
    ("image", "paper", None, "not run at paper scale"),
])
def test_ours_cell_without_runs_says_why(task, scale, real, expected):
    assert lra.ours_cell(task, "elm", {}, [], scale, {**NO_REAL, task: real}) == expected


def test_ours_cell_mean_std_and_stand_in_mark():
    done = lra.table1([record(correct=240, seed=0), record(correct=260, seed=1),
                       listops(60, stand_in=False)])
    assert lra.ours_cell("pathfinder", "elm", done, [], "demo", NO_REAL) == "62.50* ± 2.50"
    assert lra.ours_cell("listops", "elm", done, [], "demo", NO_REAL) == "15.00"
    planned = [_Spec("lra/listops/chrono-lstm/paper")]
    assert (lra.ours_cell("listops", "chrono-lstm", done, planned, "paper", NO_REAL)
            == "not in the store")
    fig_only = [_Spec("lra/listops/chrono-lstm/paper", {"tau_s": 30.0})]
    assert (lra.ours_cell("listops", "chrono-lstm", done, fig_only, "paper", NO_REAL)
            == "not run at paper scale")


def test_table1_keeps_complete_table_runs_and_the_caption_counts_them():
    recs = [record(correct=240), fig_s6_point(150.0, 300), record(status="diverged", seed=1),
            listops(60, steps=300)]
    done = lra.table1(recs)
    assert ({k: [r.seed for r in v] for k, v in done.items()}
            == {("pathfinder", "elm"): [0], ("listops", "elm"): [0]})
    caption = lra.table1_caption(done, "demo")
    assert "mean over 1 seed(s) per cell, 300/600 training steps" in caption
    assert lra.verdict_lines(done)[0] == ("Pathfinder ELM neuron   test accuracy 60.0% on 400 "
                                          "examples, chance 50%: above chance (p = 3.7e-05)")


def test_table1_figure_caption_names_the_stand_in_tasks_and_the_paper_source():
    done = lra.table1([record(correct=240), listops(60, stand_in=False, steps=300)])
    caption = lra.table1_figure_caption(done, "demo")
    assert ("Bars: our runs at scale 'demo', the mean over 1 seed(s) per cell (seeds [0]) after "
            "300/600 training steps; hatched bars (Pathfinder) were trained on a generated "
            "stand-in, not the LRA data, and are not comparable with the paper's numbers; plain "
            "bars (ListOps) on the real data.") in caption
    assert "the paper's Table 1 (book/elmbook/reference_data/table_1_lra.csv)" in caption
    assert "No run is in the store at scale 'paper'." in lra.table1_figure_caption({}, "paper")


def test_detail_rows_put_fig_s6_points_last():
    rows = lra.detail_rows([fig_s6_point(150.0, 300), record(correct=240),
                            record(status="failed")])
    assert [r[3].endswith("tau_s=150.0") for r in rows] == [False, True]
    assert rows[1][4:10] == ["600 x 32", "75.0%", "70.5%-79.2%", "50% / 50.0%", "1.3e-24", 400]
    assert rows[0][3] == "difficulty=curv_contour_length_2, silent_token=0, d_m=32"


def test_detail_rows_list_overrides_in_the_spec_order():
    rec = record(overrides={"train.batch_size": 32, "d_m": 32})  # the store sorts the keys
    spec = _Spec(rec.experiment, {"d_m": 32, "train.batch_size": 32})
    spec.run_id = rec.run_id
    assert lra.detail_rows([rec])[0][3] == "train.batch_size=32, d_m=32"
    assert lra.detail_rows([rec], [spec])[0][3] == "d_m=32, train.batch_size=32"


def test_the_snapshots_cells_and_captions_name_the_snapshot():
    planned = [_Spec("lra/listops/elm/paper")]
    assert (lra.ours_cell("listops", "elm", {}, planned, "study", None, "the snapshot")
            == "not in the snapshot")
    assert lra.ours_cell("text", "elm", {}, [], "study", None) == "no stand-in (real data only)"
    assert (lra.ours_cell("pathfinder_x", "elm", {}, [], "study", None)
            == "not run at study scale (16,384 steps per image)")
    rows = lra.table1_rows({key: {t: "" for t in lra.TASKS} for key, _ in lra.REFERENCE_ROWS},
                           {}, planned, "study", None, "the snapshot")
    assert rows[-2][0] == "ELM neuron (ours, study)" and rows[-2][4] == "not in the snapshot"
    assert ("No run is in the snapshot at scale 'study'."
            in lra.table1_figure_caption({}, "study", "the snapshot"))
    assert lra.fig_s6_caption(lra.fig_s6([], "study"), "study", "the snapshot").endswith(
        "is in the snapshot at scale 'study'.")


def test_table1_caption_without_runs_says_so_and_ends_with_the_note():
    caption = lra.table1_caption({}, "study", " Results snapshot: 0 of 18 runs.")
    assert "Our rows: scale 'study', no run yet (each cell says why). Chance" in caption
    assert caption.endswith("50% for the others. Results snapshot: 0 of 18 runs.*")
