"""Chapter 6's claims: the paper's sentences on Table 1 and on the synaptic time constant
(the note to Table S2, the Fig S6 caption), tested on the snapshot.

Why a module of its own: each sentence becomes comparisons between two groups of seeds (which
task, which model, which tau_s, which measure), and that choice is what a reader should be able to
check; :mod:`elmbook.claims` does the statistics, one value per seed.

The snapshot's LRA runs train on generated stand-ins (:mod:`elm.data.lra_generate`), not on
LRA's data: ListOps expressions of 20-200 tokens instead of 500-2,000, and 32x32 Pathfinder
pictures in place of Path-X, on which the paper's sentences about tau_s were made. A verdict
therefore says how two groups rank on a stand-in after the snapshot's training, which is evidence
about the direction of a sentence, not a replication of its numbers; every row's "tested here as"
names the stand-in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from elm.experiments import configs
from elm.experiments.records import RunRecord
from elm.experiments.sweep import RunSpec
from elmbook import claims, lra

QUOTES = {
    "table1": ("The ELM neuron routinely scores higher than the Chrono-LSTM or the much larger "
               "Transformer or Longformer", "Table 1 caption"),
    "tableS2": ("The ELM used a synapse tau of 150ms on the Pathfinder-X dataset, which we "
                "observed to increase the learning speed significantly, however, smaller synapse "
                "tau can also work", "note to Table S2"),
    "figS6": ("While reliably achieving high performance requires larger τ_s, smaller timescales "
              "can achieve even higher performance, although less reliably and take longer to "
              "pick up on learning signal", "Fig S6 caption"),
}
#: What each task's stand-in is, for the "tested here as" column.
STAND_IN = {"listops": "ListOps stand-in (generated expressions, not LRA's data)",
            "pathfinder": "Pathfinder stand-in (generated 32x32 pictures, not LRA's Path-X)"}


def _test_accuracy(record: RunRecord) -> float:
    return record.metric("test_accuracy")


def _final_loss(record: RunRecord) -> float:
    return record.final_loss


def table1_claims(records: Sequence[RunRecord], runs: Sequence[RunSpec]) -> list[claims.Claim]:
    """Table 1's caption: the ELM's test accuracy above the Chrono-LSTM's, on every task that
    the spec (``runs``) trains both on, in Table 1's order."""
    done = lra.table1(records)
    planned = {(lra.task_of(r), lra.model_of(r)) for r in runs if not lra.is_fig_s6_only(r)}
    models = ("elm", "chrono-lstm")
    names = (lra.MODELS[models[0]], lra.MODELS[models[1]])
    out = []
    for task in lra.TASKS:
        if not all((task, m) in planned for m in models):
            continue
        a, b = ([_test_accuracy(r) for r in done.get((task, m), [])] for m in models)
        out.append(claims.Claim(*QUOTES["table1"], claims.ahead(a, b, names=names),
                                f"{STAND_IN[task]}: test accuracy, {names[0]} above {names[1]}"))
    return out


def spec_taus(runs: Sequence[RunSpec]) -> tuple[str, list[float]]:
    """The task whose ELM Fig S6 varies in the spec and its tau_s values (ms), smallest first:
    the configuration's tau_s for a run that does not override it."""
    varied = [r for r in runs if r.experiment == lra.fig_s6_experiment(r.scale)]
    default = float(configs.get(varied[0].experiment).model_args["tau_s"])
    taus = sorted({float(r.overrides.get("tau_s", default)) for r in varied})
    return lra.task_of(varied[0]), taus


def tau_claims(records: Sequence[RunRecord], runs: Sequence[RunSpec]) -> list[claims.Claim]:
    """The sentences on tau_s, each a comparison of the spec's longest tau_s (the paper's
    150 ms) against every shorter one, shortest first: the note to Table S2 on the training
    loss at the end of the run (at a fixed budget, the faster learner is further down; the loss
    is the last point of the stored curve, a mean over its last steps), the Fig S6 caption on
    test accuracy. The note's "smaller synapse tau can also work" is no ranking and is not
    tested."""
    task, taus = spec_taus(runs)
    *shorter, longest = taus
    by_tau = lra.fig_s6(records, runs[0].scale).by_tau
    measures: tuple[tuple[str, str, Callable[[RunRecord], float], bool], ...] = (
        ("tableS2", "training loss at the end of the run", _final_loss, False),
        ("figS6", "test accuracy", _test_accuracy, True))
    out = []
    for quote, what, value, higher in measures:
        for tau in shorter:
            names = (f"τ_s {longest:g} ms", f"τ_s {tau:g} ms")
            verdict = claims.ahead([value(r) for r in by_tau.get(longest, [])],
                                   [value(r) for r in by_tau.get(tau, [])], names=names,
                                   higher_is_better=higher)
            test = (f"{STAND_IN[task]}, ELM neuron: {what}, {names[0]} "
                    f"{'above' if higher else 'below'} {names[1]}")
            out.append(claims.Claim(*QUOTES[quote], verdict, test))
    return out


def snapshot_claims(records: Sequence[RunRecord], runs: Sequence[RunSpec]
                    ) -> list[claims.Claim]:
    """Chapter 6's claims table from the snapshot's LRA records. Which tasks and tau_s values
    are compared comes from the snapshot's spec (``runs``: its RunSpecs), so the table has the
    same rows however much of the spec the snapshot holds; a group it lacks gives "cannot
    decide" (no run)."""
    return table1_claims(records, runs) + tau_claims(records, runs)
