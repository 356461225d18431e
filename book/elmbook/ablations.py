"""The NeuronIO ablations (Fig 3 a-h, Fig S2, Fig S3, Fig S5): which run belongs to which panel.

Why a module: an ablation figure is "metric against one setting, every other setting at its
default, mean and std over seeds, divergent runs marked". The runs come from a sweep
(``book/sweeps/neuronio_ablations.yaml``) and live in the results store; this module reads them
as typed records (:class:`elm.experiments.records.RunRecord`, by attribute), decides which stored
run is a point of which panel, aggregates each panel with
:func:`elm.experiments.results.summarise` (over the records' stored JSON, ``RunRecord.raw``, which
it groups by dotted keys), and draws it beside the numbers the paper states.

A run belongs to a panel by the ``ELMConfig`` fields in which it *differs from its experiment*,
not by how its overrides were spelled: ``{}`` and ``{"d_m": 20}`` are the same default run of
``neuronio/elm/paper`` and land on every panel that contains the default (so the d_m family of
the model-comparison sweep is reused here). A run whose overrides touch the training or data
settings is no ablation of the neuron and belongs to no panel.

The paper publishes these figures as plots only. The numbers it does state are used as
references (:func:`paper_references`): Tables S5 and S6 (the same d_m axis as Fig 2), the
default configuration's row of those tables, the 0.991 AUC threshold, and Section 3.1's
"d_tree = 35 and d_brch = 65 still achieved over 0.991 AUC with only 5479 trainable parameters".
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import statistics
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from elm.experiments import configs
from elm.experiments.records import RunRecord
from elm.experiments.results import ResultsStore, lookup, summarise
from elm.model import ELMConfig
from elmbook import plots, reference

ELM_EXP = "neuronio/elm/paper"
BRANCH_EXP = "neuronio/branch-elm/paper"
#: The "sufficiently good" spike-prediction threshold of Beniaguev et al. (Section 3.1).
#: Metrics every panel aggregates (dotted record keys) and how they are labelled.
METRICS: dict[str, str] = {"metrics.auc": "spike AUC",
                           "metrics.soma_rmse_mv": "soma RMSE (mV)"}
#: The paper's statement about the Branch-ELM with fewer, smaller branches (Section 3.1).
SMALL_BRANCHES = {"d_tree": 35, "d_brch": 65, "auc_above": reference.AUC_THRESHOLD, "params": 5479}
#: App. B: "All experiments were run on a single A100 ... and ran less than 24h".
PAPER_HOURS_PER_RUN = 24.0

X = float | str


# --------------------------------------------------------------------------------------------
# configurations of runs


def elm_config(model_args: Mapping[str, Any]) -> ELMConfig:
    """An ``ELMConfig`` from stored model arguments (JSON lists back to tuples)."""
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in model_args.items()}
    return ELMConfig(**args)


@functools.cache
def base_config(experiment: str) -> ELMConfig:
    """The configuration of a named ELM experiment, before any override."""
    return configs.get(experiment).elm_config()


def point_config(experiment: str, overrides: Mapping[str, Any]) -> ELMConfig | None:
    """The neuron a grid point trains: the experiment's arguments with the overrides applied.

    None when an override changes training or data (``train.*``, ``data.*``): such a run is not
    an ablation of the neuron. Builds no model, so classifying hundreds of records is cheap.
    """
    return _point_config(experiment, json.dumps(dict(overrides), sort_keys=True))


@functools.lru_cache(maxsize=4096)
def _point_config(experiment: str, overrides_json: str) -> ELMConfig | None:
    overrides = json.loads(overrides_json)
    if any(k.startswith(("train.", "data.")) for k in overrides):
        return None
    return elm_config({**configs.get(experiment).model_args, **overrides})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def changes(config: ELMConfig, base: ELMConfig) -> dict[str, Any]:
    """The fields in which ``config`` differs from ``base``, by effect: a ``d_mlp`` equal to the
    default 2 d_m, or ``tau_m_bounds`` equal to the default (the init range), is no change."""
    diff = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
            if not _same(getattr(config, f.name), getattr(base, f.name))}
    if "d_mlp" in diff and config.hidden == base.hidden and "d_m" not in diff:
        del diff["d_mlp"]
    if "tau_m_bounds" in diff and _same(config.bounds, base.bounds):
        del diff["tau_m_bounds"]
    return diff


# --------------------------------------------------------------------------------------------
# panels


@dataclass(frozen=True)
class Panel:
    """One axis of an ablation figure.

    ``varied``: the ELMConfig fields a point of this panel may change (all others stay at the
    experiment's values); ``where(config, base)`` further selects among such points (e.g. the
    constant-tau_m panel needs ``learn_tau_m=False`` and a one-value init range); ``x(config)``
    reads the point's position on the axis. ``includes_default``: whether the unchanged
    experiment is a point of the panel (e.g. not for a constant tau_m: the default learns it).
    """

    key: str
    figure: str
    title: str
    experiments: tuple[str, ...]
    varied: frozenset[str]
    x: Callable[[ELMConfig], X]
    xlabel: str
    includes_default: bool = True
    where: Callable[[ELMConfig, ELMConfig], bool] | None = None
    log_x: bool = False
    categorical: bool = False
    paper_says: str = ""
    table_s1: str = ""  # the row of Table S1 (elmbook.reference "table_s1_defaults") for this axis

    @property
    def label(self) -> str:
        """The title as plain text (for tables): "$\\lambda$" -> "λ", "$d_{mlp}$" -> "d_mlp"."""
        text = self.title.replace("\\lambda", "λ").replace("\\tau", "τ")
        return text.replace("$", "").replace("{", "").replace("}", "")

    def contains(self, experiment: str, overrides: Mapping[str, Any]) -> bool:
        """Whether the run of ``experiment`` with ``overrides`` is a point of this panel."""
        if experiment not in self.experiments:
            return False
        config = point_config(experiment, overrides)
        if config is None:
            return False
        base = base_config(experiment)
        diff = changes(config, base)
        if not diff:
            return self.includes_default
        if not set(diff) <= self.varied:
            return False
        return self.where is None or bool(self.where(config, base))

    def holds(self, record: RunRecord) -> bool:
        """Whether the stored run ``record`` is a point of this panel."""
        return self.contains(record.experiment, record.overrides)

    def x_of(self, experiment: str, overrides: Mapping[str, Any]) -> X:
        config = point_config(experiment, overrides)
        if config is None:
            raise ValueError(f"{self.key}: {experiment} {dict(overrides)} changes training")
        return self.x(config)

    def default_x(self) -> X | None:
        """Where the unchanged experiment sits on this axis (None when it is not on it)."""
        return self.x(base_config(self.experiments[0])) if self.includes_default else None


def _range_where(config: ELMConfig, base: ELMConfig) -> bool:
    # tau_m initialised and bounded over the same range, starting where the default starts
    return (_same(config.bounds, config.tau_m_init)
            and _same(config.tau_m_init[0], base.tau_m_init[0]))


def _constant_where(config: ELMConfig, base: ELMConfig) -> bool:
    return not config.learn_tau_m and _same(config.tau_m_init[0], config.tau_m_init[1])


def _bounds_where(config: ELMConfig, base: ELMConfig) -> bool:
    return _same(config.bounds[0], base.bounds[0])


def _lambda5(config: ELMConfig, base: ELMConfig) -> bool:
    return _same(config.lambda_value, 5.0)


def _both_branch_sizes(config: ELMConfig, base: ELMConfig) -> bool:
    return config.d_tree != base.d_tree and config.d_brch != base.d_brch


def _branch_variant(config: ELMConfig) -> str:
    if config.routing == "none":
        return "no branches (vanilla ELM)"
    w_s = "learnt" if config.learn_w_s else "fixed"
    label = f"{config.routing} routing, w_s {w_s}"
    if config.branch_activation != "none":
        label += f", {config.branch_activation} on branch output"
    return label


def _tick_label(x: X) -> str:
    """A short categorical tick on two lines: "random routing, w_s learnt" -> "random" over
    "w_s learnt" (a third line for a branch nonlinearity: "relu branch")."""
    text = str(x).replace(" routing", "").replace("(vanilla ELM)", "(ELM)")
    text = text.replace(" on branch output", " branch")
    return text.replace(", ", "\n").replace(" (", "\n(")


def _core_panels(experiment: str, fig: str) -> list[Panel]:
    """Panels a-f, the same for the ELM (Fig 3) and the Branch-ELM (Fig S3)."""
    tag = "3" if fig == "Fig 3" else "S3"
    return [
        Panel(f"{tag}a", f"{fig}a", "memory units $d_m$ ($d_{mlp}=2d_m$)", (experiment,),
              frozenset({"d_m"}), lambda c: c.d_m, "$d_m$", log_x=True,
              paper_says="'around 20 memory units are required' (Section 3.1); caption: "
                         "'between 10 and 20'", table_s1="d_m"),
        Panel(f"{tag}b", f"{fig}b", "MLP hidden layers $l_{mlp}$", (experiment,),
              frozenset({"mlp_layers"}), lambda c: c.mlp_layers, "$l_{mlp}$ (0: linear)",
              paper_says="'Removing the hidden layer ... deteriorates the performance "
                         "significantly' (Section 3.1)", table_s1="l_mlp"),
        Panel(f"{tag}b'", f"{fig}b", "MLP width $d_{mlp}$", (experiment,),
              frozenset({"d_mlp"}), lambda c: c.hidden, "$d_{mlp}$", log_x=True,
              paper_says="'decreasing the integration mechanism complexity deteriorates the "
                         "performance significantly' (Section 3.1)", table_s1="d_mlp"),
        Panel(f"{tag}c", f"{fig}c", r"memory update scale $\lambda$", (experiment,),
              frozenset({"lambda_value"}), lambda c: c.lambda_value, r"$\lambda$", log_x=True,
              paper_says="'Allowing for more rapid memory updates through larger lambda is "
                         "crucial' (Section 3.1)", table_s1="lambda"),
        Panel(f"{tag}d", f"{fig}d", r"$\tau_m$ range (init = bounds = 1 ms ... max)",
              (experiment,), frozenset({"tau_m_init", "tau_m_bounds"}),
              lambda c: c.tau_m_init[1], r"largest $\tau_m$ (ms)", includes_default=False,
              where=_range_where, log_x=True,
              paper_says="'timescales that are allowed to reach at least 25 ms' (Section 3.1)",
              table_s1="tau_m (init range)"),
        Panel(f"{tag}e", f"{fig}e", r"constant $\tau_m$ (all units, not learnt)", (experiment,),
              frozenset({"tau_m_init", "learn_tau_m"}), lambda c: c.tau_m_init[0],
              r"$\tau_m$ (ms)", includes_default=False, where=_constant_where, log_x=True,
              paper_says="'constant memory timescales around 25 ms performs surprisingly well' "
                         "(Section 3.1)", table_s1="tau_m (init range)"),
        Panel(f"{tag}f", f"{fig}f", r"$\tau_m$ upper bound (init 1-100 ms)", (experiment,),
              frozenset({"tau_m_bounds"}), lambda c: c.bounds[1], r"upper bound (ms)",
              where=_bounds_where, log_x=True,
              paper_says="'a diversity of timescales including long ones seem to be "
                         "favorable (Figure 3d and 3f)' (Section 3.1)", table_s1="tau_m (bounds)"),
    ]


PANELS: tuple[Panel, ...] = (
    *_core_panels(ELM_EXP, "Fig 3"),
    Panel("3g", "Fig 3g", "branches $d_{tree}$ ($d_{brch}$ = 100)", (BRANCH_EXP,),
          frozenset({"d_tree"}), lambda c: c.d_tree, "$d_{tree}$", log_x=True,
          paper_says="the caption names the axis only", table_s1="d_tree"),
    Panel("3h", "Fig 3h", "synapses per branch $d_{brch}$ ($d_{tree}$ = 45)", (BRANCH_EXP,),
          frozenset({"d_brch"}), lambda c: c.d_brch, "$d_{brch}$", log_x=True,
          paper_says="the caption names the axis only", table_s1="d_brch"),
    Panel("3gh", "Section 3.1", "fewer and smaller branches", (BRANCH_EXP,),
          frozenset({"d_tree", "d_brch"}), lambda c: f"{c.d_tree}×{c.d_brch}",
          r"$d_{tree}$×$d_{brch}$", where=_both_branch_sizes, categorical=True,
          paper_says="'d_tree=35 and d_brch=65 still achieved over 0.991 AUC with only 5479 "
                     "trainable parameters' (Section 3.1)"),
    *_core_panels(BRANCH_EXP, "Fig S3"),
    Panel("S2", "Fig S2", r"Branch-ELM $d_m$ at $\lambda$ = 5", (BRANCH_EXP,),
          frozenset({"d_m", "lambda_value"}), lambda c: c.d_m, "$d_m$", includes_default=False,
          where=_lambda5, log_x=True,
          paper_says="'Branch-ELM neuron training is more stable with smaller lambda' "
                     "(Fig S2 caption)"),
    Panel("S5", "Fig S5", "branch architecture", (BRANCH_EXP, ELM_EXP),
          frozenset({"routing", "learn_w_s", "branch_activation"}), _branch_variant, "",
          categorical=True,
          paper_says="'Exploiting the ordering in the synaptic input, and having learnable "
                     "synapses is crucial. Applying a specific nonlinearity on branch output "
                     "slightly degrades performance' (Fig S5 caption)"),
)

#: Panels by figure, in the order the chapter draws them: the ELM's (Fig 3 a-f) and the
#: Branch-ELM's (Fig 3 g-h, Section 3.1's 35x65, Fig S3 a-f, Fig S2, Fig S5).
ELM_PANELS = tuple(p for p in PANELS if p.experiments[0] == ELM_EXP)
BRANCH_PANELS = tuple(p for p in PANELS if p.experiments[0] == BRANCH_EXP)


def panel(key: str) -> Panel:
    """The panel named ``key`` ("3a", "S3c", "S2", ...)."""
    for p in PANELS:
        if p.key == key:
            return p
    raise KeyError(f"no panel {key!r}; panels: {', '.join(p.key for p in PANELS)}")


def panels_of(experiment: str, overrides: Mapping[str, Any]) -> list[Panel]:
    """Every panel the run of ``experiment`` with ``overrides`` is a point of."""
    return [p for p in PANELS if p.contains(experiment, overrides)]


def is_default(experiment: str, overrides: Mapping[str, Any]) -> bool:
    """Whether the run trains the experiment's own configuration (``{}``, ``{"d_m": 20}``)."""
    config = point_config(experiment, overrides)
    return config is not None and not changes(config, base_config(experiment))


