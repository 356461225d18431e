"""The NeuronIO figures and tables of the paper (Fig 2, Fig 4, Fig S1, Fig S7, Tables S4–S7).

Why a module: the chapter "Fitting a cortical neuron" draws its figures from the results store,
from models restored from the runs' checkpoints and from the paper's tables; the pieces that do
this (grouping records into model families, restoring a trained model, the protocol's stitched
predictions for a ROC, the figure layouts, the comparisons between families that the chapter's
conclusions rest on) are written and tested once here, so the chapter stays a sequence of calls
and checks.

Conventions:

* a model *family* is one curve of Fig 2: ``"ELM"`` (``neuronio/elm/paper``, size ``d_m``),
  ``"Branch-ELM"`` (``neuronio/branch-elm/*``, size ``d_m``), ``"LSTM"``
  (``neuronio/lstm-<hidden>/paper``), ``"TCN"`` (``neuronio/tcn-*/ours``), ``"LIF"`` and
  ``"simplest ELM"`` (Table S4);
* the paper's numbers come from :mod:`elmbook.reference` only, and are drawn in
  :data:`elmbook.plots.PAPER_COLOR`;
* FLOPs are :func:`elm.counting.count_flops` over :data:`FLOPS_SEQ_LEN` steps, the sequence
  length at which our count reproduces the FLOPs column of Tables S5–S7 (see
  :func:`flops_seq_len_fit`);
* runs are read as typed records (:class:`elm.experiments.records.RunRecord`, by attribute);
  only the seed aggregation of :func:`summary_rows` goes through the stored JSON
  (``RunRecord.raw``), which :func:`elm.experiments.results.summarise` groups by dotted keys.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import yaml
from flax import nnx
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from elm.counting import count_flops, count_params
from elm.data import neuronio
from elm.data import released as released_data
from elm.experiments import configs
from elm.experiments.neuronio_eval import IGNORE_START_MS, MAX_SPIKES_PER_SIM, neuronio_predictions
from elm.experiments.records import RunRecord
from elm.experiments.results import summarise
from elm.experiments.training import load_checkpoint
from elm.routing import make_routing
from elmbook import plots, reference

#: Sequence length of the FLOPs columns of Tables S5–S7 under our counting rule: the 500 ms
#: training and evaluation window (App. B). :func:`flops_seq_len_fit` recovers it from the tables.
FLOPS_SEQ_LEN = 500
#: The "sufficiently good" spike-prediction threshold of Beniaguev et al. (2021), quoted in
#: Section 3.1 of the paper ("0.991 AUC").
#: Family -> (colour, marker), fixed so every figure of the chapter uses the same ones.
FAMILY_STYLE: dict[str, tuple[str, str]] = {
    "Branch-ELM": (plots.PALETTE[0], "o"),
    "ELM": (plots.PALETTE[1], "s"),
    "LSTM": (plots.PALETTE[2], "^"),
    "TCN": (plots.PALETTE[3], "D"),
    "LIF": (plots.PALETTE[5], "v"),
    "simplest ELM": (plots.PALETTE[4], "P"),
}
FAMILIES = tuple(FAMILY_STYLE)
#: The paper's table of each family (Appendix F, Table S4 for the tiny models).
PAPER_TABLES = {"Branch-ELM": "table_s5_branch_elm_neuronio", "ELM": "table_s6_elm_neuronio",
                "LSTM": "table_s7_lstm_neuronio"}
#: The protocol's true-positive rates at low false-positive rates (Fig 4c), per run record.
TP_METRICS = ("tp_at_fp_0.0025", "tp_at_fp_0.01")
_TINY_ROWS = {"LIF": "classic LIF", "simplest ELM": "simplest ELM"}
#: Label and style of the third layer of Fig 2 / Table S5: the authors' own evaluation of their
#: released Branch-ELMs (``eval_results.csv``), neither the paper's tables nor our runs.
RELEASED_LABEL = "authors' released models, their evaluation on NeuronIO"
RELEASED_STYLE = ("black", "x")
RELEASED_LEGEND = "Branch-ELM: authors' released\nmodels, their evaluation\non NeuronIO"


# --------------------------------------------------------------------------------------------
# families and sizes


def family_of(experiment: str) -> str:
    """The Fig 2 family of an experiment name: ``"neuronio/lstm-15/paper"`` -> ``"LSTM"``."""
    parts = experiment.split("/")
    if len(parts) != 3 or parts[0] != "neuronio":
        raise ValueError(f"not a NeuronIO experiment name: {experiment!r}")
    kind = parts[1]
    if kind == "elm":
        return "ELM"
    if kind == "branch-elm":
        return "Branch-ELM"
    if kind.startswith("lstm-"):
        return "LSTM"
    if kind.startswith("tcn-"):
        return "TCN"
    if kind == "lif":
        return "LIF"
    if kind == "simplest-elm":
        return "simplest ELM"
    raise ValueError(f"no Fig 2 family for {experiment!r}")


def experiment_of(record: RunRecord) -> configs.Experiment:
    """The experiment a record ran (its name at its scale, with its overrides)."""
    return configs.override(configs.get(record.experiment, record.scale),
                            dict(record.overrides))


def size_label(experiment: configs.Experiment) -> str:
    """The size a family's curve is drawn over: ``d_m=20``, ``hidden=15``, ``tcn-1m``..."""
    family = family_of(experiment.name)
    args = experiment.model_args
    if family in ("ELM", "Branch-ELM"):
        return f"d_m={args['d_m']}"
    if family == "LSTM":
        return f"hidden={args['hidden_size']}"
    if family == "TCN":
        return experiment.name.split("/")[1]
    return "-"


def model_cost(experiment: configs.Experiment,
               seq_len: int = FLOPS_SEQ_LEN) -> tuple[int, int]:
    """(trainable parameters, forward FLOPs over ``seq_len`` steps) of an experiment's model."""
    model = experiment.abstract_model()
    return count_params(model), count_flops(model, seq_len)


# --------------------------------------------------------------------------------------------
# the paper's numbers


@dataclass(frozen=True)
class PaperPoint:
    """One row of Tables S4–S7: a published model size and its published numbers."""

    family: str
    size: str
    params: float
    flops: float | None
    rmse: float
    rmse_std: float | None
    auc: float
    auc_std: float | None


def paper_points(family: str) -> list[PaperPoint]:
    """The published points of a family (Tables S5, S6, S7; Table S4 for LIF / simplest ELM);
    an empty list for families the paper gives no table for (our TCN)."""
    if family in PAPER_TABLES:
        key = "hidden_size" if family == "LSTM" else "memory_units"
        prefix = "hidden" if family == "LSTM" else "d_m"
        return [PaperPoint(family, f"{prefix}={int(r[key])}", float(r["trainable_params"]),
                           float(r["flops"]), float(r["voltage_rmse_mean"]),
                           float(r["voltage_rmse_std"]), float(r["spike_auc_mean"]),
                           float(r["spike_auc_std"]))
                for r in reference.load(PAPER_TABLES[family])]
    if family in _TINY_ROWS:
        return [PaperPoint(family, "-", r["trainable_params"], None, r["soma_rmse"], None,
                           r["spike_auc"], None)
                for r in _table_s4() if r["model"].startswith(_TINY_ROWS[family])]
    return []


def released_points(pretrained_dir: str | Path | None = None) -> list[PaperPoint]:
    """The authors' released Branch-ELMs as points (family ``"Branch-ELM"``, size ``d_m=k``):
    their ``model_param_count`` and their test soma RMSE (mV) and spike AUC from
    ``eval_results.csv`` (:func:`elm.data.released.eval_results`). Their numbers, one model per
    size (no seed spread), no FLOPs (the authors give none)."""
    return [PaperPoint("Branch-ELM", f"d_m={r['d_m']}", float(r["params"]), None,
                       float(r["soma_rmse"]), None, float(r["auc"]), None)
            for r in released_data.eval_results(pretrained_dir, "test")]


