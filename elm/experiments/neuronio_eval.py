"""Evaluation metrics, starting with the NeuronIO protocol of Beniaguev et al. and the ELM authors.

The NeuronIO protocol (their ``evaluate_CNN_test.py``, reused by the ELM code):

1. Predict whole 6 s simulations with a model trained on 500 ms windows: windows overlap by the
   burn-in (150 ms), and from every window but the first only the part after the burn-in is
   kept, so each time step is predicted with at least 150 ms of context. The tail is
   zero-padded to a full window.
2. Spike output through a sigmoid; the soma output is divided by the training scale (0.1), so it
   is in mV relative to the -67.7 mV bias, like the target (raw soma clipped at -55 mV minus the
   bias).
3. Optionally (the authors do it, "for comparability to previous methods") the predicted soma
   trace of each file is re-standardised to the target's mean and standard deviation.
4. Simulations with more than 24 output spikes are dropped and the first 500 ms are ignored.
5. Spike ROC AUC (scikit-learn), the true-positive rate at false-positive rates 0.0025 and 0.01,
   the partial AUC up to those rates (mean TPR on [0, FP]); soma RMSE, MAE and explained variance.

Model-agnostic: a model enters only as ``predict(X_window) -> raw outputs``, with
``X_window`` of shape (batch, T, 1278) float32 (inhibitory inputs negated) and outputs (batch, T,
2): channel 0 the spike logit, channel 1 the soma in training scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import auc as area_under_curve
from sklearn.metrics import explained_variance_score, roc_curve

from elm.data.neuronio import (
    SOMA_BIAS_MV,
    SOMA_SCALE,
    SOMA_THRESHOLD_MV,
    load_decoded,
    synapse_sign,
)

Predict = Callable[[np.ndarray], np.ndarray]
FP_RATES = (0.0025, 0.01)
WINDOW_MS = 500
BURN_IN_MS = 150
IGNORE_START_MS = 500
MAX_SPIKES_PER_SIM = 24
_PARTIAL_AUC_GRID = 20_000  # FPR grid of the authors' partial AUC


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, written so large negative logits do not overflow."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def stitched_predictions(predict: Predict, X: np.ndarray, window: int = WINDOW_MS,
                         burn_in: int = BURN_IN_MS, batch_size: int | None = None) -> np.ndarray:
    """Raw outputs (n_sim, T, C) for whole simulations from overlapping windows.

    Windows start every ``window - burn_in`` steps; the first window is kept whole, later ones
    only after their burn-in, and the last is zero-padded past the end of the simulation.
    ``batch_size`` bounds how many simulations go through ``predict`` at once.
    """
    if not 0 <= burn_in < window:
        raise ValueError(f"burn_in ({burn_in}) must be in [0, window={window})")
    n_sim, n_t = X.shape[:2]
    step = window - burn_in
    batch_size = batch_size or n_sim
    out: np.ndarray | None = None
    start = 0
    while True:
        chunk = X[:, start:start + window]
        if chunk.shape[1] < window:
            pad = np.zeros((n_sim, window - chunk.shape[1], *X.shape[2:]), dtype=X.dtype)
            chunk = np.concatenate([chunk, pad], axis=1)
        pred = np.concatenate([np.asarray(predict(chunk[i:i + batch_size]))
                               for i in range(0, n_sim, batch_size)])
        if pred.shape[:2] != (n_sim, window):
            raise ValueError(f"predict returned shape {pred.shape}, expected "
                             f"({min(batch_size, n_sim)}, {window}, C) per call")
        if out is None:
            out = np.zeros((n_sim, n_t, pred.shape[2]), dtype=np.float64)
        keep = 0 if start == 0 else burn_in
        end = min(start + window, n_t)
        out[:, start + keep:end] = pred[:, keep:end - start]
        if start + window >= n_t:
            return out
        start += step


def neuronio_predictions(predict: Predict, X: np.ndarray, soma: np.ndarray,
                         window: int = WINDOW_MS, burn_in: int = BURN_IN_MS,
                         restandardise: bool = True, batch_size: int | None = None,
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spike probabilities, predicted soma and target soma (mV re bias) for one file's runs.

    `X` is the reader's raw binary input; the sign convention is applied here.
    `restandardise` matches the predicted soma's mean and std to the target's over the file,
    as the authors do; it changes RMSE, MAE and explained variance (in either direction, since it
    also rescales the prediction's spread), so report which one you use.
    """
    raw = stitched_predictions(predict, X.astype(np.float32) * synapse_sign(X.shape[-1]),
                               window, burn_in, batch_size)
    spike_prob = sigmoid(raw[..., 0])
    soma_pred = raw[..., 1] / SOMA_SCALE
    soma_true = np.minimum(soma.astype(np.float64), SOMA_THRESHOLD_MV) - SOMA_BIAS_MV
    if restandardise:
        soma_pred = (soma_pred - soma_pred.mean()) / soma_pred.std()
        soma_pred = soma_pred * soma_true.std() + soma_true.mean()
    return spike_prob, soma_pred, soma_true


