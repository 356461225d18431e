"""The models the paper compares the ELM against, one module each.

* :class:`LSTM` (:mod:`elm.baselines.lstm`): the LSTM of Table S7 and, with ``chrono=``, the
  Chrono-LSTM of the LRA tasks (Table S3);
* :class:`LIFNeuron`, :class:`SNN`, :func:`snn_spike_l1` (:mod:`elm.baselines.spiking`): the
  classic LIF neuron of Table S4 and the LIF network on SHD;
* :func:`simplest_elm_config` (:mod:`elm.baselines.simplest_elm`): the "simplest ELM" of Table S4;
* :class:`TCN`, :data:`TCN_FAMILY`, :func:`tcn_from_family` (:mod:`elm.baselines.tcn`): a causal
  TCN in the spirit of Beniaguev et al. (2021);
* :class:`TwoTower`, :func:`two_tower` (:mod:`elm.baselines.two_tower`): the two-tower wrapper of
  LRA Retrieval around an ELM or LSTM encoder.

Baselines depend on the core model only (never on data readers or experiments), so they can be
used on any data.
"""

from elm.baselines.lstm import LSTM
from elm.baselines.simplest_elm import simplest_elm_config
from elm.baselines.spiking import SNN, LIFNeuron, snn_spike_l1
from elm.baselines.tcn import BENIAGUEV_TCN, TCN, TCN_FAMILY, TCNSize, tcn_from_family
from elm.baselines.two_tower import TwoTower, last_output, two_tower

__all__ = [
    "BENIAGUEV_TCN",
    "LSTM",
    "SNN",
    "TCN",
    "TCN_FAMILY",
    "LIFNeuron",
    "TCNSize",
    "TwoTower",
    "last_output",
    "simplest_elm_config",
    "snn_spike_l1",
    "tcn_from_family",
    "two_tower",
]