def released_table(pretrained_dir: str | Path | None = None
                   ) -> tuple[list[str], list[list[Any]]]:
    """The authors' evaluation of their released models beside Table S5, per released d_m:
    their parameter count, test spike AUC, TP rate at 1 % FP and soma RMSE, with the paper's
    Table S5 row where it has one ("–" otherwise). Returns header and rows."""
    s5 = {size_value(p.size): p for p in paper_points("Branch-ELM")}
    header = ["d_m", "params: release", "params: Table S5", "test AUC: release",
              "AUC: Table S5", "TP @ 1% FP: release", "test RMSE (mV): release",
              "RMSE: Table S5", "run (authors')"]
    body = []
    for r in released_data.eval_results(pretrained_dir, "test"):
        p = s5.get(int(r["d_m"]))
        body.append([r["d_m"], f"{r['params']:,}", f"{p.params:,.0f}" if p else "–",
                     f"{r['auc']:.4f}", plots.mean_std(p.auc, p.auc_std, 4) if p else "–",
                     f"{r['tp_at_fp_0.01']:.3f}", f"{r['soma_rmse']:.3f}",
                     plots.mean_std(p.rmse, p.rmse_std) if p else "–", r["name"]])
    return header, body


def _table_s4() -> list[dict[str, Any]]:
    """Table S4's rows. Read here rather than with :func:`elmbook.reference.load`: the model name
    "simplest ELM (1 memory unit, linear integration)" holds an unquoted comma in the CSV, so
    the numbers are taken as the last three fields of each line."""
    text = (resources.files("elmbook") / "reference_data"
            / "table_s4_tiny_models_neuronio.csv").read_text()
    header, *lines = [line for line in text.splitlines() if line.strip()]
    names = header.split(",")
    if names != ["model", "soma_rmse", "spike_auc", "trainable_params"]:
        raise ValueError(f"Table S4 has unexpected columns {names}")
    rows = []
    for line in lines:
        model, rmse, auc, params = line.rsplit(",", 3)
        rows.append({"model": model.strip('"'), "soma_rmse": float(rmse),
                     "spike_auc": float(auc), "trainable_params": float(params)})
    return rows


def flops_seq_len_fit(family: str, experiment: str,
                      size_key: str | None = "d_m") -> list[dict[str, float]]:
    """Per row of a paper table: our FLOPs per step and the sequence length that would make our
    count equal the printed FLOPs (``paper FLOPs / ours per step``).

    ``experiment`` is the configuration to count (e.g. ``neuronio/elm/paper``, with the row's
    ``d_m`` as an override; LSTM rows use ``neuronio/lstm-<hidden>/paper`` and no override).
    """
    rows = []
    for point in paper_points(family):
        size = int(point.size.split("=")[1])
        if family == "LSTM":
            exp = configs.get(f"neuronio/lstm-{size}/paper")
        else:
            exp = configs.override(configs.get(experiment), {size_key: size})
        per_step = count_flops(exp.abstract_model(), 1)
        rows.append({"size": size, "paper_flops": point.flops, "ours_per_step": per_step,
                     "seq_len": point.flops / per_step,
                     "relative_error_at_500": per_step * FLOPS_SEQ_LEN / point.flops - 1.0})
    return rows


# --------------------------------------------------------------------------------------------
# results: one row per (experiment, overrides), mean and std over seeds


def _in_row(record: RunRecord, row: Mapping[str, Any]) -> bool:
    """Whether a record is one of the seeds of a :func:`summary_rows` row (same experiment,
    overrides and scale)."""
    return (record.experiment == row["experiment"] and record.scale == row["scale"]
            and dict(record.overrides) == (row["overrides"] or {}))


def summary_rows(records: Iterable[RunRecord],
                 seq_len: int = FLOPS_SEQ_LEN) -> list[dict[str, Any]]:
    """Our points for Fig 2 / Fig S1 and the tables: per (experiment, overrides), the family,
    size, parameter count, FLOPs and the metrics' mean / std over seeds (complete runs only;
    ``diverged`` and ``failed`` counts kept, as the paper reports divergent runs).

    ``collapsed`` lists the seeds of complete runs that learnt nothing
    (:attr:`~elm.experiments.records.RunRecord.collapse`: spike AUC at chance, or a loss that
    never fell) and ``collapse`` their reasons by seed; they stay in the means, named, so a page
    says which seed pulls a mean down rather than averaging it in silently."""
    records = list(records)
    rows = summarise([r.raw for r in records], by=["experiment", "overrides", "scale"],
                     metrics=["metrics.auc", "metrics.soma_rmse_mv"])
    out = []
    for row in rows:
        exp = configs.override(configs.get(row["experiment"], row["scale"]),
                               row["overrides"] or {})
        params, flops = model_cost(exp, seq_len)
        group = [r for r in records if _in_row(r, row)]
        done = [r for r in group if r.complete]
        # summarise names a metric by its last dotted part, which would cut "tp_at_fp_0.0025"
        for metric in TP_METRICS:
            values = np.asarray([r.metric(metric) for r in done])
            row[f"{metric}_mean"] = float(values.mean()) if values.size else float("nan")
            row[f"{metric}_std"] = float(values.std()) if values.size else float("nan")
        collapse = {r.seed: r.collapse for r in done if r.collapse}
        out.append({**row, "family": family_of(row["experiment"]), "size": size_label(exp),
                    "params": params, "flops": flops,
                    "steps": sorted({int(r.steps_done or 0) for r in group}),
                    "collapsed": sorted(collapse), "collapse": collapse,
                    "wall_time_s": float(np.mean([r.wall_time_s or np.nan for r in group]))})
    return out


def runs_table(rows: Sequence[Mapping[str, Any]]) -> plots.Table:
    """Every row of :func:`summary_rows` with its test metrics (mean ± std over seeds where there
    are several), divergences, collapsed seeds and wall time: the table of a set of runs."""
    def spread(row: Mapping[str, Any], key: str, digits: int = 3) -> str:
        return plots.mean_std(row[f"{key}_mean"], row[f"{key}_std"] if row["n"] > 1 else None,
                              digits)

    return plots.Table(
        ["family", "size", "params", "seeds", "steps", "spike AUC", "TP @ FP 0.0025",
         "TP @ FP 0.01", "soma RMSE (mV)", "diverged", "collapsed (in the mean)",
         "wall time per run (s)"],
        [[r["family"], r["size"], f"{r['params']:,}", r["n"], "/".join(map(str, r["steps"])),
          spread(r, "auc", 4), plots.mean_std(r["tp_at_fp_0.0025_mean"], None),
          plots.mean_std(r["tp_at_fp_0.01_mean"], None), spread(r, "soma_rmse_mv"),
          r["diverged"], f"seed {', '.join(map(str, r['collapsed']))}" if r["collapsed"] else "-",
          f"{r['wall_time_s']:.0f}"] for r in rows])


def model_label(family: str, size: str) -> str:
    """A model as a page names it: ``"ELM d_m=20"``, or the family alone for the families
    drawn at one size (``size_label`` "-"): ``"LIF"``."""
    return family if size == "-" else f"{family} {size}"


