"""Sweeps: grid expansion, skipping, retries, Ray, and the reliability figure.

The reliability test is the promise made to batch runners: a sweep that loses a process to
SIGKILL, has a run whose loss turns NaN and a run whose input file is corrupt still ends with
every other run complete, the killed run resumed and complete, the NaN run recorded as
diverged, the corrupt-input run failed with a message naming the file, and no corrupt record.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from test_run import corrupt_neuronio

from elm.experiments import sweep
from elm.experiments.results import ResultsStore, code_hash, stale
from elm.experiments.run import run_dir
from elm.experiments.sweep import RunSpec, expand, load_spec, run_sweep

EXP = "neuronio/elm/paper"


def test_expand_grid_points_and_seeds():
    runs = expand({"experiment": EXP, "scale": "smoke", "seeds": [0, 1],
                   "grid": {"d_m": [1, 2], "lambda_value": [5.0, 10.0]},
                   "points": [{"d_m": 7}]})
    assert len(runs) == (4 + 1) * 2
    points = {tuple(sorted(r.overrides.items())) for r in runs}
    assert {(("d_m", 7),), (("d_m", 1), ("lambda_value", 5.0))} <= points
    assert {r.seed for r in runs} == {0, 1} and {r.scale for r in runs} == {"smoke"}
    # a list of blocks; the same run twice is one run
    twice = expand([{"experiment": EXP, "points": [{"d_m": 1}]},
                    {"experiment": EXP, "points": [{"d_m": 1}]}])
    assert len(twice) == 1


def test_bad_specs_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown experiment"):
        expand({"experiment": "neuronio/nope"})
    with pytest.raises(ValueError, match=r"grid\.d_m"):
        expand({"experiment": EXP, "grid": {"d_m": 3}})
    with pytest.raises(ValueError, match="unknown keys"):
        expand({"experiment": EXP, "seed": [1]})
    bad = tmp_path / "spec.yaml"
    bad.write_text("experiment: [unclosed")
    with pytest.raises(ValueError, match=r"spec\.yaml"):
        load_spec(bad)


def _kill_once_after_first_checkpoint(out: Path, rid: str, killed: list[int]) -> None:
    """Watch one run; SIGKILL its process once it has written its first checkpoint."""
    folder = run_dir(out, rid)
    deadline = time.time() + 600
    while time.time() < deadline:
        checkpoints = folder / "checkpoints"
        pid_file = folder / "pid"
        if (pid_file.exists() and checkpoints.is_dir()
                and any(p.name.isdigit() for p in checkpoints.iterdir())):
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


@pytest.mark.reliability
@pytest.mark.slow
def test_reliability_sweep_with_kill_nan_and_corrupt_input(tmp_path):
    out = tmp_path / "results"
    normal = expand({"experiment": EXP, "scale": "smoke", "seeds": [0, 1, 2, 3, 4, 5],
                     "grid": {"d_m": [1, 2, 3]}})[:17]
    victim = RunSpec(EXP, {"d_m": 2, "train.batches_per_epoch": 300}, seed=9, scale="smoke")
    nan = RunSpec(EXP, {"d_m": 2, "train.learning_rate": 1e30}, seed=0, scale="smoke")
    corrupt = RunSpec(EXP, {"d_m": 2}, seed=0, scale="smoke",
                      data_dir=str(corrupt_neuronio(tmp_path / "corrupt")))
    runs = [victim, *normal, nan, corrupt]
    assert len({r.run_id for r in runs}) == 20

    killed: list[int] = []
    watcher = threading.Thread(target=_kill_once_after_first_checkpoint,
                               args=(out, victim.run_id, killed), daemon=True)
    watcher.start()
    outcomes = {o.run_id: o for o in run_sweep(runs, out, workers=2, retries=2,
                                               progress=False)}
    watcher.join(timeout=1)
    assert killed, "the victim run was never killed"

    store = ResultsStore(out)
    records = {r["run_id"]: r for r in store.records()}  # every record parses
    assert len(records) == 20
    assert all(records[r.run_id]["status"] == "complete" for r in normal)
    assert outcomes[victim.run_id].status == "complete" and outcomes[victim.run_id].attempts == 2
    assert records[victim.run_id]["resumed_from"] > 0
    assert records[nan.run_id]["status"] == "diverged" and outcomes[nan.run_id].attempts == 1
    bad = records[corrupt.run_id]
    assert bad["status"] == "failed" and outcomes[corrupt.run_id].attempts == 1
    assert "sim__corrupt.p" in bad["error"]["message"]
    assert sum(r["status"] == "complete" for r in records.values()) == 18

    again = run_sweep(runs, out, workers=2, progress=False)  # relaunch: finished runs skipped
    assert {o.run_id for o in again if o.status == "skipped"} == set(records) - {corrupt.run_id}


@pytest.mark.slow
def test_sweep_on_a_local_ray_cluster(tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        runs = expand({"experiment": EXP, "scale": "smoke", "grid": {"d_m": [1, 2]}})
        outcomes = run_sweep(runs, tmp_path, use_ray=True, progress=False)
        assert [o.status for o in outcomes] == ["complete", "complete"]
        assert len(ResultsStore(tmp_path).query(status="complete")) == 2
        assert all(o.status == "skipped"
                   for o in run_sweep(runs, tmp_path, use_ray=True, progress=False))
    finally:
        ray.shutdown()


def test_a_spec_file_serves_every_scale(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("experiment: neuronio/elm/paper\nscale: demo\ngrid: {d_m: [1, 2]}\n")
    assert {r.scale for r in load_spec(spec)} == {"demo"}
    paper = load_spec(spec, scale="paper", data_dir="/data/neuronio")
    assert {(r.scale, r.data_dir) for r in paper} == {("paper", "/data/neuronio")}
    assert {r.run_id for r in paper}.isdisjoint(r.run_id for r in load_spec(spec))


STALE_BASE = {"status": "complete", "experiment": EXP, "seed": 0, "scale": "smoke"}


def _record_launches(monkeypatch, base: dict) -> list[str]:
    """Replace the sweep's ``execute`` with one that writes the record the run would write (with
    the current code's hash) and lists the run ids it launched."""
    launched: list[str] = []

    def fake(run, out, notebook, attempt):
        launched.append(run.run_id)
        ResultsStore(out).write({**base, "run_id": run.run_id, "code_hash": code_hash()})
        return 0, ""

    monkeypatch.setattr(sweep, "execute", fake)
    return launched


