"""Sweeps: a grid of runs of the run notebook, on local processes or a Ray cluster.

Why papermill runs in subprocesses: each grid point is one execution of
``book/runs/train.ipynb`` (the same notebook a reader opens), in its own process, so a run that
crashes, runs out of memory or is killed loses only itself; the sweep notices, retries it a
bounded number of times, and the retry resumes from the run's last checkpoint
(``elm.experiments.run``). Runs whose record is already complete are skipped, so relaunching a
sweep after an interruption only does what is left.

Why Ray for more than one machine: scheduling runs over GPUs and nodes is a solved problem; with
``--ray-address`` every run is a Ray task asking for one GPU when the cluster has GPUs (one run
per GPU), else one CPU. Retries, skipping and records work the same as locally.

A spec (YAML or a Python dict)::

    experiment: neuronio/elm/paper     # or experiments: [...]
    scale: demo
    seeds: [0, 1, 2]
    grid: {d_m: [1, 2, 4], lambda_value: [5.0, 10.0]}   # the product of the lists
    points: [{d_m: 20, d_mlp: 80}]                         # extra grid points, as given

or a list of such blocks. Command line::

    python -m elm.sweep spec.yaml --out-dir results/ [--workers 2] [--ray-address auto]

Every grid point is checked before anything runs (:func:`expand`, :func:`run_sweep`; also with
``--dry-run``): a point with an unknown setting or a bad value (``grid: {d_m: [1, abc]}``) refuses
the whole spec with a :class:`~elm.experiments.configs.ConfigError` naming the spec file, the point
and the setting; the command prints it in one line and exits with status 2 (``--debug``: the
traceback). A run that its process refuses anyway (exit status 2) is failed, never retried.
Finished records made by other result-determining code are stale
(:func:`elm.experiments.results.stale`) and are retrained, unless ``--keep-stale`` says to keep
every finished record: a long snapshot sweep (``book/sweeps/study_*.yaml``) resumed after a code
change then does only the runs it has not finished, and the book labels each record made by other
code with the commit that made it.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from elm.experiments import allocator
from elm.experiments.configs import SCALES, ConfigError, names
from elm.experiments.results import FINAL, ResultsStore, default_root, run_id, stale
from elm.experiments.run import USAGE_ERROR, prepare, refuse

SPEC_KEYS = {"experiment", "experiments", "scale", "seeds", "grid", "points", "data_dir"}

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """One grid point: what :func:`elm.experiments.run.run` needs to identify and perform a run."""

    experiment: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    scale: str = "demo"
    data_dir: str | None = None

    @property
    def run_id(self) -> str:
        return run_id(self.experiment, self.overrides, self.seed, self.scale, self.data_dir)

    def parameters(self, out_dir: Path) -> dict[str, Any]:
        """The run notebook's papermill parameters."""
        return {"experiment": self.experiment, "overrides": dict(self.overrides),
                "seed": self.seed, "scale": self.scale, "data_dir": self.data_dir,
                "out_dir": str(out_dir)}


@dataclass
class Outcome:
    """How one run of a sweep ended."""

    run_id: str
    status: str  # complete | diverged | failed | skipped
    attempts: int = 0
    error: str | None = None


def _block(spec: Mapping[str, Any]) -> list[RunSpec]:
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ConfigError(f"unknown keys {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
    experiments = spec.get("experiments") or [spec.get("experiment")]
    if not isinstance(experiments, list):
        raise ConfigError(f"experiments must be a list of names, got {experiments!r}")
    for name in experiments:
        if name not in names():
            raise ConfigError(f"unknown experiment {name!r}; see elm.configs.names()")
    grid = spec.get("grid") or {}
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid must map settings to lists of values, got {grid!r}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"grid.{key} must be a non-empty list, got {values!r}")
    extra = spec.get("points") or []
    if not isinstance(extra, list) or not all(isinstance(p, Mapping) for p in extra):
        raise ConfigError(f"points must be a list of mappings (setting: value), got {extra!r}")
    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    points = (points if grid else []) + [dict(p) for p in extra]
    seeds = spec.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ConfigError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    scale = spec.get("scale", "demo")
    if scale not in SCALES:
        raise ConfigError(f"scale {scale!r} is not one of {', '.join(SCALES)}")
    data_dir = spec.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        raise ConfigError(f"data_dir must be a folder name or null, got {data_dir!r}")
    return [RunSpec(name, point, seed, scale, data_dir)
            for name in experiments for point in (points or [{}]) for seed in seeds]


def _point(overrides: Mapping[str, Any]) -> str:
    return json.dumps(dict(overrides), default=str)


#: (experiment, scale, point) already checked in this process: the code cannot change under it.
_CHECKED: set[tuple[str, str, str]] = set()


