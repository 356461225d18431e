"""The committed results snapshot: study-scale runs that the chapters show as their main result.

Why: a demo run (a few hundred steps, one seed) shows that the pipeline works, not whether the
paper's claims hold. The ``study`` scale (:data:`elm.experiments.configs.STUDY`) trains long
enough, with three seeds, for the claims to show or fail to show on a 2-core machine (budgeted
for about 10 CPU-hours; :mod:`elmbook.budgets` measures what the records took). Its records
are committed under ``data/snapshot/records`` (records only: no checkpoints), so the book reads
them offline without retraining.

Each family's runs are one sweep spec, ``book/sweeps/study_<family>.yaml``, remade or resumed by
one command (:func:`command`). A snapshot record made by other result-determining code than the
checkout's is kept (``--keep-stale``) and labelled with the commit that made it
(:func:`made_by`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elm.experiments import sweep
from elm.experiments.records import RunRecord
from elm.experiments.results import ResultsStore, stale
from elm.experiments.sweep import RunSpec
from elmbook import REPOSITORY

#: Where the snapshot's records live (``records/``; ``runs/`` and caches are not committed).
SNAPSHOT = REPOSITORY / "data" / "snapshot"
#: The snapshot's sweep specs, one per family, in ``book/sweeps/``.
SPECS = ("study_neuronio_models", "study_neuronio_ablations", "study_shd", "study_lra")


def command(spec: str) -> str:
    """The one command that remakes (or resumes) a family's part of the snapshot."""
    if spec not in SPECS:
        raise ValueError(f"no snapshot spec {spec!r}; known: {', '.join(SPECS)}")
    return (f"python -m elm.sweep book/sweeps/{spec}.yaml --out-dir data/snapshot "
            f"--keep-stale")


def made_by(record: RunRecord) -> str:
    """``""`` for a record of the checkout's result code, else a label naming the commit that
    made it, for the page to show beside its numbers."""
    if not stale(record.raw):
        return ""
    return f"made by {record.code_version}, whose result code differs from this checkout's"


@dataclass(frozen=True)
class Coverage:
    """What the snapshot holds of one spec."""

    spec: str
    runs: list[RunSpec]
    records: dict[str, RunRecord]  # run id -> record, for the runs the snapshot holds
    missing: list[RunSpec]

    @property
    def failed(self) -> list[RunRecord]:
        return [r for r in self.records.values() if r.failed]

    @property
    def usable(self) -> list[RunRecord]:
        """The records a figure draws: every held run that did not fail (diverged and
        collapsed runs stay in, for the page to name)."""
        return [r for r in self.records.values() if not r.failed]

    def note(self) -> str:
        """A caption's sentences on where the runs come from: the spec, how many of its runs
        the snapshot holds, the commit(s) that made them (and which of those differ from the
        checkout's result code, per :func:`made_by`), and the command for what is missing."""
        held = self.usable
        commits = sorted({r.code_version or "an unrecorded commit" for r in held})
        stale_labels = sorted({label for r in held if (label := made_by(r))})
        made = (f", made at {', '.join(commits)}" if commits else "")
        text = (f"Results snapshot (data/snapshot/records): {len(held)} of {len(self.runs)} runs "
                f"of book/sweeps/{self.spec}.yaml{made}.")
        if stale_labels:
            text += f" {sum(bool(made_by(r)) for r in held)} of them {'; '.join(stale_labels)}."
        elif held:
            text += " All of them with this checkout's result code."
        if self.missing or self.failed:
            text += (f" {len(self.missing) + len(self.failed)} still to train "
                     f"({command(self.spec)}).")
        return text

    def summary(self) -> str:
        n_stale = sum(bool(made_by(r)) for r in self.records.values())
        return (f"{self.spec}: {len(self.records)} of {len(self.runs)} runs in the snapshot "
                f"({len(self.failed)} failed, {n_stale} made by other code), "
                f"{len(self.missing)} still to train: {command(self.spec)}")


def coverage(spec: str, root: Path | None = None) -> Coverage:
    """The runs of ``book/sweeps/<spec>.yaml`` and which of them the snapshot at ``root``
    (default :data:`SNAPSHOT`) holds."""
    command(spec)  # refuses an unknown spec
    runs = sweep.load_spec(REPOSITORY / "book" / "sweeps" / f"{spec}.yaml")
    store = ResultsStore(root or SNAPSHOT)
    records = {r.run_id: RunRecord.from_json(raw, str(store.path(r.run_id)))
               for r in runs if (raw := store.read(r.run_id)) is not None}
    return Coverage(spec, runs, records, [r for r in runs if r.run_id not in records])


def footprint(root: Path | None = None) -> tuple[int, int]:
    """(number of records, their bytes on disk): the snapshot's size as the README states it."""
    files = sorted(((root or SNAPSHOT) / "records").glob("*.json"))
    return len(files), sum(f.stat().st_size for f in files)
