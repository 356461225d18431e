"""The NeuronIO stand-in: reproducible from its seeds, in the real format, and truly nonlinear.

The NEURON tests compile the mechanisms (a few seconds, into a cache outside the source tree)
and simulate 1-2 s of committed runs; they skip only where `neuron` is not installed.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from elm.data import neuronio, neuronio_sim
from elm.data.neuronio import discover, load_file, load_pickle

needs_neuron = pytest.mark.skipif(importlib.util.find_spec("neuron") is None,
                                  reason="NEURON is not installed (pip install neuron)")


def _committed():
    """The first committed test file's experiment dict and path."""
    path = discover(neuronio.stand_in_dir()).test[0]
    return load_pickle(path), path


def _busiest(exp: dict, until_ms: float) -> int:
    """The run with the most output spikes before `until_ms`: the most to compare."""
    sims = exp["Results"]["listOfSingleSimulationDicts"]
    return int(np.argmax([np.sum(s["outputSpikeTimes"] < until_ms) for s in sims]))


def test_inputs_regenerate_exactly_from_the_stored_seed():
    exp, _ = _committed()
    params = exp["Params"]
    for k in (0, len(params["simulationSeeds"]) - 1):
        sim = exp["Results"]["listOfSingleSimulationDicts"][k]
        stats = params["inputStatistics"][k]
        ex, inh, drawn = neuronio_sim.draw_inputs(params["simulationSeeds"][k],
                                                  ex_hz=stats["exRateHz"])
        assert drawn["targetRateHz"] == stats["targetRateHz"]
        assert neuronio_sim._spike_time_dict(ex) == sim["exInputSpikeTimes"]
        assert neuronio_sim._spike_time_dict(inh) == sim["inhInputSpikeTimes"]
        short, _, _ = neuronio_sim.draw_inputs(params["simulationSeeds"][k], 1000,
                                               stats["exRateHz"])
        np.testing.assert_array_equal(short, ex[:, :1000])  # a short run is a prefix


def test_split_layout_and_names():
    assert neuronio_sim.split_layout(4) == [
        "test/Data_test", "train/full_ergodic_train_batch_1",
        "train/full_ergodic_train_batch_2", "train/full_ergodic_train_batch_2"]
    folders = neuronio_sim.split_layout(25)
    assert folders.count("test/Data_test") == 3
    assert folders.count("train/full_ergodic_train_batch_1") == 2
    assert folders[-1] == "train/full_ergodic_train_batch_6"
    with pytest.raises(ValueError, match="at least 3 files"):
        neuronio_sim.split_layout(2)
    assert "sim__" in neuronio_sim.file_name(100000, 8, 17)


@needs_neuron
def test_written_files_are_real_format_and_byte_reproducible(tmp_path):
    """An experiment assembled from made-up runs reads back through the one reader."""
    sims = []
    for seed in (1, 2):
        ex, inh, stats = neuronio_sim.draw_inputs(seed)
        sims.append({
            "exInputSpikeTimes": neuronio_sim._spike_time_dict(ex),
            "inhInputSpikeTimes": neuronio_sim._spike_time_dict(inh),
            "somaVoltageLowRes": np.full(6000, -70.0, np.float16),
            "outputSpikeTimes": np.array([10.5, 3000.125], np.float32),
            "inputStatistics": stats,
        })
    exp = neuronio_sim.experiment_dict([1, 2], sims)
    for suffix in ("xz", "gz"):
        a, b = tmp_path / f"sim__a.p.{suffix}", tmp_path / f"sim__b.p.{suffix}"
        neuronio_sim.write_experiment(a, exp)
        neuronio_sim.write_experiment(b, exp)
        assert a.read_bytes() == b.read_bytes()
        X, spikes, _ = load_file(a)
        assert X.shape == (2, 6000, 1278)
        assert np.flatnonzero(spikes[1]).tolist() == [10, 2999]
        np.testing.assert_array_equal(X[1, :, :639].T, ex)  # the last drawn run (seed 2)
        np.testing.assert_array_equal(X[1, :, 639:].T, inh)


@needs_neuron
def test_mechanisms_compile_outside_the_source_tree():
    lib = neuronio_sim.mechanism_library()
    assert lib.is_file()
    assert neuronio_sim.MECHANISM_DIR not in lib.parents
    assert not any(p.is_dir() for p in neuronio_sim.MECHANISM_DIR.iterdir())


@needs_neuron
def test_committed_run_is_reproduced_by_a_short_resimulation():
    exp, path = _committed()
    params = exp["Params"]
    k = _busiest(exp, 999)
    sim = exp["Results"]["listOfSingleSimulationDicts"][k]
    rerun = neuronio_sim.simulate(params["simulationSeeds"][k], 1000,
                                  ex_hz=params["inputStatistics"][k]["exRateHz"])
    v_old = sim["somaVoltageLowRes"][:1000].astype(np.float64)
    v_new = rerun["somaVoltageLowRes"].astype(np.float64)
    old_spikes = sim["outputSpikeTimes"][sim["outputSpikeTimes"] < 999]
    np.testing.assert_allclose(rerun["outputSpikeTimes"], old_spikes, atol=0.5,
                               err_msg=f"{path} run {k}")
    assert np.median(np.abs(v_new - v_old)) < 0.05, f"{path} run {k}"
    assert np.max(np.abs(v_new - v_old)) < 5.0, f"{path} run {k}"


@needs_neuron
def test_removing_nmda_changes_the_output_clearly():
    """Dendritic NMDA nonlinearity matters: the same inputs without it give a different cell."""
    exp, _ = _committed()
    params = exp["Params"]
    k = _busiest(exp, 2000)
    seed, ex_hz = params["simulationSeeds"][k], params["inputStatistics"][k]["exRateHz"]
    with_nmda = neuronio_sim.simulate(seed, 2000, ex_hz=ex_hz)
    without = neuronio_sim.simulate(seed, 2000, nmda=False, ex_hz=ex_hz)
    assert with_nmda["exInputSpikeTimes"] == without["exInputSpikeTimes"]
    n_with, n_without = len(with_nmda["outputSpikeTimes"]), len(without["outputSpikeTimes"])
    v_with = with_nmda["somaVoltageLowRes"][200:].astype(float)
    v_without = without["somaVoltageLowRes"][200:].astype(float)
    assert n_with >= 2 and n_without <= n_with // 2, (n_with, n_without)
    assert np.median(v_with) - np.median(v_without) > 1.0