def check(runs: Iterable[RunSpec]) -> None:
    """Raise :class:`~elm.experiments.configs.ConfigError` for the first run whose settings
    :func:`elm.experiments.run.prepare` refuses, naming its grid point. Each distinct
    (experiment, scale, point) is built once per process (abstractly; no data is read)."""
    for r in runs:
        key = (r.experiment, r.scale, _point(r.overrides))
        if key in _CHECKED and isinstance(r.seed, int) and not isinstance(r.seed, bool):
            continue
        try:
            prepare(r.experiment, r.scale, r.overrides, r.seed)
        except ConfigError as err:
            raise ConfigError(f"{r.experiment} point {key[2]}: {err}") from err
        _CHECKED.add(key)


def expand(spec: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
           validate: bool = True) -> list[RunSpec]:
    """Every run of a spec (a block or a list of blocks), duplicates removed, in order.

    Every grid point is checked (:func:`check`) unless ``validate`` is false: a bad spec raises
    :class:`~elm.experiments.configs.ConfigError` naming the block and the point."""
    blocks = [spec] if isinstance(spec, Mapping) else list(spec)
    runs: dict[str, RunSpec] = {}
    for i, block in enumerate(blocks, 1):
        where = f"block {i}: " if len(blocks) > 1 else ""
        try:
            if not isinstance(block, Mapping):
                raise ConfigError(f"a sweep block is a mapping, got {block!r}")
            block_runs = _block(block)
            if validate:
                check(block_runs)
        except ConfigError as err:
            raise ConfigError(f"{where}{err}") from err
        for r in block_runs:
            runs.setdefault(r.run_id, r)
    return list(runs.values())


