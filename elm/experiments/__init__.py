"""Reproducing the paper: experiment settings, data tasks, the training loop, runs, the results
store and sweeps.

This layer sits on top of the neuron (:mod:`elm`) and its baselines (:mod:`elm.baselines`) and
uses the data readers (:mod:`elm.data`); nothing in those imports it. Modules:

* :mod:`~elm.experiments.configs`: the paper's settings by name, each citing its source; scales;
* :mod:`~elm.experiments.tasks`: per dataset family, batches, loss, evaluation, provenance;
* :mod:`~elm.experiments.training`: the one training loop (single model or an ensemble);
* :mod:`~elm.experiments.ensemble`: many same-shaped models as one vmapped program;
* :mod:`~elm.experiments.neuronio_eval`: the authors' NeuronIO evaluation protocol;
* :mod:`~elm.experiments.run`: one run -> one stored record (``python -m elm.run``);
* :mod:`~elm.experiments.results`: the results store and typed records;
* :mod:`~elm.experiments.sweep`: grids of runs on local processes or Ray (``python -m elm.sweep``).
"""
