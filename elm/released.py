"""Load the authors' released models (PyTorch state dicts saved as arrays) into :class:`ELM`.

The authors' ``ELM`` constructor takes ``num_input, num_output, num_memory, lambda_value,
mlp_num_layers, mlp_hidden_size, mlp_activation, tau_s_value`` (v2: ``tau_b_value``),
``memory_tau_min, memory_tau_max, learn_memory_tau, w_s_value, num_branch,
num_synapse_per_branch, input_to_synapse_routing, delta_t``; ``model_config.json`` holds the
ones that differ from the defaults below. Their state-dict keys map onto ours one to one.
"""

from __future__ import annotations

import json
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
    tau_min, tau_max = float(c["memory_tau_min"]), float(c["memory_tau_max"])
    if v2:  # the v2 code widens degenerate bounds so a constant tau_m stays representable
        tau_max = max(tau_min + 3e-6, tau_max)
    return ELMConfig(
        num_input=int(c["num_input"]),
        num_output=int(c["num_output"]),
        d_m=int(c["num_memory"]),
        d_mlp=c["mlp_hidden_size"],
        mlp_layers=int(c["mlp_num_layers"]),
        activation=c["mlp_activation"],
        lambda_value=float(c["lambda_value"]),
        tau_s=float(c["tau_b_value"] if v2 else c["tau_s_value"]),
        tau_m_init=(tau_min, tau_max),
        tau_m_bounds=(tau_min, tau_max),
        learn_tau_m=bool(c["learn_memory_tau"]),
        w_s_init=float(c["w_s_value"]),
        dt=float(c["delta_t"]),
        update="v2" if v2 else "v1",
        routing=_ROUTING_NAMES[c["input_to_synapse_routing"]],
        d_tree=c["num_branch"],
        d_brch=int(c["num_synapse_per_branch"]),
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
    """
    state = {k: np.asarray(v) for k, v in state_dict.items()}
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
    ``w_s``, which catches a silently wrong parameterisation.
    """
    model_dir = Path(model_dir)
    weights, config_file = model_dir / "state_dict.npz", model_dir / "model_config.json"
    for path in (weights, config_file):
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: a released-model folder holds state_dict.npz and "
                "model_config.json (see the authors' repository AaronSpieler/elmneuron, models/)"
            )
    with np.load(weights, allow_pickle=False) as npz:
        state = dict(npz)
    model = from_state_dict(state, json.loads(config_file.read_text()), dtype=dtype)
    derived_file = model_dir / "derived.npz"
    if derived_file.is_file():
        with np.load(derived_file, allow_pickle=False) as derived:
            for name in ("tau_m", "kappa_m", "w_s"):
                if name in derived and not np.allclose(
                    np.asarray(getattr(model, name)), derived[name], rtol=1e-5, atol=1e-6
                ):
                    raise ValueError(f"{derived_file}: {name} of the loaded model disagrees "
                                     "with the authors' derived values")
    return model