def load_spec(path: str | Path, *, scale: str | None = None,
              data_dir: str | None = None, validate: bool = True) -> list[RunSpec]:
    """Runs of a YAML spec file; ``scale`` / ``data_dir`` replace the spec's own, so one spec
    serves the book at demo scale and the cluster at paper scale. Every point is checked
    (:func:`expand`); errors are :class:`~elm.experiments.configs.ConfigError` naming ``path``."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        first = " ".join(str(err).split())
        raise ConfigError(f"{path}: cannot read the sweep spec ({first})") from err
    blocks = [spec] if isinstance(spec, Mapping) else spec
    if not isinstance(blocks, list) or not all(isinstance(b, Mapping) for b in blocks):
        raise ConfigError(f"{path}: a sweep spec is a mapping or a list of mappings")
    replace = {k: v for k, v in (("scale", scale), ("data_dir", data_dir)) if v is not None}
    try:
        return expand([{**b, **replace} for b in blocks], validate=validate)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err


def execute(run: RunSpec, out_dir: str, notebook: str | None, attempt: int) -> tuple[int, str]:
    """One attempt of one run, in a fresh process: ``python -m elm.run --params`` by default, or
    papermill executing ``notebook`` (a run notebook such as the book's ``book/runs/train.ipynb``,
    which keeps an executed copy with the loss curve in the run's folder).

    Returns the exit code and the tail of the log (also kept in the run's folder). Module-level
    so that Ray can ship it to its workers.
    """
    folder = Path(out_dir) / "runs" / run.run_id
    folder.mkdir(parents=True, exist_ok=True)
    params = folder / "parameters.yaml"
    params.write_text(yaml.safe_dump(run.parameters(Path(out_dir))))
    log = folder / f"attempt-{attempt}.log"
    if notebook is None:
        cmd = [sys.executable, "-m", "elm.run", "--params", str(params), "--no-progress"]
    else:
        cmd = [sys.executable, "-m", "papermill", notebook, str(folder / "train.ipynb"),
               "-f", str(params), "--cwd", str(folder), "--no-progress-bar",
               "--log-level", "WARNING"]
    # runs of one shape compile the same programs: a compilation cache shared by the sweep's
    # processes lets all but the first skip the compile (seconds per run on a CPU). Every
    # program is kept, the small ones too: a model's initialisation alone compiles a dozen
    # random-number programs of a few tenths of a second each, and reading one back takes
    # milliseconds. Runs with large steps keep their buffers between steps
    # (elm.experiments.allocator)
    keep = allocator.for_run(run.experiment, run.scale)
    env = {**allocator.environment(keep=keep), "JAX_COMPILATION_CACHE_DIR": os.environ.get(
        "JAX_COMPILATION_CACHE_DIR", str(Path(out_dir) / "jax-cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    with log.open("w") as out:
        code = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                              check=False).returncode
    return code, log.read_text()[-3000:]


Submit = Callable[[RunSpec, int], cf.Future]


def _local_submitter(workers: int, out: str,
                     notebook: str | None) -> tuple[Submit, Callable[[], None]]:
    pool = cf.ThreadPoolExecutor(max_workers=workers)  # threads only wait on subprocesses

    def submit(run: RunSpec, attempt: int) -> cf.Future:
        return pool.submit(execute, run, out, notebook, attempt)

    return submit, lambda: pool.shutdown(wait=True)


def _ray_submitter(address: str | None, out: str,
                   notebook: str | None) -> tuple[Submit, Callable[[], None]]:
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    remote = ray.remote(num_gpus=1 if gpus else 0, num_cpus=1, max_retries=0)(execute)

    def submit(run: RunSpec, attempt: int) -> cf.Future:
        return remote.remote(run, out, notebook, attempt).future()

    return submit, (ray.shutdown if started else (lambda: None))


def _verdict(store: ResultsStore, run: RunSpec, code: int, log: str) -> tuple[str, str | None]:
    """Final status after an attempt, or "retry"; and the error to report."""
    record = store.read(run.run_id)
    if code == USAGE_ERROR:  # refused before anything ran: retrying cannot help
        return "failed", f"refused (exit code {code}): {log.strip()[-500:]}"
    if record is not None and record["status"] in FINAL and not stale(record):
        return record["status"], None
    if record is not None and record["status"] == "failed":
        err = record["error"]
        message = f"{err['type']}: {err['message']}"
        # bad data or settings fail the same way every time: retrying cannot help
        return ("retry" if err["retryable"] else "failed"), message
    return "retry", f"exit code {code} without a record (killed?); log tail: {log[-500:]}"


def run_sweep(runs: Iterable[RunSpec], out_dir: str | Path | None = None, *,
              workers: int | None = None, retries: int = 2, ray_address: str | None = None,
              use_ray: bool = False, notebook: str | Path | None = None,
              progress: bool = True, keep_stale: bool = False) -> list[Outcome]:
    """Run every run not yet complete; retry failures up to ``retries`` times each.

    ``use_ray`` (or a ``ray_address``) runs on Ray (``ray.init(address)``; None starts a local
    cluster); otherwise ``workers`` local processes (default: half the CPU cores). ``notebook``:
    run each point through papermill with this run notebook instead of ``python -m elm.run``.

    Every run's settings are checked first (:func:`check`): a bad one raises
    :class:`~elm.experiments.configs.ConfigError` before any run starts. Runs whose final record
    the current code made are skipped; stale ones (:func:`elm.experiments.results.stale`) are
    retrained, each with one logged line, or with ``keep_stale`` skipped like current ones.
    """
    runs = list(runs)
    check(runs)
    out = Path(out_dir or default_root()).resolve()
    store = ResultsStore(out)
    nb = None if notebook is None else str(Path(notebook).resolve())
    outcomes = {r.run_id: Outcome(r.run_id, "skipped") for r in runs}
    finished = store.is_complete if keep_stale else store.is_current
    todo = [r for r in runs if not finished(r.run_id)]
    for r in todo:
        if store.is_complete(r.run_id):
            logger.warning("stale record %s: made by other code; retraining", r.run_id)
    if use_ray or ray_address:
        submit, close = _ray_submitter(ray_address, str(out), nb)
    else:
        submit, close = _local_submitter(workers or max(1, (os.cpu_count() or 2) // 2),
                                         str(out), nb)
    bar = tqdm(total=len(todo), disable=not progress, desc="sweep")
    try:
        pending = {submit(r, 1): r for r in todo}
        while pending:
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for future in done:
                run = pending.pop(future)
                outcome = outcomes[run.run_id]
                outcome.attempts += 1
                try:
                    code, log = future.result()
                except Exception as err:  # the executor itself failed (e.g. a Ray worker died)
                    code, log = -1, repr(err)
                status, outcome.error = _verdict(store, run, code, log)
                if status == "retry" and outcome.attempts <= retries:
                    pending[submit(run, outcome.attempts + 1)] = run
                    continue
                outcome.status = "failed" if status == "retry" else status
                bar.update(1)
    finally:
        bar.close()
        close()
    return list(outcomes.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m elm.sweep", description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="YAML sweep spec")
    parser.add_argument("--out-dir", default=None, help="results store (default data/results)")
    parser.add_argument("--scale", default=None, help="replace the spec's scale (e.g. paper)")
    parser.add_argument("--data-dir", default=None, help="replace the spec's data folder")
    parser.add_argument("--workers", type=int, default=None, help="local parallel runs")
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="run on Ray (a local cluster)")
    parser.add_argument("--ray-address", default=None, help="Ray cluster address, e.g. auto")
    parser.add_argument("--notebook", default=None,
                        help="run each point with papermill through this run notebook (e.g. "
                             "book/runs/train.ipynb) instead of python -m elm.run")
    parser.add_argument("--keep-stale", action="store_true",
                        help="keep finished records made by other code instead of retraining "
                             "them (to resume a long snapshot sweep after a code change)")
    parser.add_argument("--dry-run", action="store_true",
                        help="check every grid point and list the runs; run nothing")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a refused spec instead of one line")
    args = parser.parse_args(argv)
    try:
        runs = load_spec(args.spec, scale=args.scale, data_dir=args.data_dir)
    except ConfigError as err:
        return refuse(parser.prog, err, args.debug)
    if args.dry_run:
        for r in runs:
            print(r.run_id, r.experiment, dict(r.overrides), f"seed={r.seed}", r.scale)
        return 0
    outcomes = run_sweep(runs, args.out_dir, workers=args.workers, retries=args.retries,
                         ray_address=args.ray_address, use_ray=args.ray,
                         notebook=args.notebook, keep_stale=args.keep_stale)
    for o in outcomes:
        print(f"{o.status:9s} {o.attempts} attempt(s)  {o.run_id}  {o.error or ''}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("complete", "diverged",
                                                                  "failed", "skipped")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