def axis_values(p: Panel, runs: Iterable[Any], training: Mapping[str, Any] | None = None
                ) -> list[X]:
    """The settings a sweep's runs (``RunSpec``s) place on panel ``p``, in axis order; with
    ``training``, those of the runs trained with exactly these overrides
    (:func:`neuron_overrides`)."""
    placed = [(r.experiment, o) for r in runs
              if (o := neuron_overrides(r.overrides, training or {})) is not None]
    xs = {p.x_of(exp, o) for exp, o in placed if p.contains(exp, o)}
    return sorted(xs, key=str) if p.categorical else sorted(xs, key=float)


# --------------------------------------------------------------------------------------------
# runs trained alike: the results snapshot


def _training(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides of training and data settings (``train.*``, ``data.*``)."""
    return {k: v for k, v in overrides.items() if k.startswith(("train.", "data."))}


def shared_training(runs: Iterable[Any]) -> dict[str, Any]:
    """The training and data overrides that every one of ``runs`` (``RunSpec``s or records)
    has, such as the results snapshot's one learning rate.

    A ValueError when the runs differ in them: runs trained differently are no points of one
    axis, and setting their training aside (:func:`at_training`) would put them on one.
    """
    found = {json.dumps(_training(r.overrides), sort_keys=True) for r in runs}
    if len(found) > 1:
        raise ValueError(f"the runs differ in their training settings: {sorted(found)}")
    return json.loads(found.pop()) if found else {}


def neuron_overrides(overrides: Mapping[str, Any], training: Mapping[str, Any]
                     ) -> dict[str, Any] | None:
    """``overrides`` without the training overrides ``training``; None when the run's training
    and data overrides are not exactly ``training``."""
    if _training(overrides) != dict(training):
        return None
    return {k: v for k, v in overrides.items() if k not in training}


def at_training(records: Iterable[RunRecord], training: Mapping[str, Any]) -> list[RunRecord]:
    """The records trained with exactly the overrides ``training``, those set aside, so that
    the panels place them by their neuron alone.

    Why: a panel takes no run whose overrides touch training, so that runs trained differently
    never share an axis. Runs that all share one training change (the results snapshot trains
    every run at one learning rate, :func:`shared_training`) are comparable with each other, and
    with that change set aside they land on the panels as the runs of the paper's grid do. A
    record keeps its run id and its stored JSON (``raw``).
    """
    return [dataclasses.replace(r, overrides=o) for r in records
            if (o := neuron_overrides(r.overrides, training)) is not None]


# --------------------------------------------------------------------------------------------
# aggregation


def records_of(panels: Iterable[Panel], records: Iterable[RunRecord]) -> list[RunRecord]:
    """The records that are a point of at least one of ``panels`` (what a figure of those
    panels draws: its caption describes these runs), in their order."""
    panels = list(panels)
    return [r for r in records if any(p.holds(r) for p in panels)]


def has_variants(p: Panel, records: Iterable[RunRecord]) -> bool:
    """Whether the records hold a point of ``p`` other than the default (a panel worth drawing:
    a panel without the default on its axis is compared with the default's level)."""
    return any(not row["default"] for row in panel_rows(p, records))


def panel_rows(p: Panel, records: Iterable[RunRecord],
               metrics: Sequence[str] = tuple(METRICS)) -> list[dict[str, Any]]:
    """The panel's points: one row per axis value with mean and std over seeds.

    Rows come from :func:`elm.experiments.results.summarise` (``n`` complete runs, ``diverged`` and
    ``failed`` counts, ``<metric>_mean`` / ``_std``), plus ``x``, ``default`` (the
    experiment's own configuration), ``params``, ``collapsed`` (seeds of complete runs that
    learnt nothing, :attr:`~elm.experiments.records.RunRecord.collapse`: kept in the mean, and
    named) and ``run_ids``; sorted by ``x``. Diverged and failed runs stay in their row's
    counts: nothing is dropped.
    """
    points = [(p.x_of(r.experiment, r.overrides), r) for r in records if p.holds(r)]
    # summarise groups by dotted keys of the stored JSON: each record's tagged with its x
    rows = summarise([{**r.raw, "ablation": {"x": x}} for x, r in points], by=["ablation.x"],
                     metrics=list(metrics))
    by_x: dict[str, list[RunRecord]] = {}
    for x, r in points:
        by_x.setdefault(json.dumps(x), []).append(r)
    out = []
    for row in rows:
        x = row.pop("ablation.x")
        members = by_x[json.dumps(x)]
        params = [r.params for r in members if r.params is not None]
        out.append({"x": x, **row,
                    "default": any(r.experiment == p.experiments[0]
                                   and is_default(r.experiment, r.overrides) for r in members),
                    "params": params[0] if params else None,
                    "experiment": members[0].experiment,
                    "collapsed": [r.seed for r in members if r.collapse],
                    "run_ids": [r.run_id for r in members]})
    if p.categorical:
        return sorted(out, key=lambda row: (not row["default"], str(row["x"])))
    return sorted(out, key=lambda row: float(row["x"]))


def _value(record: RunRecord, metric: str) -> float | None:
    """A dotted metric key (``"metrics.auc"``) of a record; None where the record lacks it."""
    if metric.startswith("metrics."):
        return record.metric(metric.removeprefix("metrics."), None)
    value = lookup(record.raw, metric, None)
    return None if value is None else float(value)


def best_metric(records: Iterable[RunRecord], metric: str = "auc") -> float:
    """The highest value of ``metric`` (a key of ``RunRecord.metrics``) over the complete
    records; NaN when none completed."""
    values = [v for r in records if r.complete and (v := r.metric(metric, None)) is not None]
    return max(values) if values else float("nan")


def default_rows(records: Iterable[RunRecord], experiment: str,
                 metrics: Sequence[str] = tuple(METRICS)) -> dict[str, Any] | None:
    """The experiment's own configuration aggregated over its seeds (None without runs)."""
    mine = [r for r in records if r.experiment == experiment
            and is_default(experiment, r.overrides)]
    if not mine:
        return None
    (row,) = summarise([{**r.raw, "ablation": {"x": "default"}} for r in mine], ["ablation.x"],
                       list(metrics))
    for metric in metrics:  # the seed-to-seed range: the yardstick for a one-seed variant
        values = [v for r in mine if r.complete and (v := _value(r, metric)) is not None]
        row[f"{metric.rsplit('.', 1)[-1]}_range"] = (max(values) - min(values) if values
                                                      else float("nan"))
    return row


def versus_default(row: Mapping[str, Any], default: Mapping[str, Any] | None,
                   metric: str = "auc") -> tuple[float, str]:
    """Difference of a row's mean from the default's, and whether it exceeds the default's
    seed-to-seed range ("n/a" with fewer than two default seeds: no yardstick)."""
    if default is None or not default["n"] or not row["n"]:
        return float("nan"), "n/a"
    delta = row[f"{metric}_mean"] - default[f"{metric}_mean"]
    if default["n"] < 2:
        return delta, "n/a (1 default seed)"
    return delta, "yes" if abs(delta) > default[f"{metric}_range"] else "no"


#: The experiments whose defaults are the yardsticks of the chapter's reading, and their names.
YARDSTICKS: tuple[tuple[str, str], ...] = ((ELM_EXP, "ELM"), (BRANCH_EXP, "Branch-ELM"))


def _yardstick(records: Sequence[RunRecord], experiment: str) -> dict[str, Any] | None:
    """The default's aggregate, only when it has a seed range (two or more complete runs)."""
    row = default_rows(records, experiment)
    return row if row is not None and row["n"] >= 2 else None


def yardstick_lines(records: Sequence[RunRecord]) -> list[str]:
    """Markdown bullets that set each variant against its experiment's default seed range.

    Per experiment (:data:`YARDSTICKS`): the default's mean and seed range, then one sub-bullet per
    variant with its ΔAUC and whether it is within or beyond that range; an experiment with fewer
    than two complete default runs gets no yardstick and says so. Runs that learnt nothing
    (:attr:`RunRecord.collapse`) close the list, with the paper's own remark on training
    stability, so a collapsed seed is read as such and not as an effect of the setting.
    """
    lines = []
    for exp, name in YARDSTICKS:
        row = _yardstick(records, exp)
        if row is None:
            lines.append(f"- {name}: fewer than two complete default runs, so no seed yardstick.")
            continue
        lines.append(f"- {name} default, {row['n']} seeds: AUC {row['auc_mean']:.4f} (seed range "
                     f"{row['auc_range']:.4f}), soma RMSE {row['soma_rmse_mv_mean']:.3f} mV (range "
                     f"{row['soma_rmse_mv_range']:.3f} mV).")
        for p in PANELS:
            if p.experiments[0] != exp:
                continue
            for r in panel_rows(p, records):
                if r["default"] or not r["n"] or r["experiment"] != exp:
                    continue
                delta, beyond = versus_default(r, row)
                lines.append(f"  - {p.figure} {p.label.split(' (')[0]} = {r['x']}: ΔAUC "
                             f"{delta:+.4f} ({'beyond' if beyond == 'yes' else 'within'} the "
                             "default's seed range).")
    collapsed = [r for r in records if r.collapse]
    if collapsed:
        named = "; ".join(f"{r.experiment.split('/')[1]} {dict(r.overrides) or 'default'} "
                          f"seed {r.seed}: {r.collapse}" for r in collapsed)
        lines.append("- **Runs that learnt nothing** (kept in the means above, named in the "
                     f"table): {named}. Short training from one initialisation can leave the "
                     "spike readout at chance; the paper's Fig S2 caption reports that "
                     "\"Branch-ELM neuron training is more stable with smaller λ\".")
    return lines


# --------------------------------------------------------------------------------------------
# the paper's numbers


@dataclass(frozen=True)
class Reference:
    """A number the paper publishes, drawn in grey: ``kind`` "point" (at ``x``), "hline"
    (a level across the panel) or "above" (a lower bound at ``x``)."""

    kind: str
    value: float
    label: str
    x: X | None = None
    std: float = 0.0


_TABLES = {ELM_EXP: ("table_s6_elm_neuronio", "Table S6"),
           BRANCH_EXP: ("table_s5_branch_elm_neuronio", "Table S5")}
_COLUMNS = {"auc": ("spike_auc_mean", "spike_auc_std"),
            "soma_rmse_mv": ("voltage_rmse_mean", "voltage_rmse_std")}


def paper_references(p: Panel, metric: str = "auc") -> list[Reference]:
    """What the paper states in numbers for this panel and metric (``elmbook.reference`` tables
    and Section 3.1's sentences). The ablation panels themselves are published only as plots."""
    if metric not in _COLUMNS:
        return []
    experiment = p.experiments[0]
    table, name = _TABLES[experiment]
    rows = reference.load(table)
    mean_col, std_col = _COLUMNS[metric]
    refs: list[Reference] = []
    if p.key in ("3a", "S3a", "S2"):
        lam = " (Fig 2: λ = 10 per Table S1)"
        what = lam if p.key == "S2" else " (Fig 2's d_m family)"
        refs += [Reference("point", float(r[mean_col]), f"{name}{what}",
                           x=float(r["memory_units"]), std=float(r[std_col])) for r in rows]
    else:
        (default,) = [r for r in rows if int(r["memory_units"]) == 20]
        refs.append(Reference("hline", float(default[mean_col]),
                              f"{name}, default config (d_m = 20)"))
    if metric == "auc":
        refs.append(Reference("hline", reference.AUC_THRESHOLD, "0.991 threshold (Section 3.1)"))
        if p.key == "3gh":
            x = f"{SMALL_BRANCHES['d_tree']}×{SMALL_BRANCHES['d_brch']}"
            refs.append(Reference("above", SMALL_BRANCHES["auc_above"],
                                  "Section 3.1: 35×65 'over 0.991 AUC'", x=x))
    return refs


# --------------------------------------------------------------------------------------------
# provenance and plan


def data_label(records: Iterable[RunRecord]) -> str:
    """Which data the records were trained on, from their provenance; a mixture says so."""
    kinds = {}
    for r in records:
        if "stand_in" in r.data:  # a record that does not say is not counted either way
            kinds.setdefault(r.on_stand_in, r.data.get("description", ""))
    if not kinds:
        return "data: unknown (no run recorded its data)"
    if len(kinds) > 1:
        return "data: MIXED stand-in and real NeuronIO runs (see the table)"
    stand_in, description = next(iter(kinds.items()))
    if stand_in:
        return ("data: NeuronIO stand-in (our own NEURON simulation, data/neuronio; not "
                "comparable with the paper)")
    return f"data: {description}"


def same_configuration_elsewhere(records: Sequence[RunRecord], other: Sequence[RunRecord],
                                 where: str) -> list[str]:
    """Bullets setting each experiment's default runs here beside the same configuration's runs
    in ``other`` (another chapter's runs in the same store), with both training lengths.

    Why: the same model scores differently on two pages when the pages train it for different
    lengths, and a reader comparing them needs the reason next to the numbers. Only complete
    runs count; an experiment missing on either side gives no line.
    """
    lines = []
    for exp, name in YARDSTICKS:
        sides = [[r for r in rs if r.complete and r.experiment == exp and is_default(
                  exp, {k: v for k, v in r.overrides.items() if not k.startswith("train.")})]
                 for rs in (records, other)]  # the same neuron and data, trained for any length
        if not all(sides):
            continue
        (auc_here, auc_there), (steps_here, steps_there) = (
            [statistics.fmean(r.metric("auc") for r in side) for side in sides],
            [sorted({r.steps_done or 0 for r in side}) for side in sides])
        line = (f"- **{name} default, here and in {where}.** Here: spike AUC {auc_here:.4f} "
                f"({len(sides[0])} run(s), {'/'.join(f'{n:,}' for n in steps_here)} steps). "
                f"{where[0].upper() + where[1:]}: {auc_there:.4f} ({len(sides[1])} run(s), "
                f"{'/'.join(f'{n:,}' for n in steps_there)} steps), the same configuration and "
                "data.")
        longer = min(steps_there) > max(steps_here) or min(steps_here) > max(steps_there)
        if longer:
            ahead_is_longer = (auc_there > auc_here) == (min(steps_there) > max(steps_here))
            line += (" The runs trained longer score higher: the gap is training length."
                     if ahead_is_longer else
                     " The runs trained longer score lower, so training length alone does not "
                     "explain the gap.")
        lines.append(line)
    return lines


def _steps(train: Mapping[str, Any]) -> int:
    """Training steps of a run's training settings (epochs x batches per epoch)."""
    return train["epochs"] * train["batches_per_epoch"]


def _train_steps(record: RunRecord) -> int:
    """The training steps the run's configuration asked for."""
    return _steps(record.config["train"])


def _run_facts(records: Sequence[RunRecord]) -> tuple[str, str, str, list[int]]:
    """Scales (``"'demo'"``), training steps and batch sizes (``"300"``, ``"8"``; several
    joined by "/") and seeds of the records."""
    configured = [r for r in records if r.config]
    return (", ".join(repr(s) for s in sorted({r.scale for r in records})),
            "/".join(f"{n:,}" for n in sorted({_train_steps(r) for r in configured})),
            "/".join(map(str, sorted({r.batch_size for r in configured}))),
            sorted({r.seed for r in records}))


def run_label(records: Sequence[RunRecord]) -> str:
    """Scale, training length and seeds of the records, for a caption."""
    scales, steps, batch, seeds = _run_facts(records)
    return f"scale {scales}; {steps} steps of batch {batch} per run; seeds {seeds}"


def panels_caption(panels: Sequence[Panel], records: Sequence[RunRecord], metric: str = "auc",
                   grid: str = "") -> str:
    """The caption of :func:`plot_panels`' figure (:func:`elmbook.plots.show_figure`), in
    sentences: what is drawn, the runs behind it (``records``: how many, scale, training length,
    seeds; ``grid`` says which grid of the sweep they are), their data, and which of the paper's
    numbers the panels draw in grey (:func:`paper_references`)."""
    scales, steps, batch, seeds = _run_facts(records)
    n = len(records)
    seeds_text = ", ".join(map(str, seeds[:-1])) + " and " * (len(seeds) > 1) + str(seeds[-1])
    what = METRICS[f"metrics.{metric}"]
    data = data_label(records)
    grey = list(dict.fromkeys(r.label for p in panels for r in paper_references(p, metric)))
    grey_text = (f"in grey, what it does state in numbers: {'; '.join(grey)}." if grey else
                 "none of the numbers it does state applies to them.")
    return (f"{what[0].upper()}{what[1:]} on the test files against each panel's setting. "
            f"Ours: {n} run{'s' * (n != 1)} at scale {scales}, {steps} steps of batch {batch} "
            f"per run, seed{'s' * (len(seeds) != 1)} {seeds_text}"
            f"{f' ({grid})' if grid else ''}; a point is the mean ± std over its complete runs. "
            f"{data[0].upper()}{data[1:]}. The paper publishes these panels as plots only, not "
            f"as numbers; {grey_text}")


def _windows(train: Mapping[str, Any]) -> str:
    """A batch as the NeuronIO task draws it: "8 windows of 500 ms"."""
    window = train.get("window_ms")
    return f"{train['batch_size']} windows" + (f" of {window:g} ms" if window else "")


def paper_share(records: Sequence[RunRecord]) -> str:
    """How much of the paper's training the records' runs had, for a page's "how to read this".

    The runs' steps and batches (from their stored configuration) against the paper-scale
    protocol of the same experiments (:func:`elm.experiments.configs.get`, App. B), so the page
    states the training length the runs actually had, whatever the scale's settings are now.
    """
    configured = [r for r in records if r.config]
    if not configured:
        return "training per run: not recorded"
    paper = {r.experiment: dataclasses.asdict(configs.get(r.experiment).train) for r in configured}
    ours = {f"{_train_steps(r):,} steps of {_windows(r.config['train'])}": _train_steps(r)
            for r in configured}
    theirs = sorted({f"{t['epochs']} × {t['batches_per_epoch']:,} = {_steps(t):,} steps of "
                     f"{_windows(t)}" for t in paper.values()})
    # shares in the order of ours: fewest steps, smallest share, first
    ratios = sorted({round(_steps(paper[r.experiment]) / _train_steps(r)) for r in configured},
                    reverse=True)
    share = " or ".join("all" if n <= 1 else f"1/{n:,}" for n in ratios)
    return (f"training per run: {' or '.join(sorted(ours, key=ours.get))}, {share} of the paper's "
            f"{' or '.join(theirs)}")


@dataclass
class Plan:
    """What the store holds of a sweep's runs."""

    runs: int
    complete: int = 0
    diverged: int = 0
    failed: int = 0
    missing: list[str] = field(default_factory=list)
    records: list[RunRecord] = field(default_factory=list)

    @property
    def gpu_hours_bound(self) -> float:
        return self.runs * PAPER_HOURS_PER_RUN


def plan(runs: Sequence[Any], store: ResultsStore) -> Plan:
    """Read every run of a sweep from the store as a typed record; count outcomes, list the
    missing ones. A malformed record fails here, naming its file."""
    out = Plan(len(runs))
    for r in runs:
        payload = store.read(r.run_id)
        if payload is None:
            out.missing.append(r.run_id)
            continue
        record = RunRecord.from_json(payload, str(store.path(r.run_id)))
        out.records.append(record)
        setattr(out, record.status, getattr(out, record.status) + 1)
    return out


# --------------------------------------------------------------------------------------------
# figures

OURS, DEFAULT, DIVERGED = plots.PALETTE[0], plots.PALETTE[1], plots.PALETTE[5]


def _positions(p: Panel, xs: Sequence[X], extra: Sequence[X] = ()) -> dict[X, float]:
    if p.categorical:
        labels = list(dict.fromkeys([*xs, *extra]))
        return {x: float(i) for i, x in enumerate(labels)}
    return {x: float(x) for x in [*xs, *extra]}


def plot_panel(ax: Axes, p: Panel, rows: Sequence[Mapping[str, Any]], metric: str = "auc",
               default: Mapping[str, Any] | None = None, references: bool = True) -> None:
    """One panel: our mean ± std per setting (the default starred), the default's level as a
    band, diverged or failed runs marked at the bottom, the paper's numbers in grey."""
    refs = paper_references(p, metric) if references else []
    ref_x = [r.x for r in refs if r.kind != "hline" and r.x is not None]
    pos = _positions(p, [row["x"] for row in rows], ref_x if p.categorical else ())
    # wrapped at spaces, which the titles keep out of their $...$ parts
    ax.set_title(textwrap.fill(f"{p.figure}: {p.title}", 40), fontsize=8)
    ax.set_xlabel(p.xlabel)
    if default is not None and default["n"]:
        mean, std = default[f"{metric}_mean"], default[f"{metric}_std"]
        ax.axhline(mean, color=DEFAULT, lw=0.8, ls="--", label="ours, default config (mean)")
        if std > 0:
            ax.axhspan(mean - std, mean + std, color=DEFAULT, alpha=0.15, lw=0,
                       label="ours, default config (± std over seeds)")
    for ref in refs:
        if ref.kind == "hline":
            style = ":" if "threshold" in ref.label else "-."
            ax.axhline(ref.value, color=plots.PAPER_COLOR, lw=0.8, ls=style, label=ref.label)
        elif ref.kind == "point":
            ax.errorbar(float(ref.x), ref.value, yerr=ref.std, color=plots.PAPER_COLOR,
                        marker="s", ms=3, lw=0.8, capsize=2, label=ref.label)
        elif ref.kind == "above":
            ax.plot(pos[ref.x], ref.value, marker="^", ms=6, color=plots.PAPER_COLOR, ls="none",
                    label=ref.label)
    done = [row for row in rows if row["n"]]
    if done:
        xs = [pos[row["x"]] for row in done]
        ax.errorbar(xs, [row[f"{metric}_mean"] for row in done],
                    yerr=[row[f"{metric}_std"] for row in done], color=OURS, marker="o", ms=4,
                    lw=1.0, capsize=2, ls="-" if not p.categorical else "none",
                    label="ours: mean ± std over seeds")
        for row in done:
            if row["default"]:
                ax.plot(pos[row["x"]], row[f"{metric}_mean"], marker="*", ms=11, color=DEFAULT,
                        ls="none", zorder=5, label="default setting (Table S1)")
    for row in rows:
        bad = row["diverged"] + row["failed"]
        if bad:
            what = "diverged" if row["diverged"] else "failed"
            ax.plot(pos[row["x"]], 0.02, marker="x", ms=7, color=DIVERGED, ls="none",
                    transform=ax.get_xaxis_transform(), label="run(s) diverged or failed")
            ax.annotate(f"{bad} {what}", (pos[row["x"]], 0.06), xycoords=("data", "axes fraction"),
                        fontsize=6, color=DIVERGED, ha="center")
    if not rows:
        ax.text(0.5, 0.5, "no runs in the store", transform=ax.transAxes, ha="center",
                va="center", fontsize=7, color="0.4")
    if p.categorical:
        ax.set_xticks(list(pos.values()), [_tick_label(x) for x in pos], fontsize=6)
        ax.set_xlim(-0.6, max(len(pos) - 0.4, 0.6))
    elif not p.log_x:
        ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    elif pos or ref_x:
        plots.log_axis(ax.xaxis, [float(x) for x in [*pos, *ref_x]])


def plot_panels(panels: Sequence[Panel], records: Sequence[RunRecord], metric: str = "auc",
                ncols: int = 3, title: str = "") -> Figure:
    """A grid of panels over the same records, with one shared legend.

    At most :data:`elmbook.plots.PAGE_WIDTH_IN` wide: the page shows a figure at its column's
    width, and a wider one is shrunk until its labels are unreadable.
    """
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    width = min(max(2.6 * ncols, 6.5), plots.PAGE_WIDTH_IN)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, 2.4 * nrows + 1.3), squeeze=False)
    for ax, p in zip(axes.flat, panels, strict=False):
        plot_panel(ax, p, panel_rows(p, records), metric,
                   default=default_rows(records, p.experiments[0]))
        ax.set_ylabel(METRICS[f"metrics.{metric}"], fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=3,
               fontsize=7)
    if title:  # wrapped to the figure's width (about 15 characters per inch at this size)
        lines = [textwrap.fill(line, int(width * 15)) for line in title.splitlines()]
        fig.suptitle("\n".join(lines), x=0.01, ha="left", fontsize=8)
    return fig


