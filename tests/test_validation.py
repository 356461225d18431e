"""Bad input is refused before anything runs (issue 14, item 5).

A new user's mistakes (a value of the wrong type, an unknown experiment or setting, a setting out
of range, a boolean for a number, a bad sweep grid point) must end in one or two lines naming the
setting, the value and the fix, with exit status 2, no traceback, and nothing written: no
record, no run folder; a sweep never retries such a run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from elm.experiments import configs, sweep
from elm.experiments.configs import ConfigError
from elm.experiments.results import ResultsStore
from elm.experiments.run import main as run_main
from elm.experiments.run import prepare, run
from elm.experiments.sweep import RunSpec, expand, load_spec, run_sweep

EXP = "neuronio/elm/paper"
REPO = Path(__file__).resolve().parents[1]


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=REPO, timeout=300, check=False)


def _refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Assert a refusal: exit 2, at most two stderr lines, no traceback; return stderr."""
    err = proc.stderr
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert 1 <= len(err.strip().splitlines()) <= 2, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def _nothing_written(out: Path) -> None:
    assert not out.exists() or not any(out.rglob("*")), sorted(out.rglob("*"))


# --------------------------------------------------------------------------------------------
# python -m elm.run


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        ([EXP, "--set", "d_m=abc"], ['d_m="abc"', "must be an integer", "d_m=20"]),
        ([EXP, "--set", "train.learning_rate=abc"],
         ['train.learning_rate="abc"', "must be a (finite) number", "train.learning_rate=0.0005"]),
        (["neuronio/nope/paper"], ["unknown experiment 'neuronio/nope/paper'",
                                   "did you mean 'neuronio/elm/paper'", "known:"]),
        ([EXP, "--set", "train.batch_size=0"], ["train.batch_size=0", "must be >= 1"]),
        ([EXP, "--set", "d_m=true"], ["d_m=true", "must be an integer",
                                      "a boolean is not a number"]),
        ([EXP, "--set", "dm=3"], ["unknown setting 'dm'", "did you mean 'd_m'"]),
    ],
    ids=["d_m-abc", "lr-abc", "unknown-experiment", "batch-size-0", "d_m-true", "unknown-key"],
)
def test_the_cli_refuses_bad_input_in_two_lines_and_writes_nothing(tmp_path, args, needles):
    out = tmp_path / "results"
    _refused(_cli("elm.run", *args, "--scale", "smoke", "--out-dir", str(out)), *needles)
    _nothing_written(out)


def test_debug_shows_the_traceback_and_malformed_set_is_refused(tmp_path, capsys):
    out = tmp_path / "results"
    with pytest.raises(ConfigError, match="d_m"):
        run_main([EXP, "--set", "d_m=abc", "--out-dir", str(out), "--debug"])
    assert run_main([EXP, "--set", "d_m", "--out-dir", str(out)]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err
    params = tmp_path / "parameters.yaml"
    params.write_text("experiment: [unclosed")
    assert run_main(["--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert "parameters.yaml" in err and len(err.strip().splitlines()) == 2
    _nothing_written(out)


# --------------------------------------------------------------------------------------------
# the schema behind the checks


def test_types_come_from_the_declarations():
    settings = configs.schema(configs.get(EXP))
    assert settings["d_m"].declared == "ELMConfig.d_m"
    assert configs.describe(settings["d_mlp"].hint) == "an integer or null"
    assert configs.describe(settings["train.optimizer"].hint) == 'one of "adam", "adamax"'
    assert configs.describe(settings["tau_m_init"].hint) == "a list of 2 (finite) numbers"
    lstm = configs.schema(configs.get("shd/lstm/paper"))
    assert lstm["recurrent_dropout"].declared == "LSTM(recurrent_dropout)"
    assert "data.bin_ms" in lstm and "rngs" not in lstm and "dtype" not in lstm
    tower = configs.schema(configs.get("lra/retrieval/elm/paper"))
    assert {"encoder", "latent", "head_dim", "d_m", "tau_s"} <= set(tower)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"d_m": "abc"}, r'd_m="abc" for neuronio/elm/paper: .*must be an integer'),
        ({"d_m": True}, "a boolean is not a number"),
        ({"d_m": 2.0}, "must be an integer"),
        ({"learn_tau_m": 1}, "must be true or false"),
        ({"train.learning_rate": "1e-3"}, "YAML reads 1e-3 as a string"),
        ({"train.learning_rate": float("nan")}, "finite"),
        ({"train.learning_rate": 0}, r"train\.learning_rate must be > 0"),
        ({"train.input_dropout": 1.0}, r"in \[0, 1\)"),
        ({"train.optimizer": "sgd"}, 'one of "adam", "adamax"'),
        ({"train.learnig_rate": 1e-3}, "no field 'learnig_rate' .did you mean 'learning_rate'"),
        ({"tau_m_init": [1, "x"]}, "a list of 2"),
        ({"num_input": 5}, "fixed by the dataset"),
        ({"data.bin_ms": 5.0}, r"unknown setting 'data\.bin_ms'.*it has no data settings"),
        ({"d_m": 0}, r"d_m=0 for neuronio/elm/paper: ELMConfig\.d_m: must be >= 1"),
        ({"tau_m_bounds": [500, 0]}, "reversed bounds"),
    ],
)
def test_override_names_the_setting_the_value_and_what_is_accepted(overrides, message):
    with pytest.raises(ConfigError, match=message) as info:
        configs.override(configs.get(EXP, "smoke"), overrides)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, KeyError)


