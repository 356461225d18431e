"""The results store: one JSON record per training run, written atomically, queried by config.

Why a store: the paper's figures aggregate hundreds of runs (configurations x seeds) that may
run on different machines and days. Each run writes one self-describing record (config, seed,
scale, data provenance, code version, hardware, wall time, metrics, curves); chapters read the
records back and never depend on a run having happened in the same process.

Why atomic: a run killed mid-write (SIGKILL, node preemption) must never leave a half-written
record that a chapter would read as a result. A record is written to a temporary file in the same
folder, flushed to disk, then renamed over the final name (``os.replace`` is atomic on POSIX), so
a reader sees either the old record or the new one, never a mixture.

Layout: ``<root>/records/<run_id>.json``. ``run_id`` is a hash of what defines a run (experiment,
overrides, seed, scale, data), so relaunching a sweep finds the runs it already completed.

Why a code hash: a record is a result of the code that made it. Each record stores
``code_hash`` (:func:`code_hash`, a sha256 of the modules that determine results:
:data:`RESULT_CODE`) beside ``code_version`` (``git describe``, for people). A finished record
whose ``code_hash`` differs from the current code's, or that has none, is *stale*
(:func:`stale`): :func:`elm.experiments.run.run` and the sweeps retrain it instead of reusing it
(:meth:`ResultsStore.is_current`), and the book labels stale records it shows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from elm.experiments import allocator
from elm.experiments.records import STATUSES, RunRecord

Record = dict[str, Any]
FINAL = ("complete", "diverged")  # outcomes a rerun of the same code would repeat
DEFAULT_ROOT_ENV = "ELM_RESULTS_DIR"


class CorruptRecordError(ValueError):
    """A record file that is not a complete, valid JSON record."""


def default_root() -> Path:
    """The results store when none is given: ``$ELM_RESULTS_DIR``, else ``data/results`` under
    the current directory (the repository root, for the commands the README shows). The book's
    chapters pass their own store (the repository's ``data/results``) explicitly."""
    return Path(os.environ.get(DEFAULT_ROOT_ENV) or "data/results")


def _canonical(value: Any) -> Any:
    """JSON-friendly, order-independent form (tuples become lists, numpy scalars Python)."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def run_id(experiment: str, overrides: Mapping[str, Any], seed: int, scale: str,
           data: str | None = None) -> str:
    """A stable name for a run: readable prefix plus a hash of everything that defines it.

    ``data`` is the data folder (or None for the default): the same config on other data is a
    different run.
    """
    key = json.dumps(_canonical({"experiment": experiment, "overrides": dict(overrides),
                                 "seed": seed, "scale": scale, "data": data}),
                     sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    slug = experiment.replace("/", "_")
    return f"{slug}-{scale}-s{seed}-{digest}"


def code_version() -> str:
    """``git describe`` of the checkout the package runs from (``+dirty`` if modified), or
    the installed package version when there is no git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty=+dirty", "--tags"],
                             cwd=here, capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"elm {version('elm')}"
        except PackageNotFoundError:
            return "unknown"


#: The modules whose source determines a run's results, as glob patterns relative to the
#: ``elm`` package folder: the neuron, the baselines, the data readers, the experiment settings,
#: the training loop, the evaluation and the tasks. Book support, the command-line tools and the
#: results store itself are left out: changing them changes no number.
RESULT_CODE: tuple[str, ...] = (
    "model.py", "recurrence.py", "routing.py", "counting.py", "baselines/*.py", "data/*.py",
    "experiments/configs.py", "experiments/training.py", "experiments/ensemble.py",
    "experiments/neuronio_eval.py", "experiments/tasks/*.py",
)


def code_files() -> list[Path]:
    """The files :func:`code_hash` reads (:data:`RESULT_CODE`), sorted."""
    package = Path(__file__).resolve().parents[1]
    return sorted({path for pattern in RESULT_CODE for path in package.glob(pattern)
                   if path.is_file()})


@functools.cache
def code_hash() -> str:
    """sha256 (hex) over the source of the result-determining modules (:data:`RESULT_CODE`):
    each file's path inside the package and its bytes. Stored in every record as ``code_hash``;
    computed once per process."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in code_files():
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def stale(record: Mapping[str, Any]) -> bool:
    """Whether ``record`` was made by other result-determining code than the current one (its
    ``code_hash`` differs, or it has none: records older than the hash). A stale record is
    retrained by runs and sweeps, and should be labelled as such where it is shown."""
    return record.get("code_hash") != code_hash()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def hardware() -> dict[str, Any]:
    """The machine a run used: the accelerator JAX ran on, the CPU, core count, and whether
    the allocator kept large buffers between steps (``malloc``; see
    :mod:`elm.experiments.allocator`), which changes wall times, never values."""
    import jax

    device = jax.devices()[0]
    return {"platform": device.platform, "device_kind": device.device_kind,
            "device_count": jax.device_count(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "host": platform.node(), "malloc": allocator.describe()}


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as JSON to ``path`` so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_canonical(payload), f, indent=1, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_MISSING = object()


def lookup(record: Mapping[str, Any], dotted: str, default: Any = _MISSING) -> Any:
    """``record["a"]["b"]`` for ``"a.b"``; ``default`` where a key is absent."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return default
        value = value[part]
    return value


def _matches(record: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    return all(_canonical(lookup(record, key)) == _canonical(want)
               for key, want in query.items())


@dataclass(frozen=True)
class ResultsStore:
    """Records under ``root/records``; ``query`` filters by dotted keys of the record.

    Example: ``store.query(experiment="neuronio/elm/paper", scale="demo",
    **{"overrides.d_m": 4, "status": "complete"})``.
    """

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    def path(self, rid: str) -> Path:
        return self.records_dir / f"{rid}.json"

    def write(self, record: Record) -> Path:
        """Store ``record`` atomically; it must be a valid run record
        (:meth:`~elm.experiments.records.RunRecord.from_json` checks it)."""
        RunRecord.from_json(record, f"record of run {record.get('run_id', '?')}")
        path = self.path(record["run_id"])
        write_json_atomic(path, record)
        return path

    def read(self, rid: str) -> Record | None:
        """The record of run ``rid``, or None when there is none."""
        path = self.path(rid)
        if not path.exists():
            return None
        return self._load(path)

    @staticmethod
    def _load(path: Path) -> Record:
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise CorruptRecordError(f"{path}: not a valid result record ({err}); delete it and "
                                     "rerun the run") from err
        if not isinstance(record, dict) or record.get("status") not in STATUSES:
            raise CorruptRecordError(f"{path}: not a result record (no valid 'status')")
        return record

    def records(self) -> Iterator[Record]:
        """Every record, in run-id order (temporary files of unfinished writes are skipped)."""
        if not self.records_dir.is_dir():
            return
        for path in sorted(self.records_dir.glob("*.json")):
            yield self._load(path)

    def query(self, **where: Any) -> list[Record]:
        """Records whose dotted keys equal the given values (tuples and lists compare equal)."""
        return [r for r in self.records() if _matches(r, where)]

    def is_complete(self, rid: str) -> bool:
        """Whether run ``rid`` finished (complete or diverged: both are final outcomes), by
        whatever code; :meth:`is_current` also asks that the current code made it."""
        record = self.read(rid)
        return record is not None and record["status"] in FINAL

    def is_current(self, rid: str) -> bool:
        """Whether run ``rid`` finished with the current result-determining code (not
        :func:`stale`): such a run is skipped; a finished but stale one is retrained."""
        record = self.read(rid)
        return record is not None and record["status"] in FINAL and not stale(record)


def summarise(records: Iterable[Record], by: Sequence[str],
              metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Group records by the dotted keys ``by`` and give each group's seeds' mean and std.

    Why here: every figure of the paper is "metric against setting, mean and std over seeds,
    divergent runs reported" (App. B); chapters call this instead of re-deriving it. Each row
    holds the ``by`` values, ``n`` (complete runs), ``diverged`` and ``failed`` counts, the
    seeds, and ``<metric>_mean`` / ``<metric>_std`` (NaN when no run completed; ``<metric>``
    without its ``metrics.`` prefix). Rows are in order of first appearance.
    """
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        values = [lookup(record, key) for key in by]
        values = [None if v is _MISSING else v for v in values]
        key = json.dumps(_canonical(values))
        row = groups.setdefault(key, {**dict(zip(by, values, strict=True)), "n": 0,
                                      "diverged": 0, "failed": 0, "seeds": [], "_values": {}})
        status = record["status"]
        if status != "complete":
            row[status] += 1
            continue
        row["n"] += 1
        row["seeds"].append(record["seed"])
        for metric in metrics:
            value = lookup(record, metric)
            row["_values"].setdefault(metric, []).append(
                np.nan if value is _MISSING or value is None else float(value))
    rows = []
    for row in groups.values():
        values = row.pop("_values")
        for metric in metrics:
            v = np.asarray(values.get(metric, []), np.float64)
            name = metric.removeprefix("metrics.")  # "metrics.tp_at_fp_0.01" -> "tp_at_fp_0.01"
            row[f"{name}_mean"] = float(v.mean()) if v.size else float("nan")
            row[f"{name}_std"] = float(v.std()) if v.size else float("nan")
        rows.append(row)
    return rows
