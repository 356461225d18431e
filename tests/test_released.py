"""The authors' released models load and reproduce their golden outputs.

Fixtures: ``data/elmneuron-pretrained/golden/`` of the repository (or the same folder under
``../shared/data/``): outputs of the authors' PyTorch code in float32 and float64 (see the README
there). Tolerances: 1e-4 max abs in float32, 1e-9 in x64, with the matmul precision set to
"highest" (GPUs may default to TF32).
"""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import elm
from elm.data.neuronio import SOMA_BIAS_MV, SOMA_THRESHOLD_MV, transform_inputs, transform_soma
from elm.experiments.neuronio_eval import neuronio_predictions
from elm.released import ReleasedModelError

RELEASED = ["num_memory_1", "num_memory_20", "best_elm_neuron"]
RANDOM = ["vanilla_elm_random", "elm_v2_random_nm20"]
WITH_Y_EVAL = [*RELEASED, "elm_v2_random_nm20"]  # the 2-output (NeuronIO) models
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
    # explicit: GPUs that default to TF32 matmuls (10-bit mantissa) miss 1e-4 by far
    with jax.default_matmul_precision("highest"):
        y = np.asarray(model(golden["X"]))
        _, states = model(golden["X"], return_states=True)
    assert np.abs(y - golden["Y"]).max() <= 1e-4
    assert np.abs(np.asarray(states.s[:, -1]) - golden["S"]).max() <= 1e-4
    if "M_traj" in golden:
        assert np.abs(np.asarray(states.m) - golden["M_traj"]).max() <= 1e-4


@pytest.mark.parametrize("name", RELEASED + RANDOM)
def test_golden_float64(pretrained_dir, name):
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        model, golden = load_fixture(pretrained_dir, name, jnp.float64)
        x = golden["X"].astype(np.float64)
        for reference in (False, True):
            y = np.asarray(model(x, reference=reference))
            assert y.dtype == np.float64
            assert np.abs(y - golden["Y_f64"]).max() <= 1e-9
        _, states = model(x, return_states=True)
        assert np.abs(np.asarray(states.m[:, -1]) - golden["M_f64"]).max() <= 1e-9
        assert np.abs(np.asarray(states.s[:, -1]) - golden["S_f64"]).max() <= 1e-9


@pytest.mark.parametrize("name", WITH_Y_EVAL)
def test_golden_eval_outputs_through_the_library_transforms(pretrained_dir, name):
    """``Y_eval`` (the authors' ``neuronio_eval_forward``) through our own NeuronIO pipeline:
    the reader-side input transform maps the raw binary input onto the authors' signed ``X``,
    and the evaluation protocol's output transform (spike probability, soma in mV re bias) on
    one whole window reproduces their post-processed outputs."""
    model, golden = load_fixture(pretrained_dir, name, jnp.float32)
    X = golden["X"]
    binary = (X != 0).astype(np.uint8)  # what the NeuronIO reader returns
    np.testing.assert_array_equal(transform_inputs(binary), X)
    n_sim, n_t = X.shape[:2]
    with jax.default_matmul_precision("highest"):
        spike_prob, soma_mv, _ = neuronio_predictions(
            lambda x: np.asarray(model(x)), binary, np.zeros((n_sim, n_t), np.float32),
            window=n_t, burn_in=0, restandardise=False)
    # golden Y agrees to 1e-4 in float32; the soma channel is divided by 0.1, so 1e-3 here
    assert np.abs(spike_prob - golden["Y_eval"][..., 0]).max() <= 1e-4
    assert np.abs(soma_mv - golden["Y_eval"][..., 1]).max() <= 1e-3
    # and the training target's transform is the inverse of that soma read-out (below threshold)
    v_mv = golden["Y_eval"][..., 1] + SOMA_BIAS_MV
    below = v_mv < SOMA_THRESHOLD_MV
    assert below.mean() > 0.5
    np.testing.assert_allclose(transform_soma(v_mv)[below], golden["Y"][..., 1][below], atol=1e-5)


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


# --------------------------------------------------------------------------------------------
# damaged files: the error names the file and what is wrong


