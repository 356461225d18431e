"""How much the results snapshot trains, beside the paper's protocol: chapter 2's section 4.

Why a module: the snapshot's runs (the ``study`` scale, :data:`elm.experiments.configs.STUDY`,
plus what each spec ``book/sweeps/study_<family>.yaml`` overrides) are a small fraction of the
paper's training, and a reader weighing the snapshot's results needs that fraction per family.
Typed into a page, it would drift from the specs and the configs; here every cell is computed from
them (:func:`family_budget`): the runs of a spec as :func:`elm.experiments.sweep.load_spec` expands
them, the training of each run as :func:`elm.experiments.configs.get` at a scale and
:func:`~elm.experiments.configs.override` give it, and what the snapshot holds from its records
(:func:`elmbook.snapshot.coverage`). :func:`table_rows` lays it out as chapter 2 shows it, and
``tests/test_budgets.py`` checks it against App. B's numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from elm.experiments import configs
from elm.experiments.records import RunRecord
from elm.experiments.sweep import RunSpec
from elmbook import snapshot

#: How many runs the paper reports per result (App. B), per dataset family (configs.family).
PAPER_RUNS: dict[str, int] = {
    "neuronio": 3,  # App. B, NeuronIO: "The mean and standard deviation over three runs"
    "shd": 5,  # App. B, SHD (Adding): "mean and standard deviation calculated over five runs"
    "lra": 3,  # App. B, LRA: "The mean over three runs is reported for all experiments"
}

#: The columns of :func:`table_rows`.
HEADER = ["spec (book/sweeps/)", "experiments", "runs (points × seeds)", "seeds",
          "study: steps × batch", "study: learning rate",
          "paper: steps × batch", "paper: learning rate", "paper: runs per result",
          "study steps / paper steps", "runs held", "their wall time (h)",
          "all runs at that pace (h)", "remake or resume"]


@dataclass(frozen=True, order=True)
class Budget:
    """One run's training: optimiser steps (epochs × batches per epoch), batch size and peak
    learning rate."""

    steps: int
    batch_size: int
    learning_rate: float


def budget(run: RunSpec, scale: str, with_overrides: bool = True) -> Budget:
    """The training of ``run``'s experiment at ``scale``: with the run's overrides (a spec's
    learning rate, say), or without them (the paper's own protocol at scale "paper")."""
    experiment = configs.get(run.experiment, scale)
    if with_overrides:
        experiment = configs.override(experiment, run.overrides)
    train = experiment.train
    return Budget(train.steps, train.batch_size, train.learning_rate)


def by_dataset(runs: Iterable[RunSpec], scale: str,
               with_overrides: bool = True) -> dict[str, list[Budget]]:
    """Dataset -> the distinct budgets of ``runs`` on it (sorted): a family's runs may differ
    between datasets (SHD and SHD-Adding: other batches per epoch) and between models (learning
    rates)."""
    out: dict[str, set[Budget]] = {}
    for run in runs:
        out.setdefault(configs.get(run.experiment).dataset, set()).add(
            budget(run, scale, with_overrides))
    return {dataset: sorted(budgets) for dataset, budgets in sorted(out.items())}


@dataclass(frozen=True)
class FamilyBudget:
    """One snapshot spec's runs, their training at the study and paper scales, and what
    the snapshot holds of them."""

    spec: str
    experiments: list[str]
    run_ids: frozenset[str]
    points: int  # distinct (experiment, overrides) pairs
    seeds: list[int]
    study: dict[str, list[Budget]]  # dataset -> budgets, the spec's overrides applied
    paper: dict[str, list[Budget]]  # the paper's protocol: scale "paper", no overrides
    paper_runs: list[int]  # the paper's runs per result, over the spec's dataset families
    #: run id -> wall time (s) of each usable record the snapshot holds (snapshot.Coverage.usable;
    #: a record that states none counts 0)
    held: dict[str, float]
    machines: frozenset[str]  # the held records' hardware, in words
    command: str

    @property
    def runs(self) -> int:
        return len(self.run_ids)

    @property
    def wall_time_s(self) -> float:
        return sum(self.held.values())

    @property
    def projected_s(self) -> float | None:
        """The wall time of all the spec's runs at the mean pace of the held ones (None when
        none is held): what the rest of the family would cost on the same machine."""
        return self.wall_time_s / len(self.held) * self.runs if self.held else None

    def fractions(self) -> dict[str, float]:
        """Dataset -> the study's steps as a fraction of the paper's (the largest of each)."""
        return {dataset: max(b.steps for b in self.study[dataset])
                / max(b.steps for b in self.paper[dataset]) for dataset in self.study}


def machine(record: RunRecord) -> str:
    """A record's hardware in words: "AMD EPYC, 2 cores (cpu)"."""
    hw = record.hardware
    return (f"{hw.get('cpu', 'unrecorded processor')}, {hw.get('cpu_count', '?')} cores "
            f"({hw.get('platform', 'unrecorded platform')})")


def family_budget(spec: str, root: Path | None = None) -> FamilyBudget:
    """The budget of snapshot spec ``spec`` (one of :data:`elmbook.snapshot.SPECS`), with what
    the snapshot at ``root`` (default :data:`elmbook.snapshot.SNAPSHOT`) holds of it."""
    cover = snapshot.coverage(spec, root)
    runs = cover.runs
    # one run per point (a run less its seed): a point's seeds train alike
    points = list({dataclasses.replace(r, seed=0).run_id: r for r in runs}.values())
    datasets = {configs.get(r.experiment).dataset for r in points}
    return FamilyBudget(
        spec=spec, experiments=list(dict.fromkeys(r.experiment for r in runs)),
        run_ids=frozenset(r.run_id for r in runs), points=len(points),
        seeds=sorted({r.seed for r in runs}),
        study=by_dataset(points, "study"),
        paper=by_dataset(points, "paper", with_overrides=False),
        paper_runs=sorted({PAPER_RUNS[configs.family(d)] for d in datasets}),
        held={r.run_id: r.wall_time_s or 0.0 for r in cover.usable},
        machines=frozenset(machine(r) for r in cover.usable), command=snapshot.command(spec))


def _per_dataset(values: Mapping[str, str]) -> str:
    """One value if every dataset has the same, else "dataset: value" for each."""
    if len(set(values.values())) == 1:
        return next(iter(values.values()))
    return "; ".join(f"{dataset}: {value}" for dataset, value in values.items())


def _steps(budgets: Mapping[str, Sequence[Budget]]) -> str:
    return _per_dataset({d: ", ".join(dict.fromkeys(f"{b.steps:,} × {b.batch_size}" for b in bs))
                         for d, bs in budgets.items()})


def _rates(budgets: Mapping[str, Sequence[Budget]]) -> str:
    return ", ".join(f"{rate:g}" for rate in sorted({b.learning_rate for bs in budgets.values()
                                                     for b in bs}))


def row(family: FamilyBudget) -> list[str]:
    """One line of :data:`HEADER`."""
    return [family.spec, ", ".join(family.experiments),
            f"{family.runs} ({family.points} × {len(family.seeds)})",
            ", ".join(map(str, family.seeds)), _steps(family.study), _rates(family.study),
            _steps(family.paper), _rates(family.paper),
            ", ".join(map(str, family.paper_runs)),
            _per_dataset({d: f"{f:.2%}" for d, f in family.fractions().items()}),
            f"{len(family.held)} of {family.runs}", f"{family.wall_time_s / 3600:.1f}",
            "" if family.projected_s is None else f"{family.projected_s / 3600:.1f}",
            family.command]


def families(specs: Sequence[str] = snapshot.SPECS, root: Path | None = None) -> list[FamilyBudget]:
    """:func:`family_budget` of each snapshot spec, in :data:`elmbook.snapshot.SPECS`' order."""
    return [family_budget(spec, root) for spec in specs]


def caption(rows: Sequence[FamilyBudget]) -> str:
    """The table's caption (Markdown): where each column comes from, and the snapshot's totals
    over distinct runs (a run in two specs, such as an ablation's default point, counts once)."""
    all_runs = frozenset().union(*(f.run_ids for f in rows))
    held: dict[str, float] = {}
    for f in rows:
        held.update(f.held)
    shared = sum(f.runs for f in rows) - len(all_runs)
    machines = sorted(frozenset().union(*(f.machines for f in rows)))
    made_on = f" Made on {'; '.join(machines)}." if machines else ""
    return (
        "*Table: how much the results snapshot (the `study` scale) trains, beside the paper's "
        "protocol; one row per sweep spec of the snapshot. Runs, points and seeds: the spec as "
        "`elm.experiments.sweep.load_spec` expands it. Steps (epochs × batches per epoch), batch "
        "size and learning rate: `configs.get(experiment, scale)` with the spec's overrides "
        "(`configs.override`) at the study scale, and without them at the paper scale "
        "(App. B, Tables S2 and S3); a cell lists each dataset's value where they differ. "
        "Runs per result: App. B (`elmbook.budgets.PAPER_RUNS`). Runs held and wall time: the "
        "usable records in `data/snapshot/records` and the wall time each states, summed; all "
        "runs at that pace: their mean wall time times the spec's runs (empty while none is "
        "held), a run of two specs counted in both rows."
        f"{made_on} Over all specs: {len(held)} of {len(all_runs)} distinct runs held "
        f"({shared} runs belong to two specs), {sum(held.values()) / 3600:.1f} h of wall time.*")


def table_rows(rows: Sequence[FamilyBudget]) -> list[list[str]]:
    """Chapter 2's table: one :func:`row` per snapshot spec."""
    return [row(f) for f in rows]