def collapse_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per collapsed run of :func:`summary_rows`' rows: family, size, seed and why
    (``"Branch-ELM d_m=20, seed 1: spike AUC 0.450 (chance 0.5)"``; no size for the families
    drawn at one size, ``"LIF, seed 0: ..."``), in the rows' order."""
    return [f"{model_label(r['family'], r['size'])}, seed {seed}: {why}"
            for r in rows for seed, why in sorted(r["collapse"].items())]


def provenance(records: Iterable[RunRecord]) -> dict[str, Any]:
    """What a set of records shares, for captions: scales, data descriptions, whether any used
    the stand-in, seeds, steps per run and the hardware they ran on."""
    records = list(records)
    return {"n_runs": len(records),
            "scales": sorted({r.scale for r in records}),
            "data": sorted({r.data_label for r in records}),
            "stand_in": any(r.on_stand_in for r in records),
            "seeds": sorted({r.seed for r in records}),
            "steps": sorted({int(r.steps_done or 0) for r in records}),
            "hardware": sorted({r.hardware.get("device_kind", "?") for r in records})}


def caption(prov: Mapping[str, Any]) -> str:
    """A one-line caption: scale, data, seeds, steps (from :func:`provenance`)."""
    data = "; ".join(prov["data"])
    if prov["stand_in"]:
        data = f"STAND-IN data, not NeuronIO ({data})"
    steps = "/".join(str(s) for s in prov["steps"]) or "?"
    return (f"scale {'/'.join(prov['scales'])}; {data}; seeds {prov['seeds']}; "
            f"{steps} training steps per run")


def _and(items: Sequence[object]) -> str:
    """``[0, 1, 2]`` -> ``"0, 1 and 2"``."""
    words = [str(i) for i in items]
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def runs_text(prov: Mapping[str, Any], who: str = "Ours") -> str:
    """Sentences for a figure's caption (:func:`elmbook.plots.show_figure`) on the runs behind
    it (from :func:`provenance`): how many, scale, seeds, training steps, hardware, and the data,
    with the stand-in named as such."""
    n, seeds = prov["n_runs"], prov["seeds"]
    steps = "/".join(f"{s:,}" for s in prov["steps"]) or "an unrecorded number of"
    data = "; ".join(prov["data"])
    data = (f"Data: the STAND-IN, not NeuronIO ({data}), so these numbers are not comparable "
            f"with the paper's." if prov["stand_in"] else f"Data: {data}.")
    return (f"{who}: {n} run{'s' * (n != 1)} at scale {'/'.join(prov['scales'])}, "
            f"seed{'s' * (len(seeds) != 1)} {_and(seeds)}, {steps} training steps per run, on "
            f"{_and(prov['hardware'])}. {data}")


def best_row(rows: Sequence[Mapping[str, Any]], family: str,
             metric: str = "auc") -> Mapping[str, Any] | None:
    """The row of ``family`` with the highest mean ``metric`` (``"auc"``; lowest for
    ``"soma_rmse_mv"``) among rows with a complete run, or None."""
    done = [r for r in rows if r["family"] == family and r["n"] > 0
            and np.isfinite(r[f"{metric}_mean"])]
    if not done:
        return None
    sign = -1.0 if metric == "soma_rmse_mv" else 1.0
    return max(done, key=lambda r: sign * r[f"{metric}_mean"])


def nearest_row(rows: Sequence[Mapping[str, Any]], family: str,
                params: float) -> Mapping[str, Any] | None:
    """The row of ``family`` (with a complete run) whose parameter count is nearest
    ``params`` on a log scale, or None."""
    done = [r for r in rows if r["family"] == family and r["n"] > 0]
    if not done:
        return None
    return min(done, key=lambda r: abs(np.log(r["params"] / params)))


def best_record(records: Sequence[RunRecord], rows: Sequence[Mapping[str, Any]], family: str,
                size: str | None = None) -> tuple[RunRecord | None, Mapping[str, Any] | None]:
    """A family's run to show: the row of ``size`` if it was trained, else the family's best
    row by AUC; and of that row's seeds, the record with the highest AUC. (None, None) when the
    family has no complete run."""
    row = next((r for r in rows if r["family"] == family and r["size"] == size and r["n"] > 0),
               None) if size else None
    row = row or best_row(rows, family)
    if row is None:
        return None, None
    candidates = [r for r in records if r.complete and _in_row(r, row)]
    return max(candidates, key=lambda r: r.metric("auc")), row


def experiment_for(family: str, size: int | None = None) -> configs.Experiment:
    """Our configuration of a family at a paper size (``d_m`` or LSTM hidden size), at paper
    scale: ``("ELM", 20)`` -> ``neuronio/elm/paper`` with ``d_m=20``."""
    if family == "ELM":
        return configs.override(configs.get("neuronio/elm/paper"), {"d_m": size})
    if family == "Branch-ELM":
        return configs.override(configs.get("neuronio/branch-elm/paper"), {"d_m": size})
    if family == "LSTM":
        return configs.get(f"neuronio/lstm-{size}/paper")
    if family == "LIF":
        return configs.get("neuronio/lif/paper")
    if family == "simplest ELM":
        return configs.get("neuronio/simplest-elm/paper")
    raise ValueError(f"no paper configuration for family {family!r}")


def paper_table(family: str, rows: Sequence[Mapping[str, Any]],
                seq_len: int = FLOPS_SEQ_LEN) -> tuple[list[str], list[list[Any]]]:
    """Tables S5 / S6 / S7 (``family`` Branch-ELM / ELM / LSTM) with ours beside the paper's:
    per published size, parameters and FLOPs (ours counted for our configuration at that size,
    whether or not it was trained), voltage RMSE and spike AUC (paper mean ± std; ours mean ±
    std over seeds where the size was trained, "not run" otherwise). Returns header and rows."""
    header = ["size", "params: paper", "params: ours", "FLOPs: paper", f"FLOPs: ours ({seq_len})",
              "RMSE: paper", "RMSE: ours", "AUC: paper", "AUC: ours", "seeds (ours)"]
    body = []
    for point in paper_points(family):
        params, flops = model_cost(experiment_for(family, size_value(point.size)), seq_len)
        ours = [r for r in rows if r["family"] == family and r["size"] == point.size
                and r["n"] > 0]
        if ours:
            r = ours[0]
            seeds = r["n"]
            rmse = plots.mean_std(r["soma_rmse_mv_mean"], r["soma_rmse_mv_std"], n=seeds)
            auc = plots.mean_std(r["auc_mean"], r["auc_std"], 4, n=seeds)
        else:
            seeds, rmse, auc = 0, "not run", "not run"
        body.append([point.size, f"{point.params:,.0f}", f"{params:,}",
                     f"{point.flops / 1e6:.2f}M", f"{flops / 1e6:.2f}M",
                     plots.mean_std(point.rmse, point.rmse_std), rmse,
                     plots.mean_std(point.auc, point.auc_std, 4), auc, seeds])
    return header, body


# --------------------------------------------------------------------------------------------
# restoring a trained model from its run's checkpoint


def _run_folder(source: RunRecord | str | Path, store_root: str | Path | None) -> Path:
    if isinstance(source, RunRecord):
        if store_root is None:
            from elm.experiments.results import default_root

            store_root = default_root()
        return Path(store_root) / "runs" / source.run_id
    return Path(source)


