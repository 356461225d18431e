"""The LRA chapter's aggregation and verdicts (chapter 6: Table 1 and Fig S6), on typed records.

The chapter keeps the narrative and the figures; this module turns the store's
:class:`~elm.experiments.records.RunRecord` s into what the page prints: Table 1's cells, one
row per run, the runs of Fig S6 grouped by the synaptic time constant and the background's
encoding, and the conclusions (:func:`conclusions`), whose wording depends on the numbers.

Every function that takes ``records`` expects the chapter's records in the order of its runs
(failed ones included: the grouping functions keep complete runs only, as the tables do).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

from elm.data import lra as lra_data
from elm.experiments import configs
from elm.experiments.records import RunRecord
from elm.experiments.tasks import lra as lra_task

TASKS = ("image", "pathfinder", "pathfinder_x", "listops", "text", "retrieval")  # Table 1's order
LABEL = {"image": "Image", "pathfinder": "Pathfinder", "pathfinder_x": "Path-X",
         "listops": "ListOps", "text": "Text", "retrieval": "Retrieval"}
MODELS = {"elm": "ELM neuron", "chrono-lstm": "Chrono-LSTM"}
#: Where each task's real data lies in the LRA release (or beside it).
WHERE = {"image": "cifar-10-batches-py/", "text": "aclImdb/",
         "retrieval": "tsv_data/ of the LRA release",
         "listops": "listops-1000/ of the LRA release",
         "pathfinder": "pathfinder32/ of the LRA release",
         "pathfinder_x": "pathfinder128/ of the LRA release"}
#: The paper's rows of Table 1 that the chapter prints, with their labels.
REFERENCE_ROWS = (("ELM Neuron", "ELM neuron (paper)"), ("Chrono-LSTM", "Chrono-LSTM (paper)"),
                  ("Transformer", "Transformer (cited in the paper)"),
                  ("Longformer", "Longformer (cited in the paper)"),
                  ("S4", "S4 (cited in the paper)"), ("Mega", "Mega (cited in the paper)"))
#: Tasks that need real data (no offline generator).
REAL_ONLY = ("image", "text", "retrieval")
#: A run is "above chance" when guessing scores as well with probability below this.
LEVEL = 0.01

Cell = tuple[str, str]  # (task, model)


class _Run(Protocol):
    """What the grouping reads of a run: a RunSpec or a RunRecord (both have these)."""

    experiment: str
    overrides: Mapping[str, Any]


def task_of(run: _Run) -> str:
    """``"lra/listops/elm/paper"`` -> ``"listops"``."""
    return run.experiment.split("/")[1]


def model_of(run: _Run) -> str:
    """``"lra/listops/elm/paper"`` -> ``"elm"``."""
    return run.experiment.split("/")[2]


def is_fig_s6_only(run: _Run) -> bool:
    """Fig S6's extra points: a synaptic time constant other than the configuration's."""
    return "tau_s" in run.overrides


def fig_s6_experiment(scale: str) -> str:
    """The experiment Fig S6 varies: Path-X at paper scale, the Pathfinder stand-in below."""
    return "lra/pathfinder_x/elm/paper" if scale == "paper" else "lra/pathfinder/elm/paper"


# -- what a record says, by helper where RunRecord has no attribute for it ------------------------

def settings(record: RunRecord) -> Mapping[str, Any]:
    """The data settings the run used (``record.data["settings"]``)."""
    return record.data.get("settings") or {}


def silent_token(record: RunRecord) -> Any:
    """The token fed as no input (None: every token has its own one-hot channel)."""
    return settings(record).get(lra_task.SILENT_KEY)


def tau_s(record: RunRecord) -> float:
    """The run's synaptic time constant (ms), from its stored configuration."""
    return float(record.config["model_args"]["tau_s"])


def loss_steps(record: RunRecord) -> tuple[int, ...]:
    """The training steps of ``record.losses`` (1, 2, ... for a record without stored steps)."""
    return record.loss_steps or tuple(range(1, len(record.losses) + 1))