def test_a_sweep_retrains_stale_records_and_skips_current_ones(tmp_path, monkeypatch, caplog):
    """Launching needs no training here: ``execute`` is replaced by one that writes the record
    the run would write (with the current code's hash)."""
    runs = expand({"experiment": EXP, "scale": "smoke", "grid": {"d_m": [1, 2, 3]}})
    store = ResultsStore(tmp_path)
    base = STALE_BASE
    store.write({**base, "run_id": runs[0].run_id, "code_hash": code_hash()})
    store.write({**base, "run_id": runs[1].run_id, "code_hash": "0" * 64})
    store.write({**base, "run_id": runs[2].run_id})  # made before records had a hash
    launched = _record_launches(monkeypatch, base)
    with caplog.at_level("WARNING", logger="elm.experiments.sweep"):
        outcomes = {o.run_id: o.status for o in run_sweep(runs, tmp_path, workers=1,
                                                           progress=False)}
    assert sorted(launched) == sorted([runs[1].run_id, runs[2].run_id])
    assert outcomes == {runs[0].run_id: "skipped", runs[1].run_id: "complete",
                        runs[2].run_id: "complete"}
    assert sum("stale record" in r.getMessage() for r in caplog.records) == 2
    assert all(not stale(r) for r in store.records())


def test_keep_stale_resumes_a_snapshot_without_retraining_finished_runs(tmp_path, monkeypatch):
    """``keep_stale``: finished records made by other code stay (a snapshot sweep resumed after
    a code change); only the run without a record is trained."""
    runs = expand({"experiment": EXP, "scale": "smoke", "grid": {"d_m": [1, 2, 3]}})
    store = ResultsStore(tmp_path)
    base = STALE_BASE
    store.write({**base, "run_id": runs[0].run_id, "code_hash": "0" * 64})
    store.write({**base, "run_id": runs[1].run_id, "status": "diverged", "code_hash": "1" * 64})
    launched = _record_launches(monkeypatch, base)
    outcomes = run_sweep(runs, tmp_path, workers=1, progress=False, keep_stale=True)
    assert launched == [runs[2].run_id]
    assert [o.status for o in outcomes] == ["skipped", "skipped", "complete"]
    assert store.read(runs[0].run_id)["code_hash"] == "0" * 64