def _experiment_for(source: RunRecord | str | Path, folder: Path,
                    experiment: configs.Experiment | str | None) -> configs.Experiment:
    if isinstance(experiment, configs.Experiment):
        return experiment
    if isinstance(source, RunRecord):
        if experiment is not None and experiment != source.experiment:
            raise ValueError(f"the record ran {source.experiment!r}, not {experiment!r}")
        return experiment_of(source)
    params = folder / "parameters.yaml"  # written by the sweep for every run
    saved = yaml.safe_load(params.read_text()) if params.is_file() else {}
    name = experiment or saved.get("experiment")
    if name is None:
        raise ValueError(f"{folder}: pass the experiment (no record and no parameters.yaml)")
    if saved and saved.get("experiment") not in (None, name):
        raise ValueError(f"{folder} ran {saved['experiment']!r}, not {name!r}")
    return configs.override(configs.get(name, saved.get("scale", "paper")),
                            saved.get("overrides") or {})


def load_trained(source: RunRecord | str | Path,
                 experiment: configs.Experiment | str | None = None, *,
                 store_root: str | Path | None = None, step: int | None = None) -> nnx.Module:
    """The model a run trained, restored from its final orbax checkpoint.

    ``source`` is the run's record (its folder is ``<store_root>/runs/<run_id>``, ``store_root``
    defaulting to :func:`elm.experiments.results.default_root`) or the run's folder itself.
    ``experiment`` (a name or an :class:`elm.experiments.configs.Experiment`) says which model to
    build; from a record it is read from the record, from a folder from the ``parameters.yaml`` a
    sweep writes there. ``step`` picks a checkpoint (default: the latest, which is the final one of
    a finished run).

    The checkpoint is the training state that :func:`elm.experiments.training.run_loop` saves,
    read back by :func:`elm.experiments.training.load_checkpoint`.
    """
    folder = _run_folder(source, store_root)
    exp = _experiment_for(source, folder, experiment)
    model = exp.build(nnx.Rngs(0))
    step = load_checkpoint(model, exp.train, folder / "checkpoints", step)
    if isinstance(source, RunRecord) and source.steps_done not in (None, step):
        raise ValueError(f"checkpoint step {step} is not the record's final step "
                         f"{source.steps_done}")
    return model


# --------------------------------------------------------------------------------------------
# the protocol's predictions, for Fig 4b and the ROC of Fig 4c


@dataclass
class Predictions:
    """Stitched whole-simulation predictions over evaluation files (the protocol of
    :mod:`elm.experiments.neuronio_eval`): spikes, spike probability, true and predicted soma (mV
    re bias), shapes ``(n_sim, T)``; ``keep`` marks the simulations the protocol evaluates."""

    spikes: np.ndarray
    spike_prob: np.ndarray
    soma_true: np.ndarray
    soma_pred: np.ndarray
    keep: np.ndarray

    def evaluated(self) -> tuple[np.ndarray, np.ndarray]:
        """Spike labels and probabilities exactly as the protocol scores them (simulations with
        more than 24 spikes dropped, the first 500 ms ignored), flattened."""
        y = self.spikes[self.keep, IGNORE_START_MS:].ravel()
        p = self.spike_prob[self.keep, IGNORE_START_MS:].ravel()
        return y, p

    def roc(self) -> tuple[np.ndarray, np.ndarray]:
        """(false-positive rate, true-positive rate) of the spike prediction."""
        y, p = self.evaluated()
        fpr, tpr, _ = roc_curve(y, p)
        return fpr, tpr


def predict_files(model: nnx.Module, files: Sequence[str | Path],
                  batch_size: int | None = None) -> Predictions:
    """The protocol's stitched predictions of ``model`` on NeuronIO ``files`` (raw outputs:
    channel 0 spike logit, channel 1 soma in training scale; soma re-standardised per file as
    :func:`elm.experiments.neuronio_eval.evaluate_neuronio` does by default)."""
    from elm.experiments.tasks import predictor

    predict = predictor(model)
    parts = []
    for path in files:
        packed, spikes, soma = neuronio.load_decoded(path)
        prob, pred, true = neuronio_predictions(predict, packed[:], soma, batch_size=batch_size)
        parts.append((spikes.astype(np.int64), prob, true, pred))
    spikes, prob, true, pred = (np.concatenate(a) for a in zip(*parts, strict=True))
    keep = spikes.sum(axis=1) <= MAX_SPIKES_PER_SIM
    return Predictions(spikes, prob, true, pred, keep)


def eval_files(record: RunRecord, data_dir: str | Path | None = None) -> list[Path]:
    """The test files a record's evaluation used (its ``eval_files`` first files of the split
    of its data folder)."""
    folder = record.data.get("dir") or neuronio.resolve_data_dir(data_dir).folder
    split = neuronio.discover(folder)
    n = int(record.metrics.get("eval_files") or len(split.test))
    return split.test[:n]


def busiest_window(spikes: np.ndarray, length: int = 2000,
                   skip: int = IGNORE_START_MS) -> tuple[int, int]:
    """``(start, stop)`` of the ``length``-step window of a spike train ``(T,)`` with the most
    spikes, starting at ``skip`` or later (the first earliest among ties); the whole train if it
    is shorter than ``skip + length``."""
    spikes = np.asarray(spikes).astype(np.int64)
    if spikes.shape[0] < skip + length:
        return 0, spikes.shape[0]
    counts = np.convolve(spikes[skip:], np.ones(length, np.int64), mode="valid")
    start = skip + int(np.argmax(counts))
    return start, start + length


def busiest_simulation(spikes: np.ndarray, keep: np.ndarray | None = None) -> int:
    """Index of the simulation ``(n_sim, T)`` with the most output spikes among those the
    protocol evaluates (at most 24 spikes, or ``keep``)."""
    counts = np.asarray(spikes).sum(axis=1).astype(np.int64)  # the reader's spikes are uint8
    keep = counts <= MAX_SPIKES_PER_SIM if keep is None else np.asarray(keep, bool)
    if not keep.any():
        raise ValueError("no simulation is kept by the protocol")
    return int(np.argmax(np.where(keep, counts, -1)))


def tp_at(fpr: np.ndarray, tpr: np.ndarray, fp_rate: float) -> float:
    """TPR interpolated at ``fp_rate`` (for reading a ROC curve; the protocol's own
    ``tp_at_fp`` picks the nearest ROC point instead)."""
    return float(np.interp(fp_rate, fpr, tpr))


# --------------------------------------------------------------------------------------------
# figures


def _x_of(row: Mapping[str, Any] | PaperPoint, axis: str) -> float | None:
    if isinstance(row, PaperPoint):
        return row.params if axis == "params" else row.flops
    return float(row[axis])


def wrap(text: str, width: int = 150) -> str:
    """A long figure title broken into lines (a one-line suptitle would widen the figure)."""
    return "\n".join(textwrap.wrap(text, width)) if text else text


def _title(fig: Figure, text: str) -> None:
    if text:
        fig.suptitle(wrap(text), x=0.01, ha="left")


#: Where the third layer of Fig 2 comes from, for its caption.
RELEASED_SOURCE = ("eval_results.csv of AaronSpieler/elmneuron, commit 52e68a6, in "
                   "data/elmneuron-pretrained/; test split; one model per d_m")


