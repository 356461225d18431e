"""One run from a name to a record: provenance, skipping, failures, divergence, SIGKILL resume."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from flax import nnx

from elm import count_params
from elm.data.neuronio import NeuronIODataError, discover, load_file, stand_in_dir
from elm.experiments import configs
from elm.experiments.configs import ConfigError
from elm.experiments.results import ResultsStore, code_hash
from elm.experiments.run import curve, parse_overrides, run, run_dir

SMALL = {"d_m": 2}


def corrupt_neuronio(root: Path) -> Path:
    """A NeuronIO folder layout whose every file is garbage."""
    for sub in ("train/full_ergodic_train_batch_1", "train/full_ergodic_train_batch_2",
                "test/Data_test"):
        (root / sub).mkdir(parents=True)
        (root / sub / "sim__corrupt.p").write_bytes(b"not a pickle")
    return root


def test_a_run_writes_a_complete_self_describing_record(tmp_path):
    rec = run("neuronio/elm/paper", scale="smoke", seed=3, out_dir=tmp_path, overrides=SMALL,
              progress=False)
    assert rec["status"] == "complete" and rec["steps_done"] == 3
    for key in ("config", "seed", "scale", "data", "code_version", "hardware", "wall_time_s",
                "metrics", "curves", "params"):
        assert rec.get(key) is not None, key
    assert rec["config"]["model_args"]["d_m"] == 2 and rec["seed"] == 3
    small = configs.override(configs.get("neuronio/elm/paper", scale="smoke"), SMALL)
    assert rec["params"] == count_params(nnx.eval_shape(lambda: small.build(nnx.Rngs(0))))
    assert rec["curves"]["step"][-1] == 3 and len(rec["curves"]["loss"]) == len(
        rec["curves"]["step"])
    assert rec["wall_time_s"] >= rec["train_wall_time_s"] > 0
    assert rec["data"]["stand_in"] is True and "stand-in" in rec["data"]["description"]
    # evaluated as the smoke scale says: the stand-in's first test file, its runs with more than
    # 24 output spikes dropped (counted here from the file); three training steps teach d_m = 2
    # nothing, so the AUC is only required to exist (the kept runs do spike after 500 ms)
    _, spikes, _ = load_file(discover(stand_in_dir()).test[0])
    metrics = rec["metrics"]
    assert metrics["eval_files"] == 1 and metrics["n_simulations"] == spikes.shape[0]
    assert metrics["fraction_simulations_kept"] == np.mean(spikes.sum(axis=1) <= 24)
    assert not np.isnan(metrics["auc"])
    assert ResultsStore(tmp_path).read(rec["run_id"]) == json.loads(json.dumps(rec))
    again = run("neuronio/elm/paper", scale="smoke", seed=3, out_dir=tmp_path, overrides=SMALL,
                progress=False)
    assert again["started"] == rec["started"]  # skipped: the stored record came back


def test_bad_data_gives_a_failed_record_naming_the_file(tmp_path):
    data = corrupt_neuronio(tmp_path / "neuronio")
    with pytest.raises(NeuronIODataError, match=r"sim__corrupt\.p"):
        run("neuronio/elm/paper", scale="smoke", data_dir=data, out_dir=tmp_path / "r",
            overrides=SMALL, progress=False)
    (rec,) = ResultsStore(tmp_path / "r").records()
    assert rec["status"] == "failed" and rec["error"]["retryable"] is False
    assert "sim__corrupt.p" in rec["error"]["message"] and rec["data"]["dir"] == str(data)


def test_unknown_override_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown setting 'dm'.*did you mean 'd_m'"):
        run("neuronio/elm/paper", scale="smoke", out_dir=tmp_path, overrides={"dm": 3},
            progress=False)
    assert list(ResultsStore(tmp_path).records()) == [] and not any(tmp_path.iterdir())


def test_a_stale_record_is_retrained_and_a_current_one_skipped(tmp_path, caplog):
    """A record made by other result-determining code (another code_hash, or none) is not
    reused: the run trains again, says so in one logged line, and stores the current hash."""
    args = {"scale": "smoke", "seed": 1, "out_dir": tmp_path, "overrides": SMALL,
            "progress": False}
    first = run("neuronio/elm/paper", **args)
    assert first["code_hash"] == code_hash() and first["attempts"] == 1
    store = ResultsStore(tmp_path)
    assert store.is_current(first["run_id"])
    store.write({**first, "code_hash": "0" * 64})  # as if older code had made it ...
    (run_dir(tmp_path, first["run_id"]) / "code_hash").write_text("0" * 64)  # and checkpoints
    assert store.is_complete(first["run_id"]) and not store.is_current(first["run_id"])
    with caplog.at_level(logging.WARNING, logger="elm.experiments.run"):
        again = run("neuronio/elm/paper", **args)
    stale_lines = [r for r in caplog.records if "stale record" in r.getMessage()]
    assert len(stale_lines) == 1 and "retraining" in stale_lines[0].getMessage()
    assert again["attempts"] == 2 and again["code_hash"] == code_hash()
    assert again["resumed_from"] is None  # the old code's checkpoints were not resumed
    assert again["steps_done"] == 3
    caplog.clear()
    same = run("neuronio/elm/paper", **args)  # identical hash: skipped
    assert same == store.read(first["run_id"]) and same["attempts"] == 2
    assert not [r for r in caplog.records if "stale record" in r.getMessage()]


def test_a_nan_loss_is_recorded_as_diverged(tmp_path):
    rec = run("neuronio/elm/paper", scale="smoke", out_dir=tmp_path, progress=False,
              overrides={**SMALL, "train.learning_rate": 1e30})
    assert rec["status"] == "diverged" and rec["metrics"] is None
    # the first step's loss comes from the initial parameters (finite); its 1e30 update makes
    # the second loss non-finite, so step 1 diverges and is not counted as done
    assert rec["diverged_at"] == rec["steps_done"] == 1


def test_curve_keeps_means_of_chunks():
    c = curve([1.0, 3.0, 5.0, 7.0], points=2)
    assert c == {"step": [2, 4], "loss": [2.0, 6.0]}
    assert curve([], 5) == {"step": [], "loss": []}


def test_parse_overrides():
    assert parse_overrides(["d_m=4", "tau_m_init=[1, 50]", "routing=neuronio"]) == {
        "d_m": 4, "tau_m_init": [1, 50], "routing": "neuronio"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["d_m"])


def _cli(out: Path) -> list[str]:
    return [sys.executable, "-m", "elm.run", "neuronio/elm/paper", "--scale", "smoke",
            "--out-dir", str(out), "--set", "d_m=2", "--set", "train.batches_per_epoch=200",
            "--checkpoint-every", "10"]


def test_a_run_killed_with_sigkill_resumes_to_the_same_metrics(tmp_path):
    """Kill a run (SIGKILL) after its first checkpoint; relaunched, it resumes from the
    checkpoint and ends with exactly the metrics of a run that was never interrupted."""
    subprocess.run(_cli(tmp_path / "whole"), check=True, capture_output=True)
    (whole,) = ResultsStore(tmp_path / "whole").records()

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = run_dir(out, whole["run_id"]) / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if checkpoints.is_dir() and any(p.name.isdigit() for p in checkpoints.iterdir()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not ResultsStore(out).is_complete(whole["run_id"])

    subprocess.run(_cli(out), check=True, capture_output=True)
    resumed = ResultsStore(out).read(whole["run_id"])
    assert resumed["status"] == "complete" and 0 < resumed["resumed_from"] < 200
    assert resumed["steps_done"] == whole["steps_done"] == 200
    np.testing.assert_allclose(resumed["curves"]["loss"], whole["curves"]["loss"], rtol=1e-6)
    for key, value in whole["metrics"].items():
        np.testing.assert_allclose(resumed["metrics"][key], value, rtol=1e-6, err_msg=key)
