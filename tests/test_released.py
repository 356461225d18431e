"""The authors' released models load and reproduce their golden outputs.

Fixtures: ``../shared/data/elmneuron-pretrained/golden/`` (outputs of the authors' PyTorch code
in float32 and float64; see the README there). Tolerances: 1e-4 max abs in float32, 1e-9 in x64.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import elm

RELEASED = ["num_memory_1", "num_memory_20", "best_elm_neuron"]
RANDOM = ["vanilla_elm_random", "elm_v2_random_nm20"]
ALL_MODELS = [f"num_memory_{d}" for d in (1, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, 50, 75, 100)]


def load_fixture(root: Path, name: str, dtype):
    golden = np.load(root / "golden" / f"{name}.npz", allow_pickle=False)
    if name in RELEASED:
        model = elm.load_released(root / name, dtype=dtype)
    else:
        state = dict(np.load(root / "golden" / f"{name}_state_dict.npz"))
        config = json.loads((root / "golden" / f"{name}_config.json").read_text())
        model = elm.from_state_dict(state, config, dtype=dtype)
    return model, golden


@pytest.mark.parametrize("name", RELEASED + RANDOM)
def test_golden_float32(pretrained_dir, name):
    model, golden = load_fixture(pretrained_dir, name, jnp.float32)
    with jax.default_matmul_precision("highest"):  # full float32 matmuls on a GPU too (no TF32)
        _golden_float32_checks(model, golden)


def _golden_float32_checks(model, golden):
    y = np.asarray(model(golden["X"]))
    assert np.abs(y - golden["Y"]).max() <= 1e-4
    _, states = model(golden["X"], return_states=True)
    assert np.abs(np.asarray(states.s[:, -1]) - golden["S"]).max() <= 1e-4
    if "M_traj" in golden:
        assert np.abs(np.asarray(states.m) - golden["M_traj"]).max() <= 1e-4
    if "Y_eval" in golden:  # the authors' neuronio_eval_forward: sigmoid(spike), soma / 0.1
        y_eval = np.stack([1 / (1 + np.exp(-y[..., 0])), y[..., 1] / 0.1], axis=-1)
        assert np.abs(y_eval - golden["Y_eval"]).max() <= 1e-3


@pytest.mark.parametrize("name", RELEASED + RANDOM)
def test_golden_float64(pretrained_dir, name):
    with jax.enable_x64(True):
        model, golden = load_fixture(pretrained_dir, name, jnp.float64)
        x = golden["X"].astype(np.float64)
        for reference in (False, True):
            y = np.asarray(model(x, reference=reference))
            assert y.dtype == np.float64
            assert np.abs(y - golden["Y_f64"]).max() <= 1e-9
        _, states = model(x, return_states=True)
        assert np.abs(np.asarray(states.m[:, -1]) - golden["M_f64"]).max() <= 1e-9
        assert np.abs(np.asarray(states.s[:, -1]) - golden["S_f64"]).max() <= 1e-9


@pytest.mark.parametrize("name", [*ALL_MODELS, "best_elm_neuron"])
def test_param_count_matches_released_stats(pretrained_dir, name):
    stats = json.loads((pretrained_dir / name / "model_stats.json").read_text())
    model = elm.load_released(pretrained_dir / name)
    assert elm.count_params(model) == stats["model_param_count"]


def test_from_state_dict_rejects_mismatches(pretrained_dir):
    state = dict(np.load(pretrained_dir / "num_memory_20" / "state_dict.npz"))
    config = json.loads((pretrained_dir / "num_memory_20" / "model_config.json").read_text())
    with pytest.raises(ValueError, match=r"_proto_tau_m.*implies \(21,\)"):
        elm.from_state_dict(state, {**config, "num_memory": 21})
    with pytest.raises(ValueError, match="unknown keys"):
        elm.from_state_dict(state, {**config, "num_memroy": 20})
    with pytest.raises(ValueError, match="does not use"):
        elm.from_state_dict({**state, "extra.weight": np.zeros(3)}, config)
    missing = {k: v for k, v in state.items() if k != "w_y.bias"}
    with pytest.raises(KeyError, match=r"w_y\.bias"):
        elm.from_state_dict(missing, config)
    bad_tau = {**state, "tau_s": np.linspace(1, 5, 4500, dtype=np.float32)}
    with pytest.raises(ValueError, match="one value"):
        elm.from_state_dict(bad_tau, config)


def test_load_released_names_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"state_dict\.npz"):
        elm.load_released(tmp_path)


def test_authors_defaults_fill_missing_config_keys():
    cfg = elm.released.config_from_authors({"num_input": 4, "num_output": 1})
    assert (cfg.d_m, cfg.lambda_value, cfg.tau_s, cfg.bounds) == (100, 5.0, 5.0, (1.0, 1000.0))
    assert (cfg.routing, cfg.branches, cfg.d_brch, cfg.hidden) == ("none", 4, 1, 200)