def test_good_overrides_pass_unchanged():
    exp = configs.override(configs.get(EXP, "smoke"),
                           {"d_m": 4, "d_mlp": None, "tau_m_init": [1, 50],
                            "train.learning_rate": 1, "train.window_ms": None,
                            "num_input": 1278})
    assert exp.model_args["tau_m_init"] == (1, 50) and exp.train.learning_rate == 1
    shd = configs.override(configs.get("shd/elm/paper"), {"data.bin_ms": 5, "dt": 5.0})
    assert shd.data["bin_ms"] == 5
    # another encoder: its settings are known (hidden_size), but the ELM's no longer fit
    with pytest.raises(ConfigError, match="unexpected keyword argument 'd_m'"):
        configs.override(configs.get("lra/retrieval/elm/paper"),
                         {"encoder": "lstm", "hidden_size": 8})
    with pytest.raises(ConfigError, match=r"data\.max_len"):
        configs.override(configs.get("lra/text/elm/paper"), {"data.max_len": "long"})


def test_prepare_adds_the_tasks_own_checks_and_a_bad_scale_or_seed():
    with pytest.raises(ConfigError, match=r"dt = 10 ms but data\.bin_ms = 50 ms"):
        prepare("shd/elm/paper", "smoke", {"data.bin_ms": 50.0})
    with pytest.raises(ConfigError, match=r"data\.silent_token"):
        prepare("lra/image/elm/paper", "smoke", {"data.silent_token": 99})
    with pytest.raises(ConfigError, match="scale 'huge'"):
        prepare(EXP, "huge")
    with pytest.raises(ConfigError, match="seed"):
        prepare(EXP, "smoke", {}, seed=True)


def test_a_refused_run_writes_no_record_and_no_folder(tmp_path):
    for bad in ({"train.batch_size": 0}, {"dm": 3}):
        with pytest.raises(ConfigError):
            run(EXP, scale="smoke", out_dir=tmp_path, overrides=bad, progress=False)
    with pytest.raises(ConfigError):
        run("neuronio/nope/paper", scale="smoke", out_dir=tmp_path, progress=False)
    _nothing_written(tmp_path)
    assert list(ResultsStore(tmp_path).records()) == []


# --------------------------------------------------------------------------------------------
# sweeps


def test_sweep_dry_run_checks_every_grid_point(tmp_path):
    spec = tmp_path / "bad_spec.yaml"
    spec.write_text(f"experiment: {EXP}\nscale: smoke\ngrid: {{d_m: [1, abc]}}\n")
    out = tmp_path / "results"
    err = _refused(_cli("elm.sweep", str(spec), "--dry-run", "--out-dir", str(out)),
                   "bad_spec.yaml", '"d_m": "abc"', 'd_m="abc"', "must be an integer")
    assert "python -m elm.sweep: error:" in err
    _nothing_written(out)
    with pytest.raises(ConfigError, match=r'bad_spec\.yaml: neuronio/elm/paper point '
                                          r'\{"d_m": "abc"\}: d_m="abc"'):
        load_spec(spec)
    with pytest.raises(ConfigError):
        sweep.main([str(spec), "--dry-run", "--debug"])
    assert sweep.main([str(tmp_path / "missing.yaml"), "--dry-run"]) == 2


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"experiment": EXP, "seeds": [0, "one"]}, "seeds must be a non-empty list of integers"),
        ({"experiment": EXP, "seeds": [True]}, "seeds must be"),
        ({"experiment": EXP, "scale": "huge"}, "scale 'huge'"),
        ({"experiment": EXP, "points": [{"d_m": 2}, {"train.batch_size": 0}]},
         r'point \{"train.batch_size": 0\}: train.batch_size=0'),
        ({"experiments": [EXP, "shd/elm/paper"], "grid": {"d_tree": [3]}},
         r"shd/elm/paper|neuronio/elm/paper"),
    ],
)
def test_bad_blocks_are_refused(block, message):
    with pytest.raises(ConfigError, match=message):
        expand(block)
    with pytest.raises(ConfigError, match=r"block 2: "):
        expand([{"experiment": EXP}, block])


def test_run_sweep_refuses_bad_points_before_anything_starts(tmp_path, monkeypatch):
    started: list[str] = []
    monkeypatch.setattr(sweep, "execute", lambda *a: started.append(a[0].run_id) or (0, ""))
    with pytest.raises(ConfigError, match="d_m"):
        run_sweep([RunSpec(EXP, {"d_m": 1}, 0, "smoke"), RunSpec(EXP, {"d_m": "x"}, 0, "smoke")],
                  tmp_path, workers=1, progress=False)
    assert started == []
    _nothing_written(tmp_path)


def test_a_run_refused_by_its_process_is_failed_not_retried(tmp_path, monkeypatch):
    attempts: list[int] = []

    def refused(run_spec, out, notebook, attempt):
        attempts.append(attempt)
        return 2, "python -m elm.run: error: something the sweep could not see\n"

    monkeypatch.setattr(sweep, "execute", refused)
    (outcome,) = run_sweep([RunSpec(EXP, {"d_m": 1}, 0, "smoke")], tmp_path, workers=1,
                           retries=2, progress=False)
    assert outcome.status == "failed" and attempts == [1]
    assert "could not see" in outcome.error


def test_the_books_specs_pass():
    specs = sorted((REPO / "book" / "sweeps").glob("*_demo*.yaml"))
    specs += sorted((REPO / "book" / "sweeps").glob("*_smoke.yaml"))
    specs += sorted((REPO / "book" / "sweeps").glob("study_*.yaml"))
    for spec in specs:
        assert load_spec(spec), spec
