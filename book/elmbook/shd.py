"""The SHD chapter's aggregation: the sample of Fig 5a, the paper's Tables S8 / S9, and the
mean and spread of our runs' accuracies."""

from __future__ import annotations

from typing import Any

import numpy as np

from elm.data import shd
from elm.experiments.results import summarise
from elmbook import plots, reference

#: Experiment name part -> model label of Tables S8 and S9.
MODEL_LABELS = {"elm": "ELM", "branch-elm": "B-ELM", "lstm": "LSTM", "snn": "SNN"}
#: Dataset -> reference table (elmbook.reference) with the paper's accuracies.
REFERENCE_TABLES = {"shd": "table_s8_shd", "shd-adding": "table_s9_shd_adding"}
ACCURACIES = ("train_accuracy", "valid_accuracy", "test_accuracy")


def model_label(experiment_name: str) -> str:
    """``"shd-adding/branch-elm/paper"`` -> ``"B-ELM"`` (the tables' label)."""
    return MODEL_LABELS[experiment_name.split("/")[1]]


def adding_sample(data_dir: Any = None, pair: int = 0, duration_s: float = 1.0
                  ) -> dict[str, Any]:
    """The raw spikes of one SHD-Adding input (Fig 5a): pair ``pair`` of the first batch of the
    authors' fixed test pairs, each digit cut at ``duration_s``, the second shifted by it.

    Returns ``times`` (s), ``units``, ``boundary`` (s), the two ``labels`` (0-19), their
    ``target`` sum, the file ``rows`` and the data ``provenance`` line.
    """
    folder, origin = shd.resolve_data_dir(data_dir)
    rec = shd.read(folder / shd.TEST_FILE)
    first, second = shd.adding_pairs(len(rec), 1, shd.BATCH_SIZE, 0)
    rows = (int(first[pair]), int(second[pair]))
    times, units = [], []
    for k, row in enumerate(rows):
        t = rec.times[rec.offsets[row]:rec.offsets[row + 1]].astype(np.float64)
        u = rec.units[rec.offsets[row]:rec.offsets[row + 1]]
        keep = t < duration_s
        times.append(t[keep] + k * duration_s)
        units.append(u[keep])
    labels = tuple(int(rec.labels[r]) for r in rows)
    return {"times": np.concatenate(times), "units": np.concatenate(units),
            "boundary": duration_s, "labels": labels,
            "target": int(shd.adding_targets(labels[0], labels[1])), "rows": rows,
            "provenance": origin}


def paper_accuracies(dataset: str) -> dict[tuple[str, float], dict[str, float]]:
    """The paper's Table S8 (SHD) or S9 (SHD-Adding): ``(model label, bin ms) -> row``."""
    return {(str(r["model"]), float(r["bin_size_ms"])): r
            for r in reference.load(REFERENCE_TABLES[dataset])}


def summarise_runs(records: list[dict[str, Any]], by: tuple[str, ...] = (
        "experiment", "data.bin_ms")) -> list[dict[str, Any]]:
    """Mean and std over seeds of the three accuracies, grouped by ``by`` (results.summarise)."""
    return summarise(records, list(by), [f"metrics.{a}" for a in ACCURACIES])


def mean_std(mean: float | None, std: float | None, n: int | None = None) -> str:
    """Tables S8 / S9's accuracies: two decimals (:func:`elmbook.plots.mean_std`)."""
    return plots.mean_std(mean, std, 2, n=n)