def short_data(record: RunRecord) -> str:
    """The run's data in a few words: real (with its size) or the stand-in's shape."""
    d = record.data
    n_train = d["sizes"]["train"]
    if not record.on_stand_in:
        return f"real ({n_train:,} train)"
    s = settings(record)
    if d["task"] == "listops":
        return (f"stand-in: {s['standin_min_len'] + 1}-{s['standin_max_len'] - 1} tokens, "
                f"depth <= {s['standin_max_depth']}, {n_train:,} train")
    return f"stand-in: {d['seq_len']} px, {s['difficulty']}, {n_train:,} train"


class Score(NamedTuple):
    """A complete run's test accuracy against chance."""

    accuracy: float
    n: int
    chance: float
    p: float  # one-sided binomial p of scoring at least ``accuracy`` by guessing

    @property
    def above_chance(self) -> bool:
        return self.p < LEVEL


def scored(record: RunRecord) -> Score:
    """(test accuracy, test examples, chance, one-sided binomial p of scoring that by guessing)."""
    acc, n = record.metric("test_accuracy"), int(record.metrics["n_test"])
    chance = record.metric("chance_accuracy")
    return Score(acc, n, chance, lra_task.p_above_chance(acc, n, chance))


def verdict(score: Score) -> str:
    """``"61.2% on 400 test examples against 50% chance (above chance, p = 3e-06)"``."""
    acc, n, chance, p = score
    return (f"{acc:.1%} on {n} test examples against {chance:.0%} chance "
            f"({'above chance' if p < LEVEL else 'not distinguishable from chance at the 1% level'}"
            f", p = {p:.2g})")


# -- Table 1 --------------------------------------------------------------------------------------

def table1(records: Iterable[RunRecord]) -> dict[Cell, list[RunRecord]]:
    """Complete records of Table 1's runs (not Fig S6's extra points), by (task, model)."""
    done: dict[Cell, list[RunRecord]] = {}
    for rec in records:
        if rec.complete and not is_fig_s6_only(rec):
            done.setdefault((task_of(rec), model_of(rec)), []).append(rec)
    return done


def ours_cell(task: str, model: str, done: Mapping[Cell, Sequence[RunRecord]],
              runs: Iterable[_Run], scale: str, real: Mapping[str, Any] | None,
              where: str = "the store") -> str:
    """Our Table 1 cell: mean (± std over seeds) test accuracy in %, ``*`` on a stand-in; else
    why there is no number (not in ``where``, no data offline, not run at this scale).

    ``real``: task -> its real data folder or None; None for runs that read stand-ins only
    (the results snapshot), where a task without a generator has "no stand-in" whatever data
    the reader has."""
    recs = done.get((task, model))
    if recs:
        accs = [rec.metric("test_accuracy") * 100 for rec in recs]
        stand_in = "*" if recs[0].on_stand_in else ""
        spread = f" ± {np.std(accs):.2f}" if len(accs) > 1 else ""
        return f"{np.mean(accs):.2f}{stand_in}{spread}"
    planned = [r for r in runs if not is_fig_s6_only(r)
               and task_of(r) == task and model_of(r) == model]
    if planned:
        return f"not in {where}"
    if real is None and task not in lra_task.SYNTHETIC:
        return "no stand-in (real data only)"
    if scale != "paper" and task not in lra_task.SYNTHETIC and not real.get(task):
        return f"no data offline (point data_dir at {WHERE[task]})"
    if scale != "paper" and task == "pathfinder_x":
        return f"not run at {scale} scale (16,384 steps per image)"
    return f"not run at {scale} scale"


def table1_rows(paper_rows: Mapping[str, Mapping[str, Any]],
                done: Mapping[Cell, Sequence[RunRecord]], runs: Iterable[_Run], scale: str,
                real: Mapping[str, Any] | None, where: str = "the store") -> list[list[Any]]:
    """Table 1: the paper's rows (``paper_rows``: model -> row of ``table_1_lra``), then ours
    (``real``, ``where``: as :func:`ours_cell`)."""
    runs = list(runs)
    rows = [[label, *[paper_rows[key][t] for t in TASKS]] for key, label in REFERENCE_ROWS]
    for model, name in MODELS.items():
        rows.append([f"{name} (ours, {scale})",
                     *[ours_cell(t, model, done, runs, scale, real, where) for t in TASKS]])
    return rows


