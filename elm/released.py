"""Load the authors' released models (PyTorch state dicts saved as arrays) into :class:`ELM`.

The authors' ``ELM`` constructor takes ``num_input, num_output, num_memory, lambda_value,
mlp_num_layers, mlp_hidden_size, mlp_activation, tau_s_value`` (v2: ``tau_b_value``),
``memory_tau_min, memory_tau_max, learn_memory_tau, w_s_value, num_branch,
num_synapse_per_branch, input_to_synapse_routing, delta_t``; ``model_config.json`` holds the
ones that differ from the defaults below. Their state-dict keys map onto ours one to one.

A file that is missing, truncated, corrupt or does not fit its partner (a config key of the wrong
type, a weight of the wrong shape) raises :class:`ReleasedModelError` naming the file and what is
wrong, never a bare ``EOFError``, ``zipfile.BadZipFile`` or ``json.JSONDecodeError``.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from elm.model import ELM, ELMConfig

#: The authors' constructor defaults (commit 52e68a6), used for every key a config leaves out.
AUTHORS_DEFAULTS: dict[str, Any] = {
    "num_memory": 100,
    "lambda_value": 5.0,
    "mlp_num_layers": 1,
    "mlp_hidden_size": None,
    "mlp_activation": "relu",
    "tau_s_value": 5.0,
    "tau_b_value": 5.0,
    "memory_tau_min": 1.0,
    "memory_tau_max": 1000.0,
    "learn_memory_tau": False,
    "w_s_value": 0.5,
    "num_branch": None,
    "num_synapse_per_branch": 1,
    "input_to_synapse_routing": None,
    "delta_t": 1.0,
}

_ROUTING_NAMES = {None: "none", "neuronio_routing": "neuronio", "random_routing": "random"}
GET_THEM = "download the released model again (AaronSpieler/elmneuron, models/)"
#: What reading a damaged .npz can raise (zip structure, member data, numpy's array header).
_NPZ_ERRORS = (EOFError, OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


class ReleasedModelError(ValueError):
    """A released model's file is missing, unreadable, or does not describe a model of this
    package; the message names the file and what is wrong."""


def _number(config: Mapping[str, Any], key: str, kind: type) -> Any:
    """``kind(config[key])`` for a number of the right kind, else a ValueError naming the key."""
    value = config[key]
    ok = (isinstance(value, int | float) and not isinstance(value, bool)
          and (kind is float or float(value).is_integer()))
    if not ok:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{key}={value!r} should be {what}")
    return kind(value)


def read_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file, read now (so a truncated or corrupt file fails here,
    not later), or :class:`ReleasedModelError` naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in npz.files}
    except _NPZ_ERRORS as err:
        raise ReleasedModelError(
            f"{path}: cannot read it as a numpy .npz archive ({type(err).__name__}: {err}); "
            f"the file is truncated or corrupt: {GET_THEM}") from err


def read_config(path: str | Path) -> dict[str, Any]:
    """A ``model_config.json`` as a dict, or :class:`ReleasedModelError` naming the file."""
    path = Path(path)
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ReleasedModelError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, "
                                 f"column {err.colno}); the file is damaged: {GET_THEM}") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ReleasedModelError(f"{path}: cannot read it ({err}); {GET_THEM}") from err
    if not isinstance(config, dict):
        raise ReleasedModelError(f"{path}: expected a JSON object of the authors' constructor "
                                 f"arguments, got a {type(config).__name__}; {GET_THEM}")
    return config


def config_from_authors(config: Mapping[str, Any], *, v2: bool = False) -> ELMConfig:
    """Translate the authors' constructor kwargs into an :class:`ELMConfig`."""
    unknown = set(config) - set(AUTHORS_DEFAULTS) - {"num_input", "num_output"}
    if unknown:
        raise ValueError(f"unknown keys in the authors' model config: {sorted(unknown)}; "
                         f"known: {sorted(AUTHORS_DEFAULTS)}")
    for key in ("num_input", "num_output"):
        if key not in config:
            raise ValueError(f"the authors' model config needs {key!r} (no default exists)")
    c = {**AUTHORS_DEFAULTS, **config}
    if c["input_to_synapse_routing"] not in _ROUTING_NAMES:
        raise ValueError(f"input_to_synapse_routing must be one of {list(_ROUTING_NAMES)}, "
                         f"got {c['input_to_synapse_routing']!r}")
    for key in ("mlp_hidden_size", "num_branch"):
        if c[key] is not None:
            _number(c, key, int)
    if not isinstance(c["learn_memory_tau"], bool):
        raise ValueError(f"learn_memory_tau={c['learn_memory_tau']!r} should be true or false")
    tau_min, tau_max = _number(c, "memory_tau_min", float), _number(c, "memory_tau_max", float)
    if v2:  # the v2 code widens degenerate bounds so a constant tau_m stays representable
        tau_max = max(tau_min + 3e-6, tau_max)
    return ELMConfig(
        num_input=_number(c, "num_input", int),
        num_output=_number(c, "num_output", int),
        d_m=_number(c, "num_memory", int),
        d_mlp=c["mlp_hidden_size"],
        mlp_layers=_number(c, "mlp_num_layers", int),
        activation=c["mlp_activation"],
        lambda_value=_number(c, "lambda_value", float),
        tau_s=_number(c, "tau_b_value" if v2 else "tau_s_value", float),
        tau_m_init=(tau_min, tau_max),
        tau_m_bounds=(tau_min, tau_max),
        learn_tau_m=c["learn_memory_tau"],
        w_s_init=_number(c, "w_s_value", float),
        dt=_number(c, "delta_t", float),
        update="v2" if v2 else "v1",
        routing=_ROUTING_NAMES[c["input_to_synapse_routing"]],
        d_tree=c["num_branch"],
        d_brch=_number(c, "num_synapse_per_branch", int),
    )


