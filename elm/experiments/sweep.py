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
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from elm.experiments.configs import names
from elm.experiments.results import ResultsStore, default_root, run_id

SPEC_KEYS = {"experiment", "experiments", "scale", "seeds", "grid", "points", "data_dir"}


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
        raise ValueError(f"sweep spec: unknown keys {sorted(unknown)}; known: {sorted(SPEC_KEYS)}")
    experiments = spec.get("experiments") or [spec.get("experiment")]
    for name in experiments:
        if name not in names():
            raise ValueError(f"sweep spec: unknown experiment {name!r}; see elm.configs.names()")
    grid = dict(spec.get("grid") or {})
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ValueError(f"sweep spec: grid.{key} must be a non-empty list, got {values!r}")
    points = [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]
    points = (points if grid else []) + [dict(p) for p in spec.get("points") or []]
    seeds = spec.get("seeds", [0])
    scale = spec.get("scale", "demo")
    data_dir = spec.get("data_dir")
    return [RunSpec(name, point, int(seed), scale, data_dir)
            for name in experiments for point in (points or [{}]) for seed in seeds]


def expand(spec: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> list[RunSpec]:
    """Every run of a spec (a block or a list of blocks), duplicates removed, in order."""
    blocks = [spec] if isinstance(spec, Mapping) else list(spec)
    runs: dict[str, RunSpec] = {}
    for block in blocks:
        for r in _block(block):
            runs.setdefault(r.run_id, r)
    return list(runs.values())


def load_spec(path: str | Path, *, scale: str | None = None,
              data_dir: str | None = None) -> list[RunSpec]:
    """Runs of a YAML spec file; ``scale`` / ``data_dir`` replace the spec's own, so one spec
    serves the book at demo scale and the cluster at paper scale."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read the sweep spec ({err})") from err
    blocks = [spec] if isinstance(spec, Mapping) else spec
    if not isinstance(blocks, list) or not all(isinstance(b, Mapping) for b in blocks):
        raise ValueError(f"{path}: a sweep spec is a mapping or a list of mappings")
    replace = {k: v for k, v in (("scale", scale), ("data_dir", data_dir)) if v is not None}
    try:
        return expand([{**b, **replace} for b in blocks])
    except (ValueError, TypeError, AttributeError) as err:
        raise ValueError(f"{path}: {err}") from err


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
    # processes lets all but the first skip the compile (seconds per run on a CPU)
    env = {**os.environ, "JAX_COMPILATION_CACHE_DIR": os.environ.get(
        "JAX_COMPILATION_CACHE_DIR", str(Path(out_dir) / "jax-cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0.5"}
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
    if record is not None and record["status"] in ("complete", "diverged"):
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
              progress: bool = True) -> list[Outcome]:
    """Run every run not yet complete; retry failures up to ``retries`` times each.

    ``use_ray`` (or a ``ray_address``) runs on Ray (``ray.init(address)``; None starts a local
    cluster); otherwise ``workers`` local processes (default: half the CPU cores). ``notebook``:
    run each point through papermill with this run notebook instead of ``python -m elm.run``.
    """
    out = Path(out_dir or default_root()).resolve()
    store = ResultsStore(out)
    nb = None if notebook is None else str(Path(notebook).resolve())
    runs = list(runs)
    outcomes = {r.run_id: Outcome(r.run_id, "skipped") for r in runs}
    todo = [r for r in runs if not store.is_complete(r.run_id)]
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
    parser.add_argument("--dry-run", action="store_true", help="list the runs, run nothing")
    args = parser.parse_args(argv)
    runs = load_spec(args.spec, scale=args.scale, data_dir=args.data_dir)
    if args.dry_run:
        for r in runs:
            print(r.run_id, r.experiment, dict(r.overrides), f"seed={r.seed}", r.scale)
        return 0
    outcomes = run_sweep(runs, args.out_dir, workers=args.workers, retries=args.retries,
                         ray_address=args.ray_address, use_ray=args.ray,
                         notebook=args.notebook)
    for o in outcomes:
        print(f"{o.status:9s} {o.attempts} attempt(s)  {o.run_id}  {o.error or ''}")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("complete", "diverged",
                                                                  "failed", "skipped")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