@dataclass(frozen=True)
class Training:
    """How long Table 1's runs trained: seeds per cell, steps, and the seeds used."""

    n_seeds: str  # "1" or "1/3"
    steps: str  # "600" or "300/600"
    seeds: list[int]


def training(done: Mapping[Cell, Sequence[RunRecord]]) -> Training:
    recs = [rec for v in done.values() for rec in v]
    return Training("/".join(str(n) for n in sorted({len(v) for v in done.values()})),
                    "/".join(str(n) for n in sorted({rec.steps_done for rec in recs})),
                    sorted({rec.seed for rec in recs}))


def table1_caption(done: Mapping[Cell, Sequence[RunRecord]], scale: str, note: str = "") -> str:
    """Table 1's caption (italic markdown); ``note``: sentences to end it with (where the runs
    come from)."""
    t = training(done)
    ours = (f"mean over {t.n_seeds} seed(s) per cell, {t.steps} training steps; * = a generated "
            "stand-in, much smaller and easier than the LRA data (details below), not comparable "
            "with the paper's numbers" if done else "no run yet (each cell says why)")
    return ("*Table 1: test accuracy (%) on the LRA tasks. Paper rows: the paper's Table 1 "
            "(`elm/reference_data/table_1_lra.csv`); baselines as cited there (Transformer and "
            "Longformer from Tay et al. 2021, S4 from Gu et al. 2021, Mega from Ma et al. 2023); "
            f"FAIL = did not learn. Our rows: scale {scale!r}, {ours}. Chance: 10% for Image and "
            f"ListOps, 50% for the others.{note}*")


def _tasks_on(done: Mapping[Cell, Sequence[RunRecord]], stand_in: bool) -> list[str]:
    """Table 1's tasks (labels, in its order) with a run on a stand-in (or on real data)."""
    return [LABEL[t] for t in TASKS if any(recs[0].on_stand_in == stand_in
                                           for (task, _), recs in done.items() if task == t)]


def table1_figure_caption(done: Mapping[Cell, Sequence[RunRecord]], scale: str,
                          where: str = "the store") -> str:
    """The caption of Table 1 drawn as bars: what the bars and marks are, our runs' training and
    data (which tasks ran on a generated stand-in) and where the paper's values come from;
    ``where``: what holds the runs, named when it holds none."""
    t = training(done)
    stand_in, real = _tasks_on(done, True), _tasks_on(done, False)
    data = [f"hatched bars ({', '.join(stand_in)}) were trained on a generated stand-in, not the "
            "LRA data, and are not comparable with the paper's numbers"] if stand_in else []
    data += [f"plain bars ({', '.join(real)}) on the real data"] if real else []
    runs = (f"Bars: our runs at scale {scale!r}, the mean over {t.n_seeds} seed(s) per cell "
            f"(seeds {t.seeds}) after {t.steps} training steps; "
            + "; ".join(data) + "." if done else f"No run is in {where} at scale {scale!r}.")
    return ("Test accuracy (%) on the six LRA tasks, the ELM neuron on the left of each pair and "
            f"the Chrono-LSTM on the right. {runs} Grey marks: the paper's Table 1 "
            "(book/elmbook/reference_data/table_1_lra.csv), none where it reports FAIL. Dashed "
            "lines: chance.")


# -- one row per run ------------------------------------------------------------------------------

DETAIL_HEADER = ("task", "model", "data", "overrides of the paper's experiment", "steps x batch",
                 "test accuracy", "95% interval", "chance / majority class", "p (chance)",
                 "test examples", "train s")


def detail_rows(records: Iterable[RunRecord], runs: Iterable[Any] = ()) -> list[list[Any]]:
    """One row per complete run: Table 1's runs first, then Fig S6's extra points. The overrides
    are listed in the order of ``runs`` (RunSpecs: the sweep spec's order; the store sorts them)
    where a run is given, else in the record's."""
    listed = {r.run_id: r.overrides for r in runs}
    records = [rec for rec in records if rec.complete]
    rows = []
    ordered = ([r for r in records if not is_fig_s6_only(r)]
               + [r for r in records if is_fig_s6_only(r)])
    for rec in ordered:
        acc, n, chance, p = scored(rec)
        lo, hi = lra_task.accuracy_interval(acc, n)
        changes = ", ".join(f"{k.removeprefix('data.')}={v}"
                            for k, v in listed.get(rec.run_id, rec.overrides).items()) or "-"
        rows.append([LABEL[task_of(rec)], MODELS[model_of(rec)], short_data(rec), changes,
                     f"{rec.steps_done} x {rec.batch_size}", f"{acc:.1%}", f"{lo:.1%}-{hi:.1%}",
                     f"{chance:.0%} / {rec.metric('test_majority_share'):.1%}", f"{p:.2g}", n,
                     f"{rec.train_wall_time_s:.0f}"])
    return rows