def tp_at_fp(y: np.ndarray, score: np.ndarray, fp_rate: float) -> float:
    """True-positive rate at the ROC point whose false-positive rate is nearest `fp_rate`.

    As the authors: the ROC's first point (FPR 0, TPR 0) is never chosen, and among points of
    equal FPR the first (lowest TPR) wins, so a perfect ranking with distinct scores reports
    the TPR of its first threshold. Kept for comparability with the published numbers.
    """
    fpr, tpr, _ = roc_curve(y.ravel(), score.ravel())
    i = int(np.argmin(np.abs(fpr - fp_rate)))
    return float(tpr[max(i, 1)])


def partial_auc(y: np.ndarray, score: np.ndarray, fp_rate: float) -> float:
    """Mean TPR over FPR in [0, fp_rate): the authors' "AUC @ FP" (1.0 is perfect).

    The ROC is linearly interpolated onto 20 000 evenly spaced FPRs and averaged up to the grid
    point nearest `fp_rate` (at least one point).
    """
    fpr, tpr, _ = roc_curve(y.ravel(), score.ravel())
    grid = np.linspace(0.0, 1.0, _PARTIAL_AUC_GRID)
    tpr_grid = np.interp(grid, fpr, tpr)
    n = min(max(1, int(np.argmin(np.abs(grid - fp_rate)))), grid.size - 1)
    return float(tpr_grid[:n].mean())


def neuronio_metrics(spikes: np.ndarray, spike_prob: np.ndarray, soma_true: np.ndarray,
                     soma_pred: np.ndarray, fp_rates: Sequence[float] = FP_RATES,
                     ignore_start: int = IGNORE_START_MS,
                     max_spikes: int = MAX_SPIKES_PER_SIM) -> dict[str, float]:
    """The protocol's numbers from (n_sim, T) arrays; spike metrics are NaN without spikes.

    Runs with more than `max_spikes` spikes (counted over the whole run) are dropped, since
    bursting runs dominate the positives; the first `ignore_start` ms hold the simulation's
    initial transient and are ignored.
    """
    keep = spikes.sum(axis=1) <= max_spikes
    if not keep.any():
        raise ValueError(f"all {keep.size} simulations have more than {max_spikes} output "
                         "spikes; the protocol drops them, so nothing is left to evaluate")
    y = spikes[keep, ignore_start:].ravel()
    p = spike_prob[keep, ignore_start:].ravel()
    v_true = soma_true[keep, ignore_start:].ravel()
    v_pred = soma_pred[keep, ignore_start:].ravel()
    result: dict[str, float] = {
        "n_simulations": float(spikes.shape[0]),
        "fraction_simulations_kept": float(keep.mean()),
    }
    both_classes = 0 < y.sum() < y.size
    if both_classes:
        fpr, tpr, _ = roc_curve(y, p)
        result["auc"] = float(area_under_curve(fpr, tpr))
    else:
        result["auc"] = float("nan")
    for fp in fp_rates:
        result[f"tp_at_fp_{fp:g}"] = tp_at_fp(y, p, fp) if both_classes else float("nan")
        result[f"auc_at_fp_{fp:g}"] = partial_auc(y, p, fp) if both_classes else float("nan")
    err = v_pred - v_true
    result["soma_rmse_mv"] = float(np.sqrt(np.mean(err**2)))
    result["soma_mae_mv"] = float(np.mean(np.abs(err)))
    result["soma_explained_variance_percent"] = 100.0 * float(
        explained_variance_score(v_true, v_pred))
    return result


def evaluate_neuronio(predict: Predict, files: Sequence[str | Path], window: int = WINDOW_MS,
                      burn_in: int = BURN_IN_MS, restandardise: bool = True,
                      batch_size: int | None = None) -> dict[str, float]:
    """Run the whole protocol over NeuronIO files (one file in memory at a time)."""
    if not files:
        raise ValueError("evaluate_neuronio needs at least one file")
    parts: list[tuple[np.ndarray, ...]] = []
    for path in files:
        packed, spikes, soma = load_decoded(path)
        prob, pred, true = neuronio_predictions(predict, packed[:], soma, window, burn_in,
                                                restandardise, batch_size)
        parts.append((spikes, prob, true, pred))
    spikes, prob, true, pred = (np.concatenate(a) for a in zip(*parts, strict=True))
    return neuronio_metrics(spikes, prob, true, pred)
