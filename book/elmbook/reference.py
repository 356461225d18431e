"""The paper's published numbers, shipped with the package as labelled reference tables.

Why a module: chapters must show the paper's values beside computed ones without depending on
anything outside the repository, and must never confuse the two. Every table here is typed from
the paper; ``book/elmbook/reference_data/README.md`` cites table and section for each file.
"""

from __future__ import annotations

import csv
from importlib import resources

#: Section 3.1 (after Beniaguev et al. 2021): the spike AUC "over 0.991" that a model must reach
#: to count as fitting the cortical neuron.
AUC_THRESHOLD = 0.991

TABLES = (
    "table_1_lra",
    "table_s1_defaults",
    "table_s2_elm_lra_config",
    "table_s3_chrono_lstm_lra_config",
    "table_s4_tiny_models_neuronio",
    "table_s5_branch_elm_neuronio",
    "table_s6_elm_neuronio",
    "table_s7_lstm_neuronio",
    "table_s8_shd",
    "table_s9_shd_adding",
)


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # e.g. "FAIL" in Table 1, model names


def load(name: str) -> list[dict[str, float | str]]:
    """Rows of a reference table as dicts; numeric cells become floats."""
    if name not in TABLES:
        raise KeyError(f"no reference table {name!r}; available: {', '.join(TABLES)}")
    text = (resources.files("elmbook") / "reference_data" / f"{name}.csv").read_text()
    return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(text.splitlines())]