def verdict_lines(done: Mapping[Cell, Sequence[RunRecord]]) -> list[str]:
    """One line per Table 1 cell: its first seed's accuracy against chance."""
    lines = []
    for (task, model), recs in done.items():
        acc, n, chance, p = scored(recs[0])
        said = "above chance" if p < LEVEL else "not distinguishable from chance at the 1% level"
        lines.append(f"{LABEL[task]:10s} {MODELS[model]:12s} test accuracy {acc:.1%} on {n} "
                     f"examples, chance {chance:.0%}: {said} (p = {p:.2g})")
    return lines


def demo_ratio_rows(done: Mapping[Cell, Sequence[RunRecord]]) -> list[list[str]]:
    """Sequences seen and their length, paper against ours, for ListOps and Pathfinder."""
    rows = []
    for t in ("listops", "pathfinder"):
        recs = done.get((t, "elm"))
        if not recs:
            continue
        paper_exp = configs.get(f"lra/{t}/elm/paper")
        seen = recs[0].steps_done * recs[0].batch_size
        total = paper_exp.train.steps * paper_exp.train.batch_size
        rows.append([LABEL[t], f"{total:,}", f"{lra_data.SEQ_LENS[t]:,}", f"{seen:,}",
                     f"{recs[0].data['seq_len']:,}", f"1 / {total / seen:,.0f}"])
    return rows


# -- Fig S6 ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FigS6:
    """Fig S6's runs: complete runs of the figure's experiment with Table 1's encoding of the
    background, by tau_s, and those that encode it otherwise (the demo's control)."""

    experiment: str
    silent: Any  # Table 1's silent_token (None: the paper's encoding)
    by_tau: dict[float, list[RunRecord]] = field(default_factory=dict)
    other_encoding: list[RunRecord] = field(default_factory=list)

    @property
    def taus(self) -> list[float]:
        return sorted(self.by_tau)

    @property
    def seeds(self) -> list[int]:
        return sorted({rec.seed for v in self.by_tau.values() for rec in v})

    def first(self) -> RunRecord:
        """The first run at the smallest tau_s (the one the caption describes)."""
        return self.by_tau[self.taus[0]][0]


def fig_s6(records: Sequence[RunRecord], scale: str) -> FigS6:
    """Group the chapter's records for Fig S6 (the figure keeps Table 1's encoding)."""
    exp = fig_s6_experiment(scale)
    table1_recs = [rec for rec in records if rec.experiment == exp and not is_fig_s6_only(rec)]
    silent = silent_token(table1_recs[0]) if table1_recs else None
    by_tau: dict[float, list[RunRecord]] = {}
    other = []
    for rec in records:
        if rec.experiment != exp or not rec.complete:
            continue
        if silent_token(rec) == silent:
            by_tau.setdefault(tau_s(rec), []).append(rec)
        else:
            other.append(rec)
    return FigS6(exp, silent, by_tau, other)


def fig_s6_reference(scale: str) -> tuple[str, float]:
    """The paper's number that Fig S6 draws, as (task, tau_s in ms): Table 1's ELM on the task
    at its published tau_s (Fig S6's own bars are not given as numbers). Path-X at 150 ms at
    paper scale; below, the figure varies Pathfinder, whose Table 1 value is at 5 ms."""
    return ("pathfinder_x", 150.0) if scale == "paper" else ("pathfinder", 5.0)


