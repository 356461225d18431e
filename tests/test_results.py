"""The results store: atomic records, queries by config, stable run ids, corrupt files named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from elm.experiments import results
from elm.experiments.results import CorruptRecordError, ResultsStore, run_id, write_json_atomic


def record(rid: str, **extra):
    return {"run_id": rid, "status": "complete", "experiment": "neuronio/elm/paper", "seed": 0,
            "scale": "smoke", **extra}


def test_run_id_is_stable_and_order_independent_and_distinguishes_runs():
    a = run_id("neuronio/elm/paper", {"d_m": 4, "lambda_value": 5.0}, 0, "demo")
    assert a == run_id("neuronio/elm/paper", {"lambda_value": 5.0, "d_m": 4}, 0, "demo")
    assert a.startswith("neuronio_elm_paper-demo-s0-")
    others = {run_id("neuronio/elm/paper", {"d_m": 5, "lambda_value": 5.0}, 0, "demo"),
              run_id("neuronio/elm/paper", {"d_m": 4, "lambda_value": 5.0}, 1, "demo"),
              run_id("neuronio/elm/paper", {"d_m": 4, "lambda_value": 5.0}, 0, "smoke"),
              run_id("neuronio/elm/paper", {"d_m": 4, "lambda_value": 5.0}, 0, "demo", "/data")}
    assert a not in others and len(others) == 4
    # tuples and lists are the same setting (YAML gives lists, code gives tuples)
    assert run_id("x", {"tau_m_init": (1, 50)}, 0, "demo") == run_id("x", {"tau_m_init": [1, 50]},
                                                                     0, "demo")


def test_write_read_and_query_by_nested_config(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(record("a", overrides={"d_m": 4}, metrics={"auc": np.float32(0.5)}))
    store.write(record("b", overrides={"d_m": 8}, metrics={"auc": 0.7}))
    store.write(record("c", overrides={"d_m": 8}, status="diverged", metrics=None))
    assert store.read("a")["metrics"]["auc"] == 0.5
    assert store.read("missing") is None
    assert [r["run_id"] for r in store.query(**{"overrides.d_m": 8})] == ["b", "c"]
    assert [r["run_id"] for r in store.query(**{"overrides.d_m": 8, "status": "complete"})] == ["b"]
    assert store.query(**{"overrides.tau_s": 1}) == []
    assert store.is_complete("c") and not store.is_complete("missing")


def test_write_rejects_incomplete_records(tmp_path):
    store = ResultsStore(tmp_path)
    with pytest.raises(ValueError, match=r"missing \[.experiment., .seed., .scale.\]"):
        store.write({"run_id": "a", "status": "complete"})
    with pytest.raises(ValueError, match="status"):
        store.write(record("a", status="done"))


def test_a_corrupt_record_is_named_not_returned(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(record("a"))
    store.path("a").write_text('{"run_id": "a", "status": "comp')  # what a non-atomic write leaves
    with pytest.raises(CorruptRecordError, match=r"a\.json"):
        list(store.records())


def test_a_writer_killed_mid_write_leaves_the_old_record_intact(tmp_path):
    """SIGKILL a process while it rewrites one record over and over: the file is always whole."""
    path = tmp_path / "records" / "r.json"
    write_json_atomic(path, record("r", payload=[0] * 10))
    script = ("import sys; from pathlib import Path\n"
              "from elm.experiments.results import write_json_atomic\n"
              "i = 0\n"
              "while True:\n"
              "    i += 1\n"
              "    write_json_atomic(Path(sys.argv[1]), {'run_id': 'r', 'status': 'complete', "
              "'experiment': 'e', 'seed': 0, 'scale': 'smoke', 'payload': [i] * 200000})\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)])
    try:
        # wait until it has rewritten the file at least once (importing elm loads JAX: seconds
        # on a busy machine)
        for _ in range(1200):
            if json.loads(path.read_text())["payload"][0] != 0:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    data = json.loads(path.read_text())  # parses: never a half-written file
    assert len(data["payload"]) == 200000 and len(set(data["payload"])) == 1
    assert ResultsStore(tmp_path).read("r")["status"] == "complete"


def test_summarise_groups_seeds_and_counts_divergence():
    from elm.experiments.results import summarise

    recs = [record("a", seed=0, overrides={"d_m": 1}, metrics={"auc": 0.6}),
            record("b", seed=1, overrides={"d_m": 1}, metrics={"auc": 0.8}),
            record("c", seed=2, overrides={"d_m": 1}, status="diverged", metrics=None),
            record("d", seed=0, overrides={"d_m": 2}, metrics={"auc": 0.9})]
    rows = summarise(recs, by=["overrides.d_m"], metrics=["metrics.auc"])
    assert [r["overrides.d_m"] for r in rows] == [1, 2]
    assert rows[0]["n"] == 2 and rows[0]["diverged"] == 1 and rows[0]["seeds"] == [0, 1]
    assert rows[0]["auc_mean"] == pytest.approx(0.7) and rows[0]["auc_std"] == pytest.approx(0.1)
    assert rows[1]["auc_mean"] == 0.9 and rows[1]["auc_std"] == 0.0


# --------------------------------------------------------------------------------------------
# stale records: made by other result-determining code


def test_code_hash_covers_the_result_determining_modules_only():
    package = Path(results.__file__).resolve().parents[1]
    files = {p.relative_to(package).as_posix() for p in results.code_files()}
    assert {"model.py", "recurrence.py", "routing.py", "counting.py", "baselines/lstm.py",
            "data/neuronio.py", "experiments/configs.py", "experiments/training.py",
            "experiments/ensemble.py", "experiments/neuronio_eval.py",
            "experiments/tasks/shd.py"} <= files
    assert not files & {"released.py", "experiments/run.py", "experiments/sweep.py",
                        "experiments/results.py", "run.py", "sweep.py", "__init__.py"}
    assert len(results.code_hash()) == 64 and results.code_hash() == results.code_hash()


def test_stale_and_is_current(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(record("now", code_hash=results.code_hash()))
    store.write(record("other", code_hash="0" * 64))
    store.write(record("older"))  # records from before the hash have none
    store.write(record("failed", status="failed", code_hash=results.code_hash()))
    assert not results.stale(store.read("now"))
    assert results.stale(store.read("other")) and results.stale(store.read("older"))
    assert [store.is_current(r) for r in ("now", "other", "older", "failed", "missing")] == [
        True, False, False, False, False]
    assert store.is_complete("other") and store.is_complete("older")