def _take(state: dict[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in state:
        raise KeyError(f"state dict lacks {key!r} (expected shape {shape}); "
                       f"present: {sorted(state)}")
    value = np.asarray(state.pop(key))
    if value.shape != shape:
        raise ValueError(f"state dict entry {key!r} has shape {value.shape}, "
                         f"the config implies {shape}")
    return value


def from_state_dict(
    state_dict: dict[str, np.ndarray], config: dict, *, dtype=jnp.float32
) -> ELM:
    """Build an :class:`ELM` from the authors' state dict and ``model_config.json`` dict.

    Keys absent from ``config`` take the authors' constructor defaults
    (:data:`AUTHORS_DEFAULTS`); a state dict with a ``tau_b`` entry is the v2 model. Use
    ``dtype=jnp.float64`` (with ``jax_enable_x64``) for bit-level comparisons.

    ``state_dict`` may be an open ``np.load(...)`` archive: a member that cannot be read raises
    :class:`ReleasedModelError` naming the file. A config or state dict that does not describe a
    model raises ``ValueError`` / ``KeyError`` naming the entry (:func:`load_released` adds the
    file).
    """
    try:
        state = {k: np.asarray(v) for k, v in state_dict.items()}
    except _NPZ_ERRORS as err:
        source = getattr(getattr(state_dict, "zip", None), "filename", None) or "the state dict"
        raise ReleasedModelError(f"{source}: an array cannot be read ({type(err).__name__}: "
                                 f"{err}); the file is truncated or corrupt: {GET_THEM}") from err
    v2 = "tau_b" in state
    cfg = config_from_authors(config, v2=v2)
    model = ELM(cfg, rngs=nnx.Rngs(0), dtype=dtype)
    n_syn, d_tree, d_m = cfg.num_synapse, cfg.branches, cfg.d_m

    tau_key, tau_shape = ("tau_b", (d_tree,)) if v2 else ("tau_s", (n_syn,))
    tau = _take(state, tau_key, tau_shape)
    if not np.all(tau == tau.flat[0]):
        raise ValueError(f"{tau_key!r} holds several time constants; this implementation (and "
                         "every released model) uses one value for all synapses")
    model.tau_s[...] = jnp.asarray(tau.flat[0], dtype)
    model.proto_w_s[...] = jnp.asarray(_take(state, "_proto_w_s", (n_syn,)), dtype)
    model.proto_tau_m[...] = jnp.asarray(_take(state, "_proto_tau_m", (d_m,)), dtype)

    index = state.pop("input_to_synapse_indices", np.zeros(0))
    mask = state.pop("valid_indices_mask", np.zeros(0))
    if cfg.routing != "none":  # routing-free models store these as empty arrays
        if index.shape != (n_syn,) or mask.shape != (n_syn,):
            raise ValueError(f"routing arrays must have shape ({n_syn},), got "
                             f"{index.shape} and {mask.shape}")
        model.synapse_index[...] = jnp.asarray(index, jnp.int32)
        model.synapse_mask[...] = jnp.asarray(mask, dtype)

    for i, layer in enumerate(model.mlp):
        n_in, n_out = layer.kernel.shape
        prefix = f"mlp.network.{2 * i}"
        layer.kernel[...] = jnp.asarray(_take(state, f"{prefix}.weight", (n_out, n_in)).T, dtype)
        layer.bias[...] = jnp.asarray(_take(state, f"{prefix}.bias", (n_out,)), dtype)
    n_out = cfg.num_output
    model.w_y.kernel[...] = jnp.asarray(_take(state, "w_y.weight", (n_out, d_m)).T, dtype)
    model.w_y.bias[...] = jnp.asarray(_take(state, "w_y.bias", (n_out,)), dtype)
    if state:
        raise ValueError(f"state dict has entries this config does not use: {sorted(state)} "
                         "(wrong mlp_num_layers or model version?)")
    return model


def load_released(model_dir: str | Path, *, dtype=jnp.float32) -> ELM:
    """Load a folder laid out like the released models: ``state_dict.npz`` + ``model_config.json``.

    ``derived.npz`` (if present) is checked against the loaded model's ``tau_m``/``kappa_m``/
    ``w_s``, which catches a silently wrong parameterisation. A missing file raises
    ``FileNotFoundError``; a truncated, corrupt or mismatched one :class:`ReleasedModelError`
    naming the file and what is wrong.
    """
    model_dir = Path(model_dir)
    weights, config_file = model_dir / "state_dict.npz", model_dir / "model_config.json"
    for path in (weights, config_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: a released-model folder holds state_dict.npz and "
                "model_config.json (see the authors' repository AaronSpieler/elmneuron, models/)"
            )
    state = read_npz(weights)
    config = read_config(config_file)
    try:
        config_from_authors(config, v2="tau_b" in state)
    except (ValueError, TypeError) as err:
        raise ReleasedModelError(f"{config_file}: {err}") from err
    try:
        model = from_state_dict(state, config, dtype=dtype)
    except (ValueError, KeyError) as err:
        message = str(err).strip("'\"")
        raise ReleasedModelError(f"{weights} does not fit {config_file.name}: {message}") from err
    derived_file = model_dir / "derived.npz"
    if derived_file.is_file():
        derived = read_npz(derived_file)
        for name in ("tau_m", "kappa_m", "w_s"):
            if name not in derived:
                continue
            ours = np.asarray(getattr(model, name))
            if ours.shape != derived[name].shape or not np.allclose(
                    ours, derived[name], rtol=1e-5, atol=1e-6):
                raise ReleasedModelError(f"{derived_file}: {name} of the loaded model disagrees "
                                         "with the authors' derived values")
    return model