def fig_s6_caption(s6: FigS6, scale: str, where: str = "the store") -> str:
    """The figure's caption: the experiment varied, its seeds, training length and data, the
    background's encoding, and where the paper's mark comes from; ``where``: what holds the
    runs, named when it holds none."""
    if not s6.by_tau:
        return (f"No run of Fig S6 ({s6.experiment} with the synaptic time constant τ_s varied) "
                f"is in {where} at scale {scale!r}.")
    first = s6.first()
    recs = [rec for t in s6.taus for rec in s6.by_tau[t]]
    steps = "/".join(str(n) for n in sorted({rec.steps_done for rec in recs}))
    batch = "/".join(str(n) for n in sorted({rec.batch_size for rec in recs}))
    place = (" Pathfinder stands in for Path-X, whose 16,384 steps per image do not fit this "
             "scale." if scale != "paper" else "")
    encoding = (f" The background is fed as no input (silent_token {s6.silent}), as in Table 1's "
                "run of this task at this scale." if s6.silent is not None else "")
    task, tau = fig_s6_reference(scale)
    return (f"The ELM of {first.experiment} trained with the synaptic time constant τ_s varied "
            f"({', '.join(f'{t:g}' for t in s6.taus)} ms) at scale {scale!r}: seeds {s6.seeds}, "
            f"{steps} steps of batch {batch}. Data: {short_data(first)}.{place}{encoding} "
            f"Grey mark: the paper's Table 1 value for the ELM on {LABEL[task]} at τ_s = "
            f"{tau:g} ms (real data; book/elmbook/reference_data/table_1_lra.csv), drawn where "
            "that τ_s is among ours; Fig S6's own values are published only as a plot.")


# -- the conclusions ------------------------------------------------------------------------------

def _listops_notes(done: Mapping[Cell, Sequence[RunRecord]]) -> list[str]:
    score = scored(done[("listops", "elm")][0])
    text, ok = verdict(score), score.above_chance
    data_kind = "the demo stand-in" if done[("listops", "elm")][0].on_stand_in else "the real data"
    notes = [f"- **ListOps** ({data_kind}): the ELM scores {text}. " + (
        "The pipeline learns: tokens, padding, readout and loss work together. " if ok else
        "At this scale it has not picked up the task's signal. ") + (
        "The stand-in's expressions are short and shallow, a much easier problem than LRA's, so "
        "this says nothing about the paper's 46.77%." if data_kind == "the demo stand-in" else "")]
    if ("listops", "chrono-lstm") in done:
        notes.append(f"  The Chrono-LSTM, trained identically, scores "
                     f"{verdict(scored(done[('listops', 'chrono-lstm')][0]))}.")
    return notes


def _cue_note(cue: Mapping[str, tuple[float, int]]) -> str:
    if "pathfinder" not in cue:
        return ""
    cue_acc, cue_n = cue["pathfinder"]
    return (f"A single threshold on the dots' distance scores {cue_acc:.1%} on the same test "
            "images "
            + ("(connected dots lie closer together on these short paths: an easy cue that needs "
               "no tracing). " if lra_task.p_above_chance(cue_acc, cue_n, 0.5) < LEVEL else
               "(chance: on these paths only tracing tells the classes apart). "))


def _tau_note(s6: FigS6, cue: Mapping[str, tuple[float, int]], scale: str) -> str:
    note = ""
    taus = s6.taus
    if scale != "paper" and len(taus) > 1:  # Fig S6 ran on this same stand-in
        by_tau = {t: scored(s6.by_tau[t][0]) for t in taus}
        learnt = [t for t in taus if by_tau[t].above_chance]
        note = ("Fig S6's runs, test accuracy by tau_s: "
                + "; ".join(f"{t:g} ms {a:.1%} (p = {p:.2g})"
                            for t, (a, _, _, p) in by_tau.items()) + ". ")
        if learnt and len(learnt) < len(taus):
            note += (f"Within this budget only tau_s = {', '.join(f'{t:g}' for t in learnt)} ms "
                     "left chance: the direction of the paper's note to Table S2 (tau_s = 150 "
                     "'increase[s] the learning speed significantly'), seen here on an easy 32x32 "
                     f"stand-in with seeds {s6.seeds}, not on Path-X. ")
        elif learnt:
            note += "Every tau_s left chance within this budget. "
        else:
            note += ("No tau_s left chance within this budget; recurrent models are known to "
                     "stay at chance on Pathfinder for a long time before they learn. ")
        best = max(score.accuracy for score in by_tau.values())
        if "pathfinder" in cue and learnt and best < cue["pathfinder"][0]:
            note += ("The best run stays below the distance threshold, so the demo cannot tell "
                     "whether the neuron traces paths or, like the threshold, reads how far apart "
                     "the dots are. ")
    for rec in s6.other_encoding:
        tau, (a, _, _, p) = tau_s(rec), scored(rec)
        same = scored(s6.by_tau[tau][0]) if tau in s6.by_tau else None
        note += ("With the background through its own one-hot channel (the paper's encoding), "
                 f"tau_s = {tau:g} ms scores {a:.1%} (p = {p:.2g})")
        if same is not None and same.p < LEVEL <= p:
            note += (" and does not leave chance: at this budget, silencing the background is what "
                     "lets it learn")
        note += ". "
    return note