def scaling_caption(prov: Mapping[str, Any], axis: str = "params", *, paper_steps: int,
                    released: bool = False) -> str:
    """The caption of :func:`plot_scaling`'s figure: the axes, our runs (:func:`runs_text`),
    the paper's tables in grey (real NeuronIO, 3 seeds, ``paper_steps`` steps) and, with
    ``released``, the authors' evaluation of their released models."""
    if axis not in ("params", "flops"):
        raise ValueError(f"axis must be 'params' or 'flops', got {axis!r}")
    v, s = ("b", "c") if axis == "params" else ("a", "b")
    x = ("trainable parameters (elm.count_params of each run's model)" if axis == "params" else
         f"forward FLOPs for one sample of {FLOPS_SEQ_LEN} steps (elm.count_flops)")
    grey = ("Tables S4–S7" if axis == "params" else
            "Tables S5–S7 (Table S4 gives no FLOPs, so the tiny models have no grey points)")
    text = (f"Voltage prediction ({v}, soma RMSE, lower is better) and spike prediction ({s}, "
            f"spike AUC, higher is better) against {x}, log axis. In colour, each point is the "
            "mean of our runs of one size over their seeds, with the seed std as error bar where "
            "there are several. "
            f"{runs_text(prov)} In grey, the paper: {grey}, on the real NeuronIO, 3 seeds, "
            f"{paper_steps:,} training steps per run.")
    if released:
        text += f" Black crosses: the {RELEASED_LABEL} ({RELEASED_SOURCE})."
    return (text + f" Dotted line: the {reference.AUC_THRESHOLD} AUC threshold of Beniaguev "
            "et al. (2021).")


def sample_caption(file_name: str, sim: int, start: int, stop: int, data: str) -> str:
    """The caption of :func:`plot_sample`'s figure: which simulation and window, which data."""
    return (f"Test simulation {sim} of {file_name}, {start}–{stop} ms: the simulation with the "
            f"most output spikes among those the protocol evaluates (at most "
            f"{MAX_SPIKES_PER_SIM} output spikes), and its window with the most spikes after the "
            f"first {IGNORE_START_MS} ms. Data: {data}. No model and no training: the same at "
            "every scale.")


def plot_scaling(rows: Sequence[Mapping[str, Any]], axis: str = "params", *,
                 families: Sequence[str] = FAMILIES, title: str = "",
                 paper: bool = True, released: Sequence[PaperPoint] = ()) -> Figure:
    """Fig 2b,c (``axis="params"``) or Fig S1 (``axis="flops"``): voltage RMSE and spike AUC of
    every family against trainable parameters or FLOPs (log x), ours in colour (mean, with
    the seed std as error bar when there are several seeds), the paper's Tables S4–S7 in grey,
    and the 0.991 AUC threshold. ``released`` (:func:`released_points`) adds a third layer,
    labelled :data:`RELEASED_LABEL`: the authors' evaluation of their released models (points
    without FLOPs are left out on the FLOPs axis)."""
    if axis not in ("params", "flops"):
        raise ValueError(f"axis must be 'params' or 'flops', got {axis!r}")
    fig, (ax_v, ax_s) = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for family in families:
        color, marker = FAMILY_STYLE[family]
        ours = sorted((r for r in rows if r["family"] == family and r["n"] > 0),
                      key=lambda r: r[axis])
        if ours:
            x = [_x_of(r, axis) for r in ours]
            for ax, key in ((ax_v, "soma_rmse_mv"), (ax_s, "auc")):
                y = [r[f"{key}_mean"] for r in ours]
                err = [r[f"{key}_std"] if r["n"] > 1 else 0.0 for r in ours]
                ax.errorbar(x, y, yerr=err, color=color, marker=marker, ms=4, lw=1,
                            capsize=2, label=f"{family} (ours)")
        points = [p for p in paper_points(family) if _x_of(p, axis) is not None] if paper else []
        if points:
            x = [_x_of(p, axis) for p in points]
            for ax, attr in ((ax_v, "rmse"), (ax_s, "auc")):
                y = [getattr(p, attr) for p in points]
                err = [getattr(p, f"{attr}_std") or 0.0 for p in points]
                ax.errorbar(x, y, yerr=err, color=plots.PAPER_COLOR, marker=marker, ms=4,
                            lw=0.8, ls="--" if len(points) > 1 else "none", capsize=2,
                            mfc="white", label=f"{family} (paper)")
    shown = sorted((p for p in released if _x_of(p, axis) is not None),
                   key=lambda p: _x_of(p, axis) or 0.0)
    if shown:
        color, marker = RELEASED_STYLE
        x = [_x_of(p, axis) for p in shown]
        for ax, attr in ((ax_v, "rmse"), (ax_s, "auc")):
            ax.plot(x, [getattr(p, attr) for p in shown], color=color, marker=marker, ms=5,
                    lw=0.6, ls=":", label=RELEASED_LEGEND)
    ax_s.axhline(reference.AUC_THRESHOLD, color="black", lw=0.6, ls=":",
                 label=f"{reference.AUC_THRESHOLD} AUC (Beniaguev et al.)")
    xlabel = ("trainable parameters" if axis == "params"
              else f"FLOPs per sample ({FLOPS_SEQ_LEN} steps)")
    for ax in (ax_v, ax_s):
        ax.set_xscale("log")
        ax.set_xlabel(xlabel + " (log)")
    ax_v.set_ylabel("soma RMSE (mV, re-standardised)")
    ax_s.set_ylabel("spike ROC AUC")
    ax_v.set_title("b) voltage prediction (lower is better)" if axis == "params"
                   else "a) voltage prediction (lower is better)")
    ax_s.set_title("c) spike prediction (higher is better)" if axis == "params"
                   else "b) spike prediction (higher is better)")
    handles, labels = ax_s.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=7)
    _title(fig, title)
    return fig


def plot_sample(X: np.ndarray, spikes: np.ndarray, soma: np.ndarray, *, start: int = 0,
                stop: int | None = None, title: str = "") -> Figure:
    """Fig 2a: one simulation's synaptic input raster (excitatory red, inhibitory blue), its
    somatic voltage and output spikes. ``X`` (T, 1278) binary, excitatory channels first;
    ``soma`` in mV; ``spikes`` (T,) binary."""
    stop = X.shape[0] if stop is None else stop
    t = np.arange(start, stop)
    half = X.shape[1] // 2
    fig, (ax_in, ax_v) = plt.subplots(2, 1, sharex=True, figsize=(8.0, 4.2),
                                      gridspec_kw={"height_ratios": [2.2, 1.0]})
    for rows, color, name in ((slice(0, half), plots.EXCITATORY, "excitatory"),
                              (slice(half, None), plots.INHIBITORY, "inhibitory")):
        t_idx, ch = np.nonzero(X[start:stop, rows])
        # squares of plots.SPIKE_PX pixels at the page's resolution: smaller ones vanish there
        plots.spike_raster(ax_in, t[t_idx], ch + (rows.start or 0), color=color,
                           label=f"{name} ({half} channels)")
    ax_in.set_ylim(-0.5, X.shape[1] - 0.5)
    ax_in.set_ylabel("input channel")
    ax_in.set_title(f"a) synaptic input: {int(X[start:stop].sum())} input spikes in "
                    f"{stop - start} ms")
    plots.spike_legend(ax_in)
    ax_v.plot(t, soma[start:stop], color="black", lw=0.8, label="somatic voltage")
    ax_v.axhline(neuronio.SOMA_THRESHOLD_MV, color=plots.PAPER_COLOR, lw=0.6, ls=":",
                 label=f"clip for the voltage target ({neuronio.SOMA_THRESHOLD_MV:g} mV)")
    spike_t = t[np.flatnonzero(spikes[start:stop])]
    ax_v.plot(spike_t, np.full(spike_t.shape, float(np.max(soma[start:stop])) + 3.0), "v",
              color=plots.PALETTE[5], ms=4, label=f"output spikes ({spike_t.size})")
    ax_v.set_ylabel("soma (mV)")
    ax_v.set_xlabel("time (ms)")
    ax_v.set_title("output: somatic voltage and spikes")
    ax_v.legend(loc="upper right", ncols=3, fontsize=7)
    _title(fig, title)
    return fig


