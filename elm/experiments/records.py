"""A run's record as a typed object: what a chapter reads about a run, by attribute.

The store keeps records as JSON (:mod:`elm.experiments.results`), which is what makes them
portable between machines and versions; code that *reads* them should not depend on the JSON's
nesting. :meth:`RunRecord.from_json` checks the fields every record has and names the file or run
when one is missing, so a chapter fails on a malformed record with a message, not with a
``KeyError`` deep in a figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("complete", "diverged", "failed")
#: A spike AUC below this has learnt nothing usable (0.5 is chance; far below is a ranking with
#: the wrong sign, also a collapse of the spike readout).
COLLAPSED_AUC = 0.55
#: Standard errors above chance an accuracy must reach to count as learnt.
CHANCE_SE = 3.0
#: A loss curve whose last value is at least this fraction of its first never fell.
STALLED_LOSS = 0.95


class RecordError(ValueError):
    """A record that lacks a field every record has."""


@dataclass(frozen=True)
class RunRecord:
    """One run: what defined it, how it ended, what it measured and where it ran."""

    run_id: str
    experiment: str
    overrides: Mapping[str, Any]
    seed: int
    scale: str
    status: str  # complete | diverged | failed
    metrics: Mapping[str, Any] = field(default_factory=dict)  # empty unless complete
    config: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)  # provenance of the data
    steps_done: int | None = None
    diverged_at: int | None = None
    params: int | None = None
    losses: tuple[float, ...] = ()  # the (down-sampled) loss curve
    wall_time_s: float | None = None
    train_wall_time_s: float | None = None
    code_version: str = "unknown"
    hardware: Mapping[str, Any] = field(default_factory=dict)
    error: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the JSON as stored

    @classmethod
    def from_json(cls, payload: Mapping[str, Any], source: str = "record") -> RunRecord:
        """The typed view of a stored record (``source`` names it in errors)."""
        required = ("run_id", "experiment", "seed", "scale", "status")
        missing = [key for key in required if key not in payload]
        if missing:
            raise RecordError(f"{source}: not a run record, missing {missing}")
        if payload["status"] not in STATUSES:
            raise RecordError(f"{source}: status {payload['status']!r} is not one of {STATUSES}")
        curves = payload.get("curves") or {}
        return cls(
            run_id=payload["run_id"], experiment=payload["experiment"],
            overrides=dict(payload.get("overrides") or {}), seed=int(payload["seed"]),
            scale=payload["scale"], status=payload["status"],
            metrics=dict(payload.get("metrics") or {}), config=dict(payload.get("config") or {}),
            data=dict(payload.get("data") or {}), steps_done=payload.get("steps_done"),
            diverged_at=payload.get("diverged_at"), params=payload.get("params"),
            losses=tuple(curves.get("loss", ())), wall_time_s=payload.get("wall_time_s"),
            train_wall_time_s=payload.get("train_wall_time_s"),
            code_version=payload.get("code_version", "unknown"),
            hardware=dict(payload.get("hardware") or {}), error=payload.get("error"),
            raw=payload)

    @property
    def complete(self) -> bool:
        return self.status == "complete"

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def data_label(self) -> str:
        """How the run's data is described on a page (its provenance line)."""
        return str(self.data.get("description", "data not recorded"))

    @property
    def on_stand_in(self) -> bool:
        """Whether the run trained on an offline stand-in rather than real data."""
        return bool(self.data.get("stand_in", False))

    @property
    def batch_size(self) -> int | None:
        return (self.config.get("train") or {}).get("batch_size")

    @property
    def model(self) -> str:
        """The model part of the experiment name: ``"shd/branch-elm/paper"`` -> ``"branch-elm"``."""
        parts = self.experiment.split("/")
        return parts[-2] if len(parts) >= 3 else parts[-1]

    def metric(self, name: str, default: float = float("nan")) -> float:
        """A metric of a complete run, ``default`` otherwise."""
        value = self.metrics.get(name)
        return default if value is None else float(value)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    @property
    def loss_steps(self) -> tuple[int, ...]:
        """The training steps of :attr:`losses` (the stored curve is down-sampled)."""
        return tuple((self.raw.get("curves") or {}).get("step", ()))

    @property
    def collapse(self) -> str | None:
        """Why a complete run learnt nothing, or None.

        A run can end without a NaN and still have failed: its spike AUC at or below chance
        (:data:`COLLAPSED_AUC`), its accuracy within :data:`CHANCE_SE` binomial standard errors
        of chance, or a loss that never fell (:data:`STALLED_LOSS`). Pages flag these like
        divergences rather than averaging them in silently.
        """
        if not self.complete:
            return None
        auc = self.metrics.get("auc")
        if auc is not None and auc < COLLAPSED_AUC:
            return f"spike AUC {auc:.3f} (chance 0.5)"
        acc, n = self.metrics.get("test_accuracy"), self.metrics.get("n_test")
        chance = self.metrics.get("chance_accuracy", self.metrics.get("chance"))
        if acc is not None and n and chance:
            bound = chance + CHANCE_SE * math.sqrt(chance * (1 - chance) / n)
            if acc <= bound:
                return f"test accuracy {acc:.3f} within {CHANCE_SE:g} SE of chance {chance:.3f}"
        if len(self.losses) >= 10 and self.losses[-1] >= STALLED_LOSS * self.losses[0]:
            return f"loss never fell ({self.losses[0]:.3g} -> {self.losses[-1]:.3g})"
        return None
