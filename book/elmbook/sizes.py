"""Where a model's parameter count differs from the paper's: what single setting would close it.

Why: the paper states some model sizes only as rounded counts ("~200k", "186K params"). When the
configuration it states gives another count, the page must say so and say how far apart they
are; the useful explanation is which one setting of the stated configuration would have to differ,
and by how much, for the counts to agree. If none is a plausible reading of the paper, the gap is
in the paper's count, and the book keeps the stated configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from elm.experiments import configs


@dataclass(frozen=True)
class Candidate:
    """The value of one setting whose count comes closest to the paper's."""

    setting: str
    stated: int
    value: int
    params: int


def count(name: str, overrides: dict[str, int] | None = None) -> int:
    """Trainable parameters of the paper experiment ``name`` with ``overrides`` applied."""
    experiment = configs.get(name)
    return configs.override(experiment, overrides or {}).param_count()


def closest(name: str, setting: str, target: int, low: int, high: int) -> Candidate:
    """The value of ``setting`` in [low, high] whose count is closest to ``target``.

    The count grows with every integer setting this is asked about (sizes of layers), so a
    bisection finds the crossing in a few model builds instead of one per value.
    """
    config = configs.get(name).elm_config()
    stated = config.hidden if setting == "d_mlp" else int(getattr(config, setting))
    lo, hi = low, high
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count(name, {setting: mid}) < target:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda v: abs(count(name, {setting: v}) - target))
    return Candidate(setting, stated, best, count(name, {setting: best}))


def candidates(name: str, target: int, settings: Sequence[tuple[str, int, int]]
               ) -> list[Candidate]:
    """:func:`closest` for each ``(setting, low, high)``."""
    return [closest(name, s, target, lo, hi) for s, lo, hi in settings]


def gap_note(name: str, target: int, paper_label: str, found: Sequence[Candidate],
             source: str) -> str:
    """One paragraph for the page: our count of ``name``, the paper's (``paper_label``, e.g.
    "~200k"), and the single settings (:func:`candidates`) that would close the gap."""
    ours = count(name)
    share = (ours - target) / target
    if abs(share) < 0.005:
        return (f"`{name}`: {ours:,} trainable parameters, the paper's {paper_label} within "
                f"rounding.")
    options = " or ".join(f"`{c.setting}` = {c.value} instead of {c.stated} ({c.params:,})"
                          for c in found)
    return (f"`{name}`: the configuration of {source} gives {ours:,} trainable parameters, "
            f"{abs(share):.1%} {'below' if share < 0 else 'above'} the paper's {paper_label}. "
            f"Changing one setting alone, the count comes closest with {options}. Neither is "
            f"stated there and the paper does not say how its count was made, so the book "
            f"keeps the stated configuration and its count.")