def _routing(c) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's routing of ``c``: each slot's input channel, which slots are valid, and on
    how many synapses each input channel sits."""
    index, mask = make_routing(c.routing, c.num_input, c.branches, c.d_brch,
                               np.random.default_rng(c.routing_seed))
    ok = mask.astype(bool)
    return index, ok, np.bincount(index[ok], minlength=c.num_input)


def branch_elm_caption(config, experiment: str) -> str:
    """The caption of :func:`plot_branch_elm`'s figure: which configuration, and the routing's
    counts (valid slots, synapses per input channel)."""
    c = config
    _, ok, per_channel = _routing(c)
    return (f"The Branch-ELM of {experiment}, drawn from the routing the model uses "
            f"(elm.routing.make_routing) and the sizes of its ELMConfig: {c.branches} branches × "
            f"{c.d_brch} synapses = {c.num_synapse} slots, {int(ok.sum())} of them valid; "
            f"every input channel is on {per_channel.min()} to {per_channel.max()} synapses. No "
            "data and no training: the same at every scale.")


def plot_branch_elm(config, *, title: str = "") -> Figure:
    """Fig 4a, drawn from the routing the model uses (:func:`elm.routing.make_routing`):
    left, which input channel feeds each synapse slot of each branch (excitatory red,
    inhibitory blue; masked slots left out); right, the Branch-ELM's path from inputs to
    outputs with the sizes of ``config``."""
    c = config
    index, ok, _ = _routing(c)
    half = c.num_input // 2
    slot_branch = np.repeat(np.arange(c.branches), c.d_brch)
    fig, (ax_r, ax_d) = plt.subplots(1, 2, figsize=(8.0, 3.6),
                                     gridspec_kw={"width_ratios": [1.0, 1.25]})
    for sel, color, name in ((index < half, plots.EXCITATORY, "excitatory channel"),
                             (index >= half, plots.INHIBITORY, "inhibitory channel")):
        keep = ok & sel
        ax_r.scatter(index[keep], slot_branch[keep], s=0.6, color=color, marker="s",
                     linewidths=0, rasterized=True, label=name)
    ax_r.set_xlim(-5, c.num_input + 5)
    ax_r.set_ylim(c.branches - 0.5, -0.5)
    ax_r.set_xlabel("input channel (0–638 excitatory, 639–1277 inhibitory)")
    ax_r.set_ylabel("branch")
    ax_r.set_title(f"a) routing '{c.routing}': {c.branches} branches × {c.d_brch} synapses",
                   loc="left")
    ax_r.legend(loc="lower left", markerscale=8, ncols=1, fontsize=7, frameon=True,
                framealpha=0.9, edgecolor="none")
    # block diagram of the forward path, with the config's sizes
    n_w = 2 * (c.branches + c.d_m) * c.hidden
    boxes = [
        (f"{c.num_input} inputs\n(+1 exc, −1 inh)", "0.92"),
        (f"{c.num_synapse} synapses\n$s_t$: $w_s$, $\\tau_s$={c.tau_s:g} ms", "#fde0dd"),
        (f"{c.branches} branch sums\n(linear)", "#e0ecf4"),
        (f"MLP $w_p$: [{c.branches}+{c.d_m}] → {c.hidden}\n→ {c.d_m}, scaled tanh", "#fff7bc"),
        (f"{c.d_m} memory units $m_t$\n$\\tau_m$ {c.tau_m_init[0]:g}–{c.tau_m_init[1]:g} ms, "
         f"λ={c.lambda_value:g}", "#e5f5e0"),
        (f"$w_y$: {c.d_m} → {c.num_output}\n(spike logit, soma)", "0.92"),
    ]
    ax_d.set_xlim(0, 1)
    ax_d.set_ylim(0, len(boxes))
    ax_d.axis("off")
    for i, (text, face) in enumerate(boxes):
        y = len(boxes) - i - 0.5
        ax_d.text(0.5, y, text, ha="center", va="center", fontsize=7.5,
                  bbox={"boxstyle": "round,pad=0.35", "fc": face, "ec": "0.4", "lw": 0.6})
        if i < len(boxes) - 1:
            ax_d.annotate("", xy=(0.5, y - 0.62), xytext=(0.5, y - 0.38),
                          arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8})
    y_mlp, y_mem = len(boxes) - 3.5, len(boxes) - 4.5
    ax_d.annotate("", xy=(0.72, y_mlp), xytext=(0.72, y_mem),
                  arrowprops={"arrowstyle": "->", "color": "0.3", "lw": 0.8,
                              "connectionstyle": "arc3,rad=0.6"})
    ax_d.text(0.8, (y_mlp + y_mem) / 2, "$\\kappa_m \\odot m_{t-1}$\n(recurrence)", fontsize=7,
              va="center")
    ax_d.set_title(f"b) forward path (first MLP layer: {n_w // 2} weights)", loc="left")
    _title(fig, title)
    return fig


def plot_prediction(pred: Predictions, sim: int, *, start: int = 0, stop: int | None = None,
                    label: str = "Branch-ELM", title: str = "") -> Figure:
    """Fig 4b: one test simulation's soma and spike probability, prediction against truth."""
    stop = pred.spikes.shape[1] if stop is None else stop
    t = np.arange(start, stop)
    fig, (ax_v, ax_p) = plt.subplots(2, 1, sharex=True, figsize=(8.0, 3.6),
                                     gridspec_kw={"height_ratios": [1.6, 1.0]})
    ax_v.plot(t, pred.soma_true[sim, start:stop], color="black", lw=0.9, label="target")
    ax_v.plot(t, pred.soma_pred[sim, start:stop], color=plots.PALETTE[0], lw=0.9,
              label=f"{label} prediction")
    ax_v.set_ylabel("soma (mV re −67.7)")
    ax_v.legend(loc="upper right", ncols=2)
    ax_v.set_title("somatic voltage (clipped at −55 mV)")
    ax_p.plot(t, pred.spike_prob[sim, start:stop], color=plots.PALETTE[0], lw=0.9,
              label="predicted spike probability")
    spike_t = t[np.flatnonzero(pred.spikes[sim, start:stop])]
    ax_p.vlines(spike_t, 0, 1, color="black", lw=0.8, label=f"output spikes ({spike_t.size})")
    ax_p.set_ylim(0, 1.05)
    ax_p.set_ylabel("P(spike)")
    ax_p.set_xlabel("time (ms)")
    ax_p.legend(loc="upper right", ncols=2)
    _title(fig, title)
    return fig


def prediction_caption(record: RunRecord, sim: int, start: int, stop: int,
                       label: str = "Branch-ELM") -> str:
    """The caption of :func:`plot_prediction`'s figure for the model of ``record``."""
    return (f"The restored {label} ({record.params:,} trainable parameters; run "
            f"{record.run_id}, final checkpoint at step {record.steps_done or 0:,}) on test "
            f"simulation {sim}, {start}–{stop} ms, against the targets (black). Its voltage "
            "prediction is re-standardised as the protocol does; the target voltage is clipped "
            "at −55 mV. "
            f"{runs_text(provenance([record]), 'The model')}")


def dynamics_caption(record: RunRecord, size: str, sim: int, start: int, stop: int) -> str:
    """The caption of Fig S7 (:func:`elmbook.plots.plot_dynamics`) for the model of
    ``record``, run over a test simulation from 0 ms and drawn from ``start`` to ``stop``."""
    return (f"The trained Branch-ELM {size} ({record.params:,} trainable parameters) on test "
            f"simulation {sim}: 0–{stop} ms inferred in one go, {start}–{stop} ms drawn (the "
            "time axis reads ms of the simulation). Black: the targets (voltage clipped at "
            "−55 mV). Panel d: the memory units from fast (bottom) to slow (top) by their "
            "trained timescale, each scaled to its own range (written at the right). "
            f"{runs_text(provenance([record]), 'The model')}")


