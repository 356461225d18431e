"""One training run of any experiment, from a name to a stored result record.

Why one function: the run notebook (``book/runs/train.ipynb``), the sweeps and the chapters all
run training the same way, so a figure built from the results store compares like with like.
:func:`run` takes an experiment name from :mod:`elm.experiments.configs`, optional overrides (an
ablation grid point), a seed, a scale and a data folder, and:

1. skips the run if the store already holds its final record (a relaunched sweep costs nothing);
2. trains with :func:`elm.experiments.training.train`, checkpointing under
``<out_dir>/runs/<run_id>/`` so a
   killed run resumes from its last checkpoint when launched again;
3. evaluates, and writes one record (config, seed, scale, data provenance, code version,
   hardware, wall time, metrics, loss curve) atomically to the store.

A run that fails (bad data, a bug) writes a ``failed`` record with the error (and whether a retry
could help), then re-raises; a run whose loss turns NaN or explodes writes a ``diverged`` record
(the paper reports those).

Command line (the same as the notebook, without Jupyter)::

    python -m elm.run neuronio/branch-elm/paper --scale demo --seed 0 --set d_m=4
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from flax import nnx

from elm.counting import count_params
from elm.experiments import configs
from elm.experiments.results import (
    Record,
    ResultsStore,
    code_version,
    default_root,
    hardware,
    run_id,
)
from elm.experiments.tasks import make_task
from elm.experiments.training import train

#: Loss curves are stored as at most this many points (means over equal chunks of steps), so a
#: paper-scale record of 300K steps stays small.
CURVE_POINTS = 2000
#: Checkpoints per run (at least one per step at tiny step counts).
CHECKPOINTS_PER_RUN = 20
#: Errors that repeat identically when a run is retried: bad data, bad settings, bad shapes.
DETERMINISTIC_ERRORS = (ValueError, LookupError, TypeError, FileNotFoundError)


def curve(losses: list[float], points: int = CURVE_POINTS) -> dict[str, list[float]]:
    """The loss curve as (step, mean loss) pairs over at most ``points`` chunks."""
    if not losses:
        return {"step": [], "loss": []}
    chunks = np.array_split(np.asarray(losses, np.float64), min(points, len(losses)))
    ends = np.cumsum([len(c) for c in chunks])
    return {"step": ends.tolist(), "loss": [float(c.mean()) for c in chunks]}


def run_dir(out_dir: str | Path | None, rid: str) -> Path:
    """Where a run keeps its checkpoints, executed notebook, figures and pid file."""
    return Path(out_dir or default_root()) / "runs" / rid


def _config_record(experiment: configs.Experiment) -> dict[str, Any]:
    return {"name": experiment.name, "dataset": experiment.dataset, "model": experiment.model,
            "model_args": dict(experiment.model_args),
            "train": dataclasses.asdict(experiment.train), "data": dict(experiment.data),
            "evaluation": dict(experiment.evaluation),
            "sources": dict(experiment.sources)}


def _base_record(name: str, overrides: Mapping[str, Any], seed: int, scale: str,
                 data_dir: str | None, rid: str) -> Record:
    return {"run_id": rid, "experiment": name, "overrides": dict(overrides), "seed": seed,
            "scale": scale, "data_dir": data_dir, "code_version": code_version(),
            "hardware": hardware(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def run(experiment: str, *, scale: configs.Scale = "demo", seed: int = 0,
        data_dir: str | Path | None = None, out_dir: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None, checkpoint_every: int | None = None,
        progress: bool = True, force: bool = False) -> Record:
    """Train and evaluate ``experiment`` (a name of ``configs.names()``); return its record.

    ``overrides`` change settings of the named experiment (``configs.override``). ``out_dir`` is
    the results store's root (default ``$ELM_RESULTS_DIR``, else ``data/results`` under the
    current directory).
    With ``force`` a finished run is trained again from scratch rather than skipped.
    """
    overrides = dict(overrides or {})
    data_key = None if data_dir is None else str(data_dir)
    rid = run_id(experiment, overrides, seed, scale, data_key)
    store = ResultsStore(Path(out_dir or default_root()))
    folder = run_dir(store.root, rid)
    previous = store.read(rid)
    if previous is not None and store.is_complete(rid) and not force:
        return previous
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pid").write_text(str(os.getpid()))
    attempt = (previous or {}).get("attempts", 0) + 1
    record = {**_base_record(experiment, overrides, seed, scale, data_key, rid),
              "attempts": attempt}
    t0 = time.perf_counter()
    phase = "setup"
    try:
        exp = configs.override(configs.get(experiment, scale), overrides)
        record["config"] = _config_record(exp)
        task = make_task(exp, data_dir, seed)
        record["data"] = task.data
        model = exp.build(nnx.Rngs(seed))
        record["params"] = count_params(model)
        every = checkpoint_every or max(1, exp.train.steps // CHECKPOINTS_PER_RUN)
        phase = "train"
        checkpoints = folder / "checkpoints"
        if force and checkpoints.exists():
            shutil.rmtree(checkpoints)
        result = train(model, task.loss_fn, task.batches, exp.train, checkpoint_dir=checkpoints,
                       checkpoint_every=every, progress=progress)
        record.update({"steps_done": result.steps_done, "resumed_from": result.resumed_from,
                       "train_wall_time_s": result.wall_time_s, "curves": curve(result.losses)})
        if result.diverged:
            record.update(status="diverged", diverged_at=result.diverged_at, metrics=None)
        else:
            phase = "evaluate"
            record.update(status="complete", metrics=task.evaluate(model))
    except Exception as err:
        record.update(status="failed", metrics=None, error={
            "phase": phase, "type": type(err).__name__, "message": str(err),
            "retryable": not isinstance(err, DETERMINISTIC_ERRORS),
            "traceback": traceback.format_exc(limit=8)})
        record["wall_time_s"] = time.perf_counter() - t0
        store.write(record)
        raise
    record["wall_time_s"] = time.perf_counter() - t0
    record["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    store.write(record)
    return record


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["d_m=4", "tau_m_init=[1, 50]", "train.learning_rate=1e-3"]`` -> a dict (JSON values;
    anything that is not JSON stays a string)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elm.run",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("experiment", nargs="?", help=f"one of: {', '.join(configs.names())}")
    parser.add_argument("--params", default=None, metavar="YAML",
                        help="read experiment, overrides, seed, scale, data_dir and out_dir from "
                             "this file (the parameters.yaml a sweep writes for each run)")
    parser.add_argument("--scale", default="demo", choices=configs.SCALES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out-dir", default=None, help="results store (default data/results)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. d_m=4 or train.learning_rate=1e-3")
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="rerun a finished run")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.params is not None:
        spec = yaml.safe_load(Path(args.params).read_text())
        kwargs = {"scale": spec["scale"], "seed": spec["seed"], "data_dir": spec["data_dir"],
                  "out_dir": spec["out_dir"], "overrides": spec["overrides"]}
        experiment = spec["experiment"]
    elif args.experiment is None:
        parser.error("give an experiment name or --params FILE")
    else:
        kwargs = {"scale": args.scale, "seed": args.seed, "data_dir": args.data_dir,
                  "out_dir": args.out_dir, "overrides": parse_overrides(args.set)}
        experiment = args.experiment
    record = run(experiment, checkpoint_every=args.checkpoint_every, force=args.force,
                 progress=not args.no_progress, **kwargs)
    print(json.dumps({k: record.get(k) for k in ("run_id", "status", "metrics")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
