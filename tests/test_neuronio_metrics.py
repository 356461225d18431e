"""The NeuronIO evaluation protocol: stitching, spike ROC metrics, soma metrics, filtering."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from elm.data.neuronio import SOMA_BIAS_MV, SOMA_SCALE
from elm.experiments.neuronio_eval import (
    evaluate_neuronio,
    neuronio_metrics,
    neuronio_predictions,
    partial_auc,
    sigmoid,
    stitched_predictions,
    tp_at_fp,
)


def _position_model(X: np.ndarray) -> np.ndarray:
    """Echo the absolute time stored in channel 0, and the step's position inside its window."""
    pos = np.broadcast_to(np.arange(X.shape[1], dtype=float), X.shape[:2])
    return np.stack([X[..., 0], pos], axis=-1)


def _reference_stitch(predict, X, window, burn_in):
    """The authors' loop, restated: fixed number of splits, first whole, later after burn-in."""
    n_sim, n_t = X.shape[:2]
    out = np.zeros((n_sim, n_t, 2))
    n_splits = int(2 + (n_t - window) / (window - burn_in))
    for k in range(n_splits):
        s = k * (window - burn_in)
        chunk = X[:, s:s + window]
        chunk = np.concatenate([chunk, np.zeros((n_sim, window - chunk.shape[1], X.shape[2]))], 1)
        pred = predict(chunk)
        if k == 0:
            out[:, :s + window] = pred[:, :n_t]
        elif k == n_splits - 1:
            t0 = s + burn_in
            out[:, t0:] = pred[:, burn_in:burn_in + n_t - t0]
        else:
            out[:, s + burn_in:s + window] = pred[:, burn_in:]
    return out


@pytest.mark.parametrize("n_t", [6000, 1234, 850, 500])
def test_stitching_gives_every_step_its_own_input_and_enough_context(n_t):
    X = np.zeros((2, n_t, 3))
    X[..., 0] = np.arange(n_t)
    out = stitched_predictions(_position_model, X, window=500, burn_in=150)
    np.testing.assert_array_equal(out[..., 0], X[..., 0])  # no step misplaced or left empty
    context = out[0, :, 1]
    assert np.all(context[:500] == np.arange(min(500, n_t)))
    assert np.all(context[500:] >= 150)  # after the first window: at least the burn-in
    np.testing.assert_array_equal(out, _reference_stitch(_position_model, X, 500, 150))


def test_stitching_batches_and_checks_shapes():
    X = np.random.default_rng(0).random((5, 900, 4))
    calls = []

    def predict(x):
        calls.append(x.shape[0])
        return _position_model(x)

    full = stitched_predictions(predict, X)
    assert set(calls) == {5}
    calls.clear()
    np.testing.assert_array_equal(stitched_predictions(predict, X, batch_size=2), full)
    assert set(calls) == {2, 1}
    with pytest.raises(ValueError, match="predict returned shape"):
        stitched_predictions(lambda x: x[:, :10, :2], X)
    with pytest.raises(ValueError, match="burn_in"):
        stitched_predictions(_position_model, X, window=100, burn_in=100)


def test_roc_numbers_hand_computed_and_against_sklearn():
    # ranks: 0.9(+) 0.8(-) 0.7(+) 0.3(-) 0.2(-): ROC (0,0) (0,.5) (1/3,.5) (1/3,1) (1,1)
    y = np.array([1, 0, 1, 0, 0])
    s = np.array([0.9, 0.8, 0.7, 0.3, 0.2])
    assert tp_at_fp(y, s, 0.01) == 0.5  # nearest FPR is 0; the (0, 0) corner is skipped
    assert tp_at_fp(y, s, 0.3) == 0.5  # first point at FPR 1/3 still has TPR 0.5
    assert partial_auc(y, s, 0.25) == pytest.approx(0.5, abs=1e-3)
    assert partial_auc(y, s, 1.0) == pytest.approx(roc_auc_score(y, s), abs=1e-3)
    # the authors' quirk, kept: the nearest ROC point is the first of equal FPRs, so a perfect
    # ranking with distinct scores reports the TPR of its first threshold, not 1
    perfect = np.array([0.9, 0.1, 0.8, 0.2, 0.3])
    assert tp_at_fp(y, perfect, 0.0025) == 0.5
    assert tp_at_fp(y, np.array([0.9, 0.1, 0.9, 0.2, 0.3]), 0.0025) == 1.0  # tied positives
    assert partial_auc(y, perfect, 0.01) == pytest.approx(1.0, abs=1e-2)
    rng = np.random.default_rng(1)
    y = (rng.random((4, 3000)) < 0.01).astype(np.uint8)
    p = rng.random((4, 3000)) + y * rng.random((4, 3000))
    v = rng.standard_normal((4, 3000))
    res = neuronio_metrics(y, p, v, v, ignore_start=0, max_spikes=3000)
    assert res["auc"] == pytest.approx(roc_auc_score(y.ravel(), p.ravel()), abs=1e-12)


