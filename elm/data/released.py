"""Where the authors' released NeuronIO models are, and the authors' own evaluation of them.

The 15 released Branch-ELMs (``AaronSpieler/elmneuron``, commit ``52e68a6``, folder ``models/``;
MIT licence) ship with the repository in ``data/elmneuron-pretrained/`` as NumPy arrays (see the
README there). :func:`resolve_pretrained_dir` finds them; :func:`elm.load_released` loads one
model folder; :func:`eval_results` reads the authors' ``eval_results.csv``, their evaluation of
their models on NeuronIO (their numbers, not ours).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

from elm.data.paths import REPOSITORY_DATA, DataSource

SHIPPED_DIR = REPOSITORY_DATA / "elmneuron-pretrained"
SOURCE = "AaronSpieler/elmneuron, commit 52e68a6, folder models/; MIT licence"
#: The released models: 14 sizes of the d_m sweep, and the authors' best model.
D_M_SWEEP = (1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, 50, 75, 100)
MODELS = (*(f"num_memory_{d}" for d in D_M_SWEEP), "best_elm_neuron")
HELP = ("a released-model folder holds <model>/state_dict.npz and <model>/model_config.json "
        "(the repository ships them in data/elmneuron-pretrained/; see its README)")


def _holds_models(folder: Path) -> bool:
    return folder.is_dir() and any((folder / m / "state_dict.npz").is_file() for m in MODELS)


def resolve_pretrained_dir(pretrained_dir: str | Path | None = None) -> DataSource:
    """The folder of released models and a provenance line naming them.

    Order: `pretrained_dir`, then ``$ELM_PRETRAINED_DIR``, then the repository's copy
    (``data/elmneuron-pretrained/``). An explicit `pretrained_dir` without models is an error;
    an ``ELM_PRETRAINED_DIR`` without them warns and falls back. The provenance names the
    source, never a folder of the reader's machine.
    """
    if pretrained_dir is not None:
        folder = Path(pretrained_dir)
        if not _holds_models(folder):
            raise FileNotFoundError(f"{folder}: no released models here; {HELP}")
        return DataSource(folder, f"the authors' released models ({SOURCE}), from the folder "
                                  "pretrained_dir")
    env = os.environ.get("ELM_PRETRAINED_DIR")
    if env:
        if _holds_models(Path(env)):
            return DataSource(Path(env), f"the authors' released models ({SOURCE}), from "
                                         "$ELM_PRETRAINED_DIR")
        warnings.warn(f"ELM_PRETRAINED_DIR={env} holds no released models; using the "
                      "repository's copy in data/elmneuron-pretrained/", stacklevel=2)
    if not _holds_models(SHIPPED_DIR):
        raise FileNotFoundError(f"{SHIPPED_DIR}: the repository's copy of the released models "
                                f"is missing (an installation without the checkout?); {HELP}")
    return DataSource(SHIPPED_DIR, f"the authors' released models ({SOURCE}), the repository's "
                                   "copy in data/elmneuron-pretrained/")


#: Columns of ``eval_results.csv`` -> our names (test metrics; the csv also has train and valid).
EVAL_COLUMNS = {
    "test_results.AUC": "auc",
    "test_results.TP @ 0.0100 FP": "tp_at_fp_0.01",
    "test_results.soma_RMSE": "soma_rmse",
    "test_results.soma_explained_variance_percent": "soma_explained_variance_percent",
}


def eval_results(pretrained_dir: str | Path | None = None, split: str = "test"
                 ) -> list[dict[str, float | int | str]]:
    """The authors' evaluation of their released models (``eval_results.csv``), sorted by d_m.

    One row per model: ``name`` (the authors' run name), ``d_m``, ``params`` (their
    ``model_param_count``) and, for `split` (``"test"``, ``"valid"`` or ``"train"``), ``auc``,
    ``tp_at_fp_0.01``, ``soma_rmse`` (mV) and ``soma_explained_variance_percent``. These are the
    authors' numbers, computed with their code on NeuronIO; nothing here is recomputed.
    """
    if split not in ("test", "valid", "train"):
        raise ValueError(f"split must be 'test', 'valid' or 'train', got {split!r}")
    folder, _ = resolve_pretrained_dir(pretrained_dir)
    path = folder / "eval_results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; the authors' eval_results.csv ships in "
                                "data/elmneuron-pretrained/")
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row: dict[str, float | int | str] = {
                "name": raw["Name"], "d_m": int(raw["model_config.num_memory"]),
                "params": int(raw["model_stats.model_param_count"])}
            for column, key in EVAL_COLUMNS.items():
                row[key] = float(raw[column.replace("test_", f"{split}_", 1)])
            rows.append(row)
    return sorted(rows, key=lambda r: (r["d_m"], r["name"]))