def table_rows(panels: Sequence[Panel], records: Sequence[RunRecord]) -> list[list[Any]]:
    """Rows for :class:`elmbook.plots.Table`: every point of every panel, with its outcome counts,
    AUC and RMSE (mean ± std), parameters, and how its AUC compares with the default's seed
    range."""
    out = []
    for p in panels:
        default = default_rows(records, p.experiments[0])
        for row in panel_rows(p, records):
            delta, beyond = versus_default(row, default)
            auc = (f"{row['auc_mean']:.4f} ± {row['auc_std']:.4f}" if row["n"] else "–")
            rmse = (f"{row['soma_rmse_mv_mean']:.3f} ± {row['soma_rmse_mv_std']:.3f}"
                    if row["n"] else "–")
            out.append([p.figure, p.label.split(" (")[0], str(row["x"]) +
                         (" (default)" if row["default"] else ""), row["n"], row["diverged"],
                         row["failed"], ", ".join(map(str, row["collapsed"])) or "–", auc,
                         "" if row["default"] else
                         (f"{delta:+.4f}" if np.isfinite(delta) else "–"),
                         "" if row["default"] else beyond, rmse,
                         row["params"] if row["params"] is not None else "–"])
    return out


TABLE_HEADER = ["figure", "setting", "value", "runs", "diverged", "failed",
                "collapsed seeds (in the mean)", "spike AUC",
                "Δ AUC vs default", "beyond default's seed range", "soma RMSE (mV)",
                "trainable params"]