def conclusions(records: Sequence[RunRecord], cue: Mapping[str, tuple[float, int]],
                real: Mapping[str, Any], scale: str) -> list[str]:
    """The chapter's conclusions as markdown bullet lines.

    ``records``: the chapter's records in its runs' order; ``cue``: task -> (accuracy, test
    examples) of the markers' distance threshold (:func:`proximity_cue`); ``real``: task -> its
    real data folder or None; ``scale``: the chapter's scale.
    """
    records = list(records)
    done = table1(records)
    notes: list[str] = []
    if ("listops", "elm") in done:
        notes += _listops_notes(done)
    if ("pathfinder", "elm") in done:
        score = scored(done[("pathfinder", "elm")][0])
        stand_in = done[("pathfinder", "elm")][0].on_stand_in
        kind = "the demo stand-in" if stand_in else "the real data"
        notes.append(f"- **Pathfinder** ({kind}): Table 1's neuron scores {verdict(score)}. "
                     + _cue_note(cue) + _tau_note(fig_s6(records, scale), cue, scale))
    missing_data = [LABEL[t] for t in REAL_ONLY if not real.get(t)]
    if missing_data and scale != "paper":
        notes.append(f"- **{', '.join(missing_data)}** have no offline data; with `data_dir` "
                     "pointing at the real data the demo runs them (and ListOps and Pathfinder on "
                     "their real data) for the same 300 batches.")
    if scale != "paper":
        notes.append("- **Not comparable with the paper.** Stand-in accuracies (marked * and "
                     "hatched) measure a different, easier data set; one seed gives no error bar; "
                     f"at this scale at most {configs.EVALUATION['lra'][scale]['test']} test "
                     "examples are scored, and the run table gives each accuracy's binomial "
                     "interval.")
    if not notes:
        notes.append("- No ListOps or Pathfinder run is in the store yet (see section 5).")
    return notes


# -- the distance cue -----------------------------------------------------------------------------

def proximity_cue(run: Any) -> tuple[float, int]:
    """Test accuracy of one threshold on the markers' distance, fitted on the training split: what a
    model scores that never traces a path (a decision stump, scikit-learn). ``run``: a RunSpec."""
    from sklearn.tree import DecisionTreeClassifier

    from elm.data.lra_pathfinder import marker_distance

    data, _ = lra_task.load(configs.override(configs.get(run.experiment, run.scale), run.overrides),
                            run.data_dir)
    side = int(np.sqrt(data.seq_len))
    stump = DecisionTreeClassifier(max_depth=1).fit(
        marker_distance(data.train.x, side)[:, None], data.train.y)
    return stump.score(marker_distance(data.test.x, side)[:, None], data.test.y), len(data.test)


def cue_accuracies(runs: Iterable[Any], done: Mapping[Cell, Sequence[RunRecord]],
                   ) -> dict[str, tuple[float, int]]:
    """task -> (accuracy, test examples) of the distance threshold, on the data of Table 1's ELM
    run: Pathfinder only (Path-X's 128x128 test set takes long to read for one number)."""
    cue = {}
    for r in runs:
        if (not is_fig_s6_only(r) and task_of(r) == "pathfinder" and model_of(r) == "elm"
                and ("pathfinder", "elm") in done):
            cue[task_of(r)] = proximity_cue(r)
    return cue
