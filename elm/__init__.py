"""``elm``: the Expressive Leaky Memory neuron (Spieler et al., ICLR 2024) in JAX and Flax NNX.

Public entry points:

* :class:`ELM`, :class:`ELMConfig`, :class:`BranchELM`: the neuron (``model(X)`` -> raw outputs);
* :func:`from_state_dict`, :func:`load_released`: the authors' released NeuronIO models;
* :func:`count_params`, :func:`count_flops`: the x-axes of the paper's scaling figures;
* :class:`SparseInput`, :func:`sparse_input`: a spike batch as its non-zero entries
  (``model(sparse_input(x))`` equals ``model(x)`` and skips the silent channels).
"""

from elm.counting import count_flops, count_params
from elm.model import ELM, BranchELM, Buffer, ELMConfig
from elm.recurrence import SparseInput, sparse_input
from elm.released import from_state_dict, load_released

__all__ = [
    "ELM",
    "BranchELM",
    "Buffer",
    "ELMConfig",
    "SparseInput",
    "count_flops",
    "count_params",
    "from_state_dict",
    "load_released",
    "sparse_input",
]