def spike_reading(pred: Predictions, sim: int, start: int, stop: int, steps: int) -> str:
    """One sentence on what the Fig 4b window shows about the spike output, from the numbers.

    Why: a model early in training can rank spike steps above the rest (a good AUC) while its
    probability stays far below 0.5 at every target spike, so the curve looks like a miss. The
    page says which of the two it is, with the window's own numbers, instead of leaving a flat
    line unexplained.
    """
    spikes = pred.spikes[sim, start:stop].astype(bool)
    prob = pred.spike_prob[sim, start:stop]
    if not spikes.any():
        return (f"No output spike in this window; the largest predicted probability is "
                f"{prob.max():.2f}.")
    # the value the readout gives a spike: the highest probability within 2 ms of it
    near = np.array([prob[max(0, i - 2):i + 3].max() for i in np.flatnonzero(spikes)])
    rank = float(np.mean(prob[~spikes, None] < near[None, :])) if (~spikes).any() else 1.0
    hits = int(np.sum(near >= 0.5))
    sentence = (f"At the {spikes.sum()} target spikes of this window the predicted probability "
                f"(highest within ±2 ms) has median {np.median(near):.2f} and maximum "
                f"{near.max():.2f}; {hits} reach 0.5. Away from the spikes the median is "
                f"{np.median(prob[~spikes]):.3f}, and a spike's value exceeds "
                f"{100 * rank:.0f} % of those steps.")
    if hits < spikes.sum() / 2 and rank > 0.9:
        sentence += (f" So after {steps:,} training steps the readout ranks spike times above "
                     "the rest (which the AUC measures) but does not yet commit to a spike: its "
                     "probabilities stay low (the paper's model trains for 342,000 steps).")
    return sentence


def roc_caption(prov: Mapping[str, Any], fp_marks: Sequence[float] = (0.0025, 0.01)) -> str:
    """The caption of :func:`plot_roc`'s figure, ``prov`` the :func:`provenance` of the runs
    drawn."""
    return ("ROC curves of the spike prediction (a) and their low false-positive end on a log "
            f"axis (b; dots: the TP rate at FP {_and([f'{f:g}' for f in fp_marks])}), for the "
            "best run of each trained family, every model restored from its final checkpoint "
            "and scored on the same test files with the protocol's stitched predictions. "
            f"{runs_text(prov)}")


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
             colors: Mapping[str, str] | None = None, *,
             fp_marks: Sequence[float] = (0.0025, 0.01), title: str = "") -> Figure:
    """Fig 4c: ROC curves (false-positive rate on a log axis, where the models differ) with the
    TP rates at the protocol's low FP rates marked."""
    fig, (ax_full, ax_low) = plt.subplots(1, 2, figsize=(8.0, 3.2))
    for i, (name, (fpr, tpr)) in enumerate(curves.items()):
        color = (colors or {}).get(name, plots.PALETTE[i % len(plots.PALETTE)])
        ax_full.plot(fpr, tpr, color=color, label=name)
        ax_low.plot(fpr, tpr, color=color)
        for fp in fp_marks:
            ax_low.plot([fp], [tp_at(fpr, tpr, fp)], "o", color=color, ms=3)
    ax_full.plot([0, 1], [0, 1], color="0.7", lw=0.6, ls=":")
    ax_full.set(xlabel="false-positive rate", ylabel="true-positive rate",
                title="a) ROC of the spike prediction")
    for fp in fp_marks:
        ax_low.axvline(fp, color="0.6", lw=0.6, ls=":")
    ax_low.set_xscale("log")
    ax_low.set_xlim(1e-4, 0.1)
    ax_low.set(xlabel="false-positive rate (log)", ylabel="true-positive rate",
               title=f"b) low FP rates (dots: TP at FP {', '.join(f'{f:g}' for f in fp_marks)})")
    ax_full.legend(loc="lower right", fontsize=7)
    _title(fig, title)
    return fig


# --------------------------------------------------------------------------------------------
# table cells


def size_value(size: str) -> int | None:
    """``"d_m=20"`` -> 20, ``"hidden=15"`` -> 15, anything else -> None."""
    match = re.fullmatch(r"[a-z_]+=(\d+)", size)
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------------------------
# the chapter's conclusions: comparisons between families, computed from summary rows

#: The smallest spike-AUC margin over the tiny models that the chapter calls a clear win. Our
#: convention, not the paper's: with one seed per point there is no seed spread to compare a
#: difference with, so a margin below this is reported as not clearly resolved.
TIE_AUC = 0.01
#: The tiny models of Table S4, the floor the ELM families are compared with.
TINY_FAMILIES = tuple(_TINY_ROWS)
#: Headers of the two tables of :func:`family_comparisons`.
TINY_HEADER = ["best of a family vs a tiny model", "spike AUC", "Δ AUC", "soma RMSE (mV)",
               "Δ RMSE"]
PAIR_HEADER = ["ELM vs LSTM, nearest parameter counts", "params ratio", "spike AUC", "Δ AUC",
               "soma RMSE (mV)", "Δ RMSE"]
_ELM_FAMILIES = ("Branch-ELM", "ELM")  # the families the paper says beat the tiny models


def verdict(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None,
            metric: str = "auc") -> str:
    """``a`` against ``b`` (:func:`summary_rows` rows) on a metric: the difference of the means
    and which is better (higher AUC, lower RMSE), naming rows whose mean holds a collapsed seed,
    since a difference between runs that learnt nothing says nothing about the families."""
    if a is None or b is None:
        return "n/a (not trained at this scale)"
    d = a[f"{metric}_mean"] - b[f"{metric}_mean"]
    better = d > 0 if metric == "auc" else d < 0
    at_chance = [r["family"] for r in (a, b) if r["collapsed"]]
    note = f"; collapsed seeds in the mean of {' and '.join(at_chance)}" if at_chance else ""
    return f"{d:+.4f} ({'better' if better else 'worse'}{note})"


def _paper_auc() -> dict[str, list[float]]:
    """The paper's spike AUCs per family (Tables S4–S6), for its side of each comparison."""
    return {fam: [p.auc for p in paper_points(fam)] for fam in (*_ELM_FAMILIES, *TINY_FAMILIES)}


