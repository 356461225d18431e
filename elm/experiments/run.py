"""One training run of any experiment, from a name to a stored result record.

Why one function: the run notebook (``book/runs/train.ipynb``), the sweeps and the chapters all
run training the same way, so a figure built from the results store compares like with like.
:func:`run` takes an experiment name from :mod:`elm.experiments.configs`, optional overrides (an
ablation grid point), a seed, a scale and a data folder, and:

0. checks the experiment name, the scale and every override against the settings' schema
   (:func:`prepare`) and refuses bad ones with :class:`~elm.experiments.configs.ConfigError`
   before anything is written: no record, no run folder;
1. skips the run if the store already holds its final record made by the current code (a
   relaunched sweep costs nothing); a final record made by other result-determining code
   (another ``code_hash``, :func:`elm.experiments.results.stale`) is retrained, with one logged
   line saying so;
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

A user error (unknown experiment or setting, a value of the wrong type or out of range, a
malformed ``--set`` or ``--params`` file) prints one line naming the setting, the value and what
is accepted, plus a hint, and exits with status 2 without writing anything; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import shutil
import sys
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from flax import nnx

from elm.counting import count_params
from elm.experiments import allocator, configs
from elm.experiments.configs import ConfigError
from elm.experiments.results import (
    FINAL,
    Record,
    ResultsStore,
    code_hash,
    code_version,
    default_root,
    hardware,
    run_id,
    stale,
)
from elm.experiments.tasks import check_task, make_task
from elm.experiments.training import train

#: Loss curves are stored as at most this many points (means over equal chunks of steps, to six
#: significant digits), so a paper-scale record of 300K steps stays small (about 20 KB) and a
#: committed snapshot of hundreds of records stays a few MB.
CURVE_POINTS = 500
#: Checkpoints per run (at least one per step at tiny step counts), at most one per
#: CHECKPOINT_MIN_S seconds unless ``checkpoint_every`` is given.
CHECKPOINTS_PER_RUN = 20
CHECKPOINT_MIN_S = 30.0
#: Errors that repeat identically when a run is retried: bad data, bad settings, bad shapes.
DETERMINISTIC_ERRORS = (ValueError, LookupError, TypeError, FileNotFoundError)
#: Exit status of the command-line tools for a refused (user-error) run, as argparse's.
USAGE_ERROR = 2

logger = logging.getLogger(__name__)


def curve(losses: list[float], points: int = CURVE_POINTS) -> dict[str, list[float]]:
    """The loss curve as (step, mean loss) pairs over at most ``points`` chunks."""
    if not losses:
        return {"step": [], "loss": []}
    chunks = np.array_split(np.asarray(losses, np.float64), min(points, len(losses)))
    ends = np.cumsum([len(c) for c in chunks])
    return {"step": ends.tolist(), "loss": [float(f"{c.mean():.6g}") for c in chunks]}


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
            "code_hash": code_hash(),
            "hardware": hardware(),
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}


def prepare(experiment: str, scale: str = "demo",
            overrides: Mapping[str, Any] | None = None, seed: Any = 0) -> configs.Experiment:
    """The experiment a run of these arguments trains, every setting checked; raises
    :class:`~elm.experiments.configs.ConfigError` (and nothing else) for a bad name, scale,
    seed or override, including settings the dataset's task cannot run (SHD's ``dt`` against
    ``data.bin_ms``). Reads no data, writes nothing."""
    if not isinstance(experiment, str):
        raise ConfigError(f"experiment must be a name (see elm.configs.names()), got "
                          f"{experiment!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if not isinstance(overrides, Mapping | None):
        raise ConfigError(f"overrides must be a mapping of setting -> value, got {overrides!r}")
    exp = configs.override(configs.get(experiment, scale), dict(overrides or {}))
    try:
        check_task(exp)
    except (ValueError, KeyError) as err:
        raise ConfigError(str(err).strip("'\"")) from err
    return exp


def _clear_other_code_checkpoints(folder: Path, checkpoints: Path, force: bool) -> None:
    """Checkpoints made by other result-determining code (or any, with ``force``) are removed
    before training, so a run never resumes from them; ``folder/code_hash`` says whose they
    are."""
    marker = folder / "code_hash"
    made_by = marker.read_text().strip() if marker.is_file() else None
    if checkpoints.exists() and (force or made_by != code_hash()):
        shutil.rmtree(checkpoints)
    marker.write_text(code_hash())


def run(experiment: str, *, scale: configs.Scale = "demo", seed: int = 0,
        data_dir: str | Path | None = None, out_dir: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None, checkpoint_every: int | None = None,
        progress: bool = True, force: bool = False) -> Record:
    """Train and evaluate ``experiment`` (a name of ``configs.names()``); return its record.

    ``overrides`` change settings of the named experiment (``configs.override``). ``out_dir`` is
    the results store's root (default ``$ELM_RESULTS_DIR``, else ``data/results`` under the
    current directory).
    With ``force`` a finished run is trained again from scratch rather than skipped.
    ``checkpoint_every``: steps between checkpoints, each written; None: about
    :data:`CHECKPOINTS_PER_RUN` per run, at most one per :data:`CHECKPOINT_MIN_S` seconds.

    Raises :class:`~elm.experiments.configs.ConfigError` for a bad name, scale or override
    (:func:`prepare`) before writing anything. A stored final record of the same run is
    returned as it is when the current code made it; one made by other result-determining
    code (:func:`elm.experiments.results.stale`) is retrained, and so are its checkpoints
    discarded.
    """
    overrides = dict(overrides or {})
    exp = prepare(experiment, scale, overrides, seed)
    data_key = None if data_dir is None else str(data_dir)
    rid = run_id(experiment, overrides, seed, scale, data_key)
    store = ResultsStore(Path(out_dir or default_root()))
    folder = run_dir(store.root, rid)
    previous = store.read(rid)
    if previous is not None and previous["status"] in FINAL and not force:
        if not stale(previous):
            return previous
        logger.warning("stale record %s: made by other code (code_hash %s, now %s); retraining",
                    rid, str(previous.get("code_hash"))[:12], code_hash()[:12])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pid").write_text(str(os.getpid()))
    attempt = (previous or {}).get("attempts", 0) + 1
    record = {**_base_record(experiment, overrides, seed, scale, data_key, rid),
              "attempts": attempt}
    t0 = time.perf_counter()
    phase = "setup"
    try:
        record["config"] = _config_record(exp)
        task = make_task(exp, data_dir, seed)
        record["data"] = task.data
        model = exp.build(nnx.Rngs(seed))
        record["params"] = count_params(model)
        every = checkpoint_every or max(1, exp.train.steps // CHECKPOINTS_PER_RUN)
        phase = "train"
        checkpoints = folder / "checkpoints"
        _clear_other_code_checkpoints(folder, checkpoints, force)
        result = train(model, task.loss_fn, task.batches, exp.train, checkpoint_dir=checkpoints,
                       checkpoint_every=every, progress=progress,
                       checkpoint_min_s=0.0 if checkpoint_every else CHECKPOINT_MIN_S)
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
    anything that is not JSON stays a string, and the schema check then names it). A malformed
    item raises :class:`~elm.experiments.configs.ConfigError`."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE (e.g. --set d_m=4), got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def read_params(path: str | Path) -> tuple[str, dict[str, Any]]:
    """The experiment and :func:`run` keywords of a ``parameters.yaml`` (written by a sweep);
    :class:`~elm.experiments.configs.ConfigError` naming the file if it is unreadable."""
    keys = ("experiment", "scale", "seed", "data_dir", "out_dir", "overrides")
    try:
        spec = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{path}: cannot read the run parameters ({first})") from err
    if not isinstance(spec, dict) or not set(keys) <= set(spec):
        have = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise ConfigError(f"{path}: run parameters need the keys {', '.join(keys)}; got {have}")
    return spec["experiment"], {k: spec[k] for k in keys[1:]}


def refuse(prog: str, err: BaseException, debug: bool) -> int:
    """Print a user error as at most two lines on stderr and return the exit status 2 (with
    ``debug``, re-raise it to show the traceback)."""
    if debug:
        raise err
    message = " ".join(str(err).split())  # one line, whatever the message held
    print(f"{prog}: error: {message}", file=sys.stderr)
    print(f"{prog}: nothing was run or written (--debug shows the traceback)", file=sys.stderr)
    return USAGE_ERROR


def main(argv: list[str] | None = None) -> int:
    """``python -m elm.run``: 0 when the run finished, 2 for a refused run (nothing written);
    a run that fails while training raises (its ``failed`` record is written). From a command
    line (``argv`` None), a run with large steps first restarts itself with the allocator's
    tunables (:mod:`elm.experiments.allocator`)."""
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
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a refused run instead of one line")
    args = parser.parse_args(argv)
    try:
        if args.params is not None:
            experiment, kwargs = read_params(args.params)
        elif args.experiment is None:
            parser.error("give an experiment name or --params FILE")
        else:
            kwargs = {"scale": args.scale, "seed": args.seed, "data_dir": args.data_dir,
                      "out_dir": args.out_dir, "overrides": parse_overrides(args.set)}
            experiment = args.experiment
        if argv is None and allocator.for_run(experiment, kwargs["scale"]):
            allocator.reexec()
        record = run(experiment, checkpoint_every=args.checkpoint_every, force=args.force,
                     progress=not args.no_progress, **kwargs)
    except ConfigError as err:
        return refuse(parser.prog, err, args.debug)
    print(json.dumps({k: record.get(k) for k in ("run_id", "status", "metrics")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
