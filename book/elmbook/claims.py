"""The paper's claims, each with what the results snapshot says about it.

Why: a figure shows numbers; a reader wants to know whether the paper's sentence holds. Each
results chapter ends with a table of the claims it can test, quoted, and for each a verdict
computed from the records with the seeds and spread behind it: **supports**, **contradicts** or
**cannot decide**. The verdicts are deliberately plain: a one-sided Welch t-test between two
groups of seeds at the 5 % level, and nothing with fewer than three seeds a side.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from elmbook import plots

SUPPORTS, CONTRADICTS, UNDECIDED = "supports", "contradicts", "cannot decide"
#: Fewer seeds than this on either side decide nothing.
MIN_SEEDS = 3
ALPHA = 0.05


@dataclass(frozen=True)
class Verdict:
    """What the records say about one claim, and the numbers that say it."""

    outcome: str  # SUPPORTS | CONTRADICTS | UNDECIDED
    evidence: str


@dataclass(frozen=True)
class Claim:
    """A sentence of the paper (quoted), where it stands, and the snapshot's verdict."""

    quote: str
    where: str
    verdict: Verdict
    test: str = ""  # the comparison that stands for the sentence here, in words


def _group(name: str, values: np.ndarray, digits: int) -> str:
    if not values.size:
        return f"{name} no run"
    shown = plots.mean_std(float(values.mean()), float(values.std()), digits, n=values.size)
    return f"{name} {shown} (n {values.size})"


def _p_greater(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided Welch p-value that ``x`` is greater; no spread on either side: the means
    decide (0 or 1), where the t-test has no answer."""
    if x.std() == 0 and y.std() == 0:
        return 0.0 if x.mean() > y.mean() else 1.0
    with warnings.catch_warnings():  # near-identical seeds: scipy warns, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(x, y, equal_var=False, alternative="greater").pvalue)


def ahead(a: Sequence[float], b: Sequence[float], *, names: tuple[str, str] = ("A", "B"),
          higher_is_better: bool = True, digits: int = 3) -> Verdict:
    """Whether ``a`` is better than ``b`` (higher, or lower with ``higher_is_better=False``).

    Supports when a one-sided Welch t-test finds ``a`` better at :data:`ALPHA`, contradicts when
    it finds ``b`` better, and cannot decide otherwise or with under :data:`MIN_SEEDS` finite
    values on either side (NaN values, e.g. of a diverged run, are left out and counted).
    """
    x, y = (np.asarray([v for v in g if v is not None and math.isfinite(v)], np.float64)
            for g in (a, b))
    left_out = len(a) + len(b) - x.size - y.size
    note = f"; {left_out} non-finite left out" if left_out else ""
    if min(x.size, y.size) < MIN_SEEDS:
        return Verdict(UNDECIDED, f"{_group(names[0], x, digits)} vs "
                                  f"{_group(names[1], y, digits)}: under {MIN_SEEDS} seeds a "
                                  f"side{note}")
    sign = 1.0 if higher_is_better else -1.0
    better, worse = _p_greater(sign * x, sign * y), _p_greater(sign * y, sign * x)
    outcome = SUPPORTS if better < ALPHA else CONTRADICTS if worse < ALPHA else UNDECIDED
    p = min(better, worse)
    return Verdict(outcome, f"{_group(names[0], x, digits)} vs {_group(names[1], y, digits)}; "
                            f"one-sided Welch p = {p:.2g}{note}")


def tally(claims: Sequence[Claim]) -> str:
    """``"8 supports, 0 contradicts, 4 cannot decide"``: a claims table's caption in brief."""
    return ", ".join(f"{sum(c.verdict.outcome == o for c in claims)} {o}"
                     for o in (SUPPORTS, CONTRADICTS, UNDECIDED))


def table(claims: Sequence[Claim]) -> plots.Table:
    """The chapter's closing table: the quote, where it stands, what was compared, the verdict
    and its evidence. A sentence tested by several comparisons is quoted once, on its first
    row; the rows below it say ``(same sentence)``."""
    rows, last = [], None
    for c in claims:
        said = "(same sentence)" if c.quote == last else f"“{c.quote}”"
        rows.append([said, c.where, c.test, c.verdict.outcome, c.verdict.evidence])
        last = c.quote
    return plots.Table(["the paper says", "where", "tested here as", "the snapshot", "evidence"],
                       rows)