def _tiny_trained(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The best row of each tiny model that this scale trained (Table S4's order)."""
    return [t for t in (best_row(rows, f) for f in TINY_FAMILIES) if t is not None]


def elm_lstm_pairs(rows: Sequence[Mapping[str, Any]]
                   ) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """Each trained LSTM size with the trained ELM size nearest it in parameters (log scale,
    :func:`nearest_row`): the paper's claim is accuracy at a given parameter count, so a
    comparison pairs the models closest in size."""
    pairs = []
    for lstm in (r for r in rows if r["family"] == "LSTM" and r["n"] > 0):
        elm_row = nearest_row(rows, "ELM", lstm["params"])
        if elm_row is not None:
            pairs.append((elm_row, lstm))
    return pairs


def _pair_cells(elm_row: Mapping[str, Any], lstm: Mapping[str, Any]) -> list[str]:
    """One row of the ELM-vs-LSTM table (:data:`PAIR_HEADER`)."""
    return [f"ELM {elm_row['size']} ({elm_row['params']:,}) vs LSTM {lstm['size']} "
            f"({lstm['params']:,})",
            f"{elm_row['params'] / lstm['params']:.2f}",
            f"{elm_row['auc_mean']:.4f} vs {lstm['auc_mean']:.4f}", verdict(elm_row, lstm),
            f"{elm_row['soma_rmse_mv_mean']:.3f} vs {lstm['soma_rmse_mv_mean']:.3f}",
            verdict(elm_row, lstm, "soma_rmse_mv")]


def family_comparisons(rows: Sequence[Mapping[str, Any]]
                       ) -> tuple[list[list[str]], list[list[str]]]:
    """The two comparison tables of Fig 2b,c, from :func:`summary_rows` rows: the best
    Branch-ELM and ELM against each trained tiny model (:data:`TINY_HEADER`), and each trained
    LSTM against the ELM nearest it in parameters (:data:`PAIR_HEADER`). The last row of each
    is the paper's comparison from Tables S4–S7, so ours is read beside it. A pair with an
    untrained side has no row."""
    tiny = _tiny_trained(rows)
    comparisons = []
    for fam in _ELM_FAMILIES:
        ours = best_row(rows, fam)
        for small in tiny if ours is not None else ():
            comparisons.append([f"{fam} {ours['size']} vs {small['family']}",
                                f"{ours['auc_mean']:.4f} vs {small['auc_mean']:.4f}",
                                verdict(ours, small),
                                f"{ours['soma_rmse_mv_mean']:.3f} vs "
                                f"{small['soma_rmse_mv_mean']:.3f}",
                                verdict(ours, small, "soma_rmse_mv")])
    auc = _paper_auc()
    comparisons.append(["paper (Tables S4-S6): every Branch-ELM / ELM size vs LIF / simplest ELM",
                        f"{min(auc['Branch-ELM']):.4f}-{max(auc['Branch-ELM']):.4f} / "
                        f"{min(auc['ELM']):.4f}-{max(auc['ELM']):.4f} vs "
                        f"{auc['LIF'][0]:.4f} / {auc['simplest ELM'][0]:.4f}", "", "", ""])
    equal = [_pair_cells(e, lstm) for e, lstm in elm_lstm_pairs(rows)]
    e20 = next(p for p in paper_points("ELM") if p.size == "d_m=20")
    l15 = next(p for p in paper_points("LSTM") if p.size == "hidden=15")
    equal.append([f"paper (Tables S6, S7): ELM d_m=20 ({e20.params:,.0f}) vs LSTM hidden=15 "
                  f"({l15.params:,.0f})",
                  f"{e20.params / l15.params:.2f}", f"{e20.auc:.4f} vs {l15.auc:.4f}",
                  f"{e20.auc - l15.auc:+.4f}", f"{e20.rmse:.3f} vs {l15.rmse:.3f}",
                  f"{e20.rmse - l15.rmse:+.3f}"])
    return comparisons, equal


def _tiny_conclusion(fam: str, ours: Mapping[str, Any], tiny: Sequence[Mapping[str, Any]],
                     paper_auc: Mapping[str, Sequence[float]]) -> str:
    """The bullet "does the best ``fam`` beat the tiny models": which it beats, the smallest AUC
    margin and whether that is clear (:data:`TIE_AUC`), or no result when a collapsed seed is
    in a mean; with the soma RMSEs and the paper's numbers."""
    wins = [t["family"] for t in tiny if ours["auc_mean"] > t["auc_mean"]]
    losses = [t["family"] for t in tiny if ours["auc_mean"] <= t["auc_mean"]]
    margin = min(ours["auc_mean"] - t["auc_mean"] for t in tiny)
    call = ("clearly" if margin >= TIE_AUC else "not clearly: the smallest margin is below "
            f"{TIE_AUC} AUC, which one seed cannot resolve") if not losses else ""
    at_chance = [x["family"] for x in (ours, *tiny) if x["collapsed"]]
    if at_chance:  # a margin between runs that learnt nothing is no result
        call = f"no result: collapsed seeds in the mean of {' and '.join(at_chance)}"
    return (f"- **{fam} vs the tiny models (spike AUC).** The best {fam} ({ours['size']}, "
            f"{ours['auc_mean']:.4f}) "
            + (f"beats {' and '.join(wins)}" if wins else "beats neither")
            + (f", and does not beat {' and '.join(losses)}" if losses and wins else
               (f" ({' and '.join(losses)})" if losses else ""))
            + f"; smallest margin {margin:+.4f}" + (f" ({call})" if call else "")
            + f". Soma RMSE: {ours['soma_rmse_mv_mean']:.3f} mV against "
            + " and ".join(f"{t['soma_rmse_mv_mean']:.3f} ({t['family']})" for t in tiny)
            + f". The paper (Tables S4-S6): every {fam} size at least {min(paper_auc[fam]):.4f} "
            f"against {paper_auc['LIF'][0]:.4f} (LIF) and {paper_auc['simplest ELM'][0]:.4f} "
            "(simplest ELM).")


def page_conclusions(rows: Sequence[Mapping[str, Any]], prov: Mapping[str, Any] | None,
                     roc_rows: Sequence[Sequence[str]], *, scale: str, paper_steps: int,
                     command: str) -> list[str]:
    """The chapter's closing list (Markdown bullets), each line computed from the runs: how far
    the runs are from the paper's protocol, the collapsed runs, whether the best Branch-ELM and
    ELM beat the tiny models, the ELM against the LSTM at about equal parameters, and the best
    TP rate at a low false-positive rate.

    ``rows`` are :func:`summary_rows`, ``prov`` their records' :func:`provenance` (None: no runs,
    and the list says which ``command`` makes them), ``roc_rows`` the Fig 4c table (model name
    first, the protocol's TP rate at FP 0.0025 fourth), ``paper_steps`` the steps of a run of the
    paper's protocol."""
    if prov is None:
        return [f"- No runs in the store for scale {scale!r}; make them with `{command}`."]
    fraction = max(prov["steps"]) / paper_steps
    short = scale != "paper" or prov["stand_in"]
    lines = [f"- **Runs.** {prov['n_runs']} runs, {caption(prov)}: at most {100 * fraction:.2g} % "
             f"of the paper's {paper_steps:,} steps per run, {len(prov['seeds'])} seed(s)"
             + (", on the stand-in, not NeuronIO" if prov["stand_in"] else "") + ". "
             + ("They show that every model trains and is evaluated by the same protocol, and how "
                "far each family gets in this short training, not how good each family is when "
                "trained." if short else "These are the paper's protocol and data.")]
    collapses = collapse_notes(rows)
    if collapses:
        lines.append(f"- **Collapsed runs.** {len(collapses)} complete run(s) learnt nothing "
                     "(spike AUC at chance or a loss that never fell) and are kept in the means "
                     "above: "
                     + "; ".join(collapses) + ". Each ended so after "
                     f"{'/'.join(map(str, prov['steps']))} training steps; Fig 4 and S7 restore "
                     "the highest-AUC seed of a row.")
    tiny = _tiny_trained(rows)
    paper_auc = _paper_auc()
    for fam in _ELM_FAMILIES:
        ours = best_row(rows, fam)
        if ours is not None and tiny:
            lines.append(_tiny_conclusion(fam, ours, tiny, paper_auc))
    for pair in elm_lstm_pairs(rows):
        label, _, auc, d_auc, rmse, d_rmse = _pair_cells(*pair)
        lines.append(f"- **ELM vs LSTM at about equal parameters.** {label}: AUC {auc} "
                     f"({d_auc} for the ELM), soma RMSE {rmse} mV ({d_rmse} for the ELM).")
    if roc_rows:
        best_low = max(roc_rows, key=lambda r: float(r[3]))
        lines.append("- **Low false-positive rates.** Highest TP rate at FP 0.0025 among the "
                     f"restored models: {best_low[0]} ({best_low[3]}).")
    return lines