def released_copy(tmp_path: Path) -> Path:
    """A released-model folder to damage: ``num_memory_1`` from ../shared/data when present,
    else one written from a freshly initialised model in the authors' format."""
    from conftest import SHARED_DATA
    from flax import nnx

    folder = tmp_path / "model"
    source = SHARED_DATA / "elmneuron-pretrained" / "num_memory_1"
    if source.is_dir():
        shutil.copytree(source, folder)
        return folder
    folder.mkdir()
    config = {"num_input": 6, "num_output": 2, "num_memory": 3, "learn_memory_tau": True}
    model = elm.ELM(elm.released.config_from_authors(config), rngs=nnx.Rngs(0))
    n_syn = model.config.num_synapse
    state = {"tau_s": np.full(n_syn, float(model.tau_s[...]), np.float32),
             "_proto_w_s": np.asarray(model.proto_w_s[...]),
             "_proto_tau_m": np.asarray(model.proto_tau_m[...]),
             "input_to_synapse_indices": np.zeros(0), "valid_indices_mask": np.zeros(0),
             "w_y.weight": np.asarray(model.w_y.kernel[...]).T,
             "w_y.bias": np.asarray(model.w_y.bias[...])}
    for i, layer in enumerate(model.mlp):
        state[f"mlp.network.{2 * i}.weight"] = np.asarray(layer.kernel[...]).T
        state[f"mlp.network.{2 * i}.bias"] = np.asarray(layer.bias[...])
    np.savez(folder / "state_dict.npz", **state)
    (folder / "model_config.json").write_text(json.dumps(config))
    return folder


def _error(folder: Path) -> ReleasedModelError:
    with pytest.raises(ReleasedModelError) as info:
        elm.load_released(folder)
    assert type(info.value) is ReleasedModelError  # never a bare EOFError, BadZipFile, ...
    return info.value


def test_an_intact_copy_loads(tmp_path):
    assert elm.count_params(elm.load_released(released_copy(tmp_path))) > 0


def test_a_truncated_state_dict_is_named(tmp_path):
    folder = released_copy(tmp_path)
    weights = folder / "state_dict.npz"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert re.search(r"state_dict\.npz: cannot read it as a numpy \.npz archive.*truncated or "
                     r"corrupt.*download the released model again", str(_error(folder)))


def test_a_corrupt_array_inside_the_archive_is_named(tmp_path):
    folder = released_copy(tmp_path)
    weights = folder / "state_dict.npz"
    data = bytearray(weights.read_bytes())
    with zipfile.ZipFile(weights) as z:  # flip bytes inside the largest member's data
        big = max(z.infolist(), key=lambda i: i.file_size)
        start = big.header_offset + 30 + len(big.filename) + len(big.extra) + 200
    data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    weights.write_bytes(bytes(data))
    assert "state_dict.npz" in str(_error(folder))
    config = json.loads((folder / "model_config.json").read_text())
    with np.load(weights) as lazy, pytest.raises(ReleasedModelError, match=r"state_dict\.npz"):
        elm.from_state_dict(lazy, config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"num_input": 1278, "num_output": 2,', r"not valid JSON \(.* at line 1, column \d+\)"),
        ("[1278, 2]", "expected a JSON object .* got a list"),
        ("", "not valid JSON"),
    ],
)
def test_a_broken_config_is_named(tmp_path, text, message):
    folder = released_copy(tmp_path)
    (folder / "model_config.json").write_text(text)
    assert re.search(rf"model_config\.json: {message}", str(_error(folder)))


def test_config_values_of_the_wrong_type_or_size_are_named(tmp_path):
    folder = released_copy(tmp_path)
    config_file = folder / "model_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "num_memory": "one"}))
    assert re.search(r"model_config\.json: num_memory='one' should be an integer",
                     str(_error(folder)))
    config_file.write_text(json.dumps({**config, "num_memory": config["num_memory"] + 1}))
    assert re.search(r"state_dict\.npz does not fit model_config\.json: .*_proto_tau_m",
                     str(_error(folder)))
