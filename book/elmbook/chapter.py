"""What every results chapter does first: check its parameters, find its results store, and make
sure the runs behind its figures exist.

Why one module: the chapters used to copy these blocks and each handled a failed or missing run
differently. Here there is one policy, :func:`ensure_runs`:

* at ``smoke`` and ``demo`` the chapter trains what the store lacks (a sweep on this machine),
  and a run that then failed or is still missing stops the chapter with the run ids, the store
  and the command that remakes them: a page must never show a figure with runs silently left
  out;
* at ``paper`` the chapter trains nothing (those runs come from a cluster), reports what is
  missing or failed with the command that makes it, and draws what the store holds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from elm.experiments import configs, sweep
from elm.experiments.records import RunRecord
from elm.experiments.results import DEFAULT_ROOT_ENV, ResultsStore
from elm.experiments.sweep import RunSpec
from elmbook import REPOSITORY, plots

#: The book's results store unless ``out_dir`` or ``$ELM_RESULTS_DIR`` says otherwise.
BOOK_RESULTS = REPOSITORY / "data" / "results"
#: Sweep specs live beside the chapters.
SWEEPS = REPOSITORY / "book" / "sweeps"


@dataclass(frozen=True)
class Chapter:
    """A chapter's parameters after checking, and the clock its footer reads."""

    scale: str
    data_dir: str | None
    results: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def store(self) -> ResultsStore:
        return ResultsStore(self.results)

    def spec(self, stem: str) -> Path:
        """The sweep spec that says what ``stem``'s runs are at this chapter's scale:
        ``book/sweeps/<stem>_<scale>.yaml`` at ``smoke`` and ``demo``, ``<stem>.yaml`` at
        ``paper``.

        Why a file per scale: which seeds, variants and training settings a scale runs is part
        of the experiment, written (with its reasons) in the spec, never chosen in a chapter.
        """
        path = SWEEPS / (f"{stem}.yaml" if self.scale == "paper" else f"{stem}_{self.scale}.yaml")
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no sweep spec for {stem!r} at scale "
                                    f"{self.scale!r}")
        return path

    def runs(self, *stems: str) -> list[RunSpec]:
        """The runs of the specs (:meth:`spec`) of ``stems``, on the chapter's data folder."""
        return load_runs([self.spec(s) for s in stems], data_dir=self.data_dir)

    def footer(self, note: str = "") -> str:
        """Wall and CPU time of the chapter so far (CPU includes the training processes)."""
        cpu = os.times()
        cpu_s = cpu.user + cpu.system + cpu.children_user + cpu.children_system
        return (f"chapter wall time: {time.perf_counter() - self.started:.0f} s (scale "
                f"{self.scale!r}{'; ' + note if note else ''}); CPU time {cpu_s:.0f} s on "
                f"{os.cpu_count()} cores; load average at the end {os.getloadavg()[0]:.1f}")


def load_runs(specs: Sequence[Path], *, scale: str | None = None,
              data_dir: str | None = None) -> list[RunSpec]:
    """The runs of several sweep specs, each run once (specs may share points), in order."""
    runs: dict[str, RunSpec] = {}
    for spec in specs:
        for r in sweep.load_spec(spec, scale=scale, data_dir=data_dir):
            runs.setdefault(r.run_id, r)
    return list(runs.values())


def results_root(out_dir: str | Path | None = None) -> Path:
    """``out_dir``, else ``$ELM_RESULTS_DIR``, else the repository's ``data/results``."""
    if out_dir is not None:
        return Path(out_dir)
    return Path(os.environ.get(DEFAULT_ROOT_ENV) or BOOK_RESULTS)


def setup(scale: str, data_dir: str | Path | None = None, out_dir: str | Path | None = None,
          ) -> Chapter:
    """Check the papermill parameters, set the figure style, and start the chapter's clock."""
    if scale == "study":
        raise ValueError("scale 'study' is the committed results snapshot's scale (data/snapshot): "
                         "remake it with the commands of elmbook.snapshot, and run a chapter at "
                         "'smoke', 'demo' or 'paper'")
    if scale not in configs.SCALES:
        raise ValueError(f"scale must be one of {configs.SCALES}, got {scale!r}")
    plots.apply_style()
    chapter = Chapter(scale, None if data_dir is None else str(data_dir), results_root(out_dir))
    print(f"scale = {scale!r}; results store: {chapter.results}")
    return chapter


def spec_path(name: str) -> Path:
    """``book/sweeps/<name>``."""
    return SWEEPS / name


def sweep_command(spec: str, chapter: Chapter) -> str:
    """The shell command that makes a spec's runs at the chapter's scale and store."""
    data = f" --data-dir {chapter.data_dir}" if chapter.data_dir else ""
    return (f"python -m elm.sweep book/sweeps/{spec} --scale {chapter.scale}{data} "
            f"--out-dir {chapter.results}")


@dataclass(frozen=True)
class RunSet:
    """The runs behind a chapter's figures and what the store holds of them (typed records)."""

    runs: list[RunSpec]
    records: dict[str, RunRecord]  # run id -> record, for the runs the store holds
    missing: list[RunSpec]
    failed: list[RunRecord]
    seconds: float

    def usable(self) -> list[RunRecord]:
        """Records of complete and diverged runs, in the runs' order (failed ones left out)."""
        return [self.records[r.run_id] for r in self.runs
                if r.run_id in self.records and not self.records[r.run_id].failed]

    def json(self) -> list[dict]:
        """:meth:`usable` as the stored JSON, for the aggregation functions that group by
        dotted keys (``elm.experiments.results.summarise``)."""
        return [dict(r.raw) for r in self.usable()]

    def summary(self) -> str:
        statuses = [rec.status for rec in self.records.values()]
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in ("complete", "diverged", "failed"))
        return (f"{len(self.runs)} runs: {counts}, {len(self.missing)} not in the store "
                f"({self.seconds:.0f} s; runs already in the store are not retrained)")


def ensure_runs(chapter: Chapter, runs: Sequence[RunSpec], specs: Sequence[str]) -> RunSet:
    """Train what the store lacks (not at ``paper``), read it back, apply the one policy."""
    t0 = time.perf_counter()
    runs = list(runs)
    if chapter.scale != "paper":
        sweep.run_sweep(runs, chapter.results, workers=2, progress=False)
    store = chapter.store
    records = {r.run_id: RunRecord.from_json(rec, str(store.path(r.run_id)))
               for r in runs if (rec := store.read(r.run_id)) is not None}
    missing = [r for r in runs if r.run_id not in records]
    failed = [rec for rec in records.values() if rec.failed]
    result = RunSet(runs, records, missing, failed, time.perf_counter() - t0)
    if missing or failed:
        commands = "\n".join(sweep_command(s, chapter) for s in specs)
        problem = (f"{len(missing)} of {len(runs)} runs are not in the store {chapter.results}"
                   f"{': ' + ', '.join(r.run_id for r in missing[:8]) if missing else ''}; "
                   f"{len(failed)} failed"
                   f"{': ' + '; '.join(_failure(rec) for rec in failed[:4]) if failed else ''}.\n"
                   f"Make them with:\n{commands}")
        if chapter.scale != "paper":
            raise RuntimeError(problem)
        print(problem)
    print(result.summary())
    return result


def _failure(record: RunRecord) -> str:
    error = record.error or {}
    return f"{record.run_id} ({error.get('type', '?')}: {error.get('message', '')[:160]})"