def test_filtering_and_soma_metrics():
    n_t = 1000
    spikes = np.zeros((3, n_t), np.uint8)
    spikes[0, [600, 800]] = 1
    spikes[1, 700] = 1
    spikes[2, 100:130] = 1  # 30 spikes: dropped (> 24)
    prob = spikes * 0.9 + 0.05
    prob[0, 100] = 0.99  # a confident miss inside the ignored first 500 ms
    prob[2] = 1 - prob[2]  # a dropped run, predicted all wrong
    true = np.zeros((3, n_t))
    pred = np.zeros((3, n_t))
    pred[:, 500:] = np.array([1.0, -1.0] * 250)  # errors of +-1 mV after 500 ms
    pred[:, :500] = 50.0  # ignored
    res = neuronio_metrics(spikes, prob, true, pred, ignore_start=500)
    assert res["fraction_simulations_kept"] == pytest.approx(2 / 3)
    assert res["auc"] == 1.0 and res["tp_at_fp_0.0025"] == 1.0
    assert res["soma_rmse_mv"] == pytest.approx(1.0) and res["soma_mae_mv"] == pytest.approx(1.0)
    # explained variance: 1 - var(err)/var(true); with a constant target var(true) = 0
    true[:, 500:] = np.array([2.0, -2.0] * 250)
    res = neuronio_metrics(spikes, prob, true, pred, ignore_start=500)
    assert res["soma_explained_variance_percent"] == pytest.approx(100 * (1 - 1 / 4))
    res = neuronio_metrics(np.zeros_like(spikes), prob, true, pred)
    assert np.isnan(res["auc"]) and np.isnan(res["tp_at_fp_0.01"])
    with pytest.raises(ValueError, match="all 3 simulations have more than 0 output spikes"):
        neuronio_metrics(spikes, prob, true, pred, max_spikes=0)


def test_restandardisation_option():
    rng = np.random.default_rng(2)
    soma = (-70 + 4 * rng.standard_normal((2, 800))).astype(np.float32)
    target = np.minimum(soma, -55.0) - SOMA_BIAS_MV
    X = np.zeros((2, 800, 4))
    X[..., 0] = target  # hand the target to the model through an (excitatory) input channel

    def predict(x):  # right up to scale and offset
        return np.stack([np.zeros(x.shape[:2]), (3 * x[..., 0] + 5) * SOMA_SCALE], axis=-1)

    _, pred, true = neuronio_predictions(predict, X, soma, restandardise=True)
    np.testing.assert_allclose(pred, true, atol=1e-4)
    _, pred, _ = neuronio_predictions(predict, X, soma, restandardise=False)
    np.testing.assert_allclose(pred, 3 * true + 5, atol=1e-4)


def test_end_to_end_on_a_file_whose_answer_is_in_the_input(tmp_path):
    """Output spikes copy input channel 0 and the soma follows channel 1: an oracle exists."""
    rng = np.random.default_rng(3)
    n_sim, n_t = 3, 2000
    sims = []
    for _ in range(n_sim):
        ex = rng.random((639, n_t)) < 0.003
        inh = rng.random((639, n_t)) < 0.003
        out_bins = np.flatnonzero(ex[0])
        soma = (-70.0 + 5.0 * ex[1]).astype(np.float16)
        sims.append({
            "exInputSpikeTimes": {r: list(np.flatnonzero(ex[r])) for r in range(639)},
            "inhInputSpikeTimes": {r: list(np.flatnonzero(inh[r])) for r in range(639)},
            "somaVoltageLowRes": soma,
            "outputSpikeTimes": (out_bins + 0.625).astype(np.float16),  # bin b -> b + 0.625 ms
        })
    exp = {"Params": {"allSegmentsType": ["basal"] * 639, "totalSimDurationInSec": 2},
           "Results": {"listOfSingleSimulationDicts": sims}}
    path = tmp_path / "sim__oracle.p"
    path.write_bytes(pickle.dumps(exp, protocol=2))

    def oracle(x):
        logit = 20 * x[..., 0] - 10
        soma = (-70.0 + 5.0 * x[..., 1] - SOMA_BIAS_MV) * SOMA_SCALE
        return np.stack([logit, soma], axis=-1)

    res = evaluate_neuronio(oracle, [path], restandardise=False)
    assert res["auc"] == 1.0 and res["tp_at_fp_0.0025"] == 1.0
    assert res["auc_at_fp_0.01"] == pytest.approx(1.0, abs=0.01)
    assert res["soma_rmse_mv"] < 1e-4 and res["soma_explained_variance_percent"] > 99.99
    blind = evaluate_neuronio(lambda x: np.zeros((*x.shape[:2], 2)), [path],
                              restandardise=False)
    assert blind["auc"] == 0.5 and blind["soma_rmse_mv"] > 1.0
    with pytest.raises(ValueError, match="at least one file"):
        evaluate_neuronio(oracle, [])


def test_sigmoid_is_stable():
    x = np.array([-1000.0, 0.0, 1000.0])
    np.testing.assert_allclose(sigmoid(x), [0.0, 0.5, 1.0])


def test_protocol_on_the_committed_stand_in_finds_signal():
    """A one-line baseline (filtered net synaptic drive) beats chance on the stand-in's test set:
    the data carry input-output structure and the whole pipeline runs on the committed files."""
    from scipy.signal import lfilter

    from elm.data.neuronio import discover, load_file, stand_in_dir

    def drive(x):
        net = x.sum(axis=-1)  # excitation minus inhibition per ms
        filtered = lfilter([1.0], [1.0, -np.exp(-1 / 20)], net, axis=1)  # 20 ms membrane
        return np.stack([filtered, filtered], axis=-1)

    path = discover(stand_in_dir()).test[0]
    res = evaluate_neuronio(drive, [path])
    # 0.97 here; scores unrelated to the input give 0.5 +- 0.04 on the ~60 kept output spikes
    assert res["auc"] > 0.9
    _, spikes, _ = load_file(path)  # runs with more than 24 output spikes are dropped
    assert res["n_simulations"] == len(spikes)
    assert res["fraction_simulations_kept"] == np.mean(spikes.sum(axis=1) <= 24) < 1
