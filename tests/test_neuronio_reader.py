"""The NeuronIO reader, its safety, discovery, transforms and sampler.

Fixtures are written here in the real files' exact layout (Python dicts of numpy int64 keys and
lists of int64 times, float16 voltage and spike times, protocol 2), independent of our own
generator, and checked against binary matrices and hand-computed spike bins.
"""

from __future__ import annotations

import gzip
import lzma
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from elm.data import neuronio
from elm.data.neuronio import (
    NeuronIODataError,
    UnsafePickleError,
    WindowSampler,
    discover,
    load_file,
    transform_inputs,
    transform_soma,
)

N_SEG = 639


def _times_dict(binary: np.ndarray) -> dict:
    """Segment -> spike times as Beniaguev's `bin2dict` builds them (numpy int64 everywhere)."""
    rows, times = np.nonzero(binary)
    out: dict = {}
    for r, t in zip(rows, times, strict=True):
        out.setdefault(r, []).append(t)
    return out


def make_experiment(rng: np.random.Generator, n_sim: int = 2, seconds: int = 1,
                    out_spike_times: list[list[float]] | None = None) -> tuple[dict, np.ndarray]:
    """A real-format experiment dict and the binary input it encodes, (n_sim, T, 1278)."""
    n_t = seconds * 1000
    X = (rng.random((n_sim, n_t, 2 * N_SEG)) < 0.003).astype(np.uint8)
    sims = []
    for k in range(n_sim):
        spikes = np.asarray(out_spike_times[k] if out_spike_times else [], dtype=np.float16)
        sims.append({
            "exInputSpikeTimes": _times_dict(X[k, :, :N_SEG].T),
            "inhInputSpikeTimes": _times_dict(X[k, :, N_SEG:].T),
            "somaVoltageLowRes": (-70 + 3 * rng.standard_normal(n_t)).astype(np.float16),
            "somaVoltageHighRes": np.zeros(8 * n_t, dtype=np.float16),
            "outputSpikeTimes": spikes,
        })
    params = {"allSegmentsType": ["basal"] * 262 + ["apical"] * 377,
              "totalSimDurationInSec": seconds, "randomSeed": 100520, "numSimulations": n_sim}
    return {"Params": params, "Results": {"listOfSingleSimulationDicts": sims}}, X


def write(path: Path, obj: object, compress: str = "") -> Path:
    data = pickle.dumps(obj, protocol=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = {"gz": gzip.open, "xz": lzma.open}.get(compress, open)
    with opener(path, "wb") as f:
        f.write(data)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_binarisation_and_output_bins_match_reference_convention(tmp_path, rng):
    spike_times = [[0.25, 12.5, 100.875, 999.0], []]
    exp, X_true = make_experiment(rng, out_spike_times=spike_times)
    X, spikes, soma = load_file(write(tmp_path / "sim__a.p", exp))
    assert X.dtype == np.uint8 and spikes.dtype == np.uint8 and soma.dtype == np.float32
    assert X.shape == (2, 1000, 1278) and spikes.shape == soma.shape == (2, 1000)
    np.testing.assert_array_equal(X, X_true)  # excitatory rows first, then inhibitory
    # int(t - 0.5), truncating toward zero: 0.25 -> 0, 12.5 -> 12, 100.875 -> 100, 999 -> 998
    assert np.flatnonzero(spikes[0]).tolist() == [0, 12, 100, 998]
    assert spikes[1].sum() == 0
    expected = exp["Results"]["listOfSingleSimulationDicts"][0]["somaVoltageLowRes"]
    np.testing.assert_array_equal(soma[0], expected.astype(np.float32))


def test_compressed_copies_read_identically(tmp_path, rng):
    exp, _ = make_experiment(rng, out_spike_times=[[5.0], [7.0]])
    plain = load_file(write(tmp_path / "sim__a.p", exp))
    for kind in ("gz", "xz"):
        copy = load_file(write(tmp_path / f"sim__a.p.{kind}", exp, kind))
        for a, b in zip(plain, copy, strict=True):
            np.testing.assert_array_equal(a, b)


def test_numpy1_pickles_are_accepted(tmp_path, rng):
    """numpy 1.x writes `numpy.core.multiarray`; numpy 2 writes `numpy._core.multiarray`."""
    exp, X_true = make_experiment(rng, n_sim=1, out_spike_times=[[3.0]])
    data = pickle.dumps(exp, protocol=2)
    assert b"numpy._core.multiarray" in data
    path = tmp_path / "sim__old.p"
    path.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    X, spikes, _ = load_file(path)
    np.testing.assert_array_equal(X, X_true)
    assert np.flatnonzero(spikes[0]).tolist() == [2]


class _Payload:
    """Unpickling this would run a shell command (the attack the restricted loader stops)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, rng):
    marker = tmp_path / "pwned"
    exp, _ = make_experiment(rng, n_sim=1)
    exp["Params"]["note"] = _Payload(marker)  # hidden inside an otherwise valid file
    path = write(tmp_path / "sim__evil.p", exp)
    with pytest.raises(UnsafePickleError, match=r"sim__evil\.p.*refused.*system"):
        load_file(path)
    assert not marker.exists()
    # and the payload really is live: the plain unpickler would have run it
    pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("Results"), "'Params' and 'Results'"),
        (lambda e: e["Params"].pop("allSegmentsType"), "lacks 'allSegmentsType'"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].pop("somaVoltageLowRes"),
         "simulation 0 lacks.*somaVoltageLowRes"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][1].update(
            somaVoltageLowRes=np.zeros(999, np.float16)), "999 samples, expected 1000"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            exInputSpikeTimes={700: [1]}), "segment 700"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            inhInputSpikeTimes={3: [1000]}), "outside 0..1000"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            outputSpikeTimes=np.array([2000.0])), "outputSpikeTimes' outside"),
        # every array against the file's declared sizes: refused, never flattened
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][1].update(
            somaVoltageLowRes=np.zeros((2, 500), np.float16)),
         r"simulation 1: 'somaVoltageLowRes' has shape \(2, 500\), expected \(1000,\)"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            somaVoltageLowRes=["high"] * 1000), "'somaVoltageLowRes' is not an array of numbers"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            outputSpikeTimes=np.array([[10.0], [20.0]])),
         r"'outputSpikeTimes' has shape \(2, 1\), expected \(n,\)"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            exInputSpikeTimes={3: [[1, 2]]}),
         r"'exInputSpikeTimes'\[3\] \(spike times\) has shape \(1, 2\), expected \(n,\)"),
        (lambda e: e["Results"]["listOfSingleSimulationDicts"][0].update(
            inhInputSpikeTimes={"a": [1]}), "has segment 'a'"),
        (lambda e: e["Params"].update(numSimulations=3),
         r"'numSimulations'\] declares 3 simulations but 'listOfSingleSimulationDicts' holds 2"),
        (lambda e: e["Params"].update(allSegmentsLength=[1.0] * 10),
         r"'allSegmentsLength'\] has 10 entries, but 'allSegmentsType' declares 639 segments"),
        (lambda e: e["Params"].update(totalSimDurationInSec="1"),
         r"'totalSimDurationInSec'\] should be a positive number"),
    ],
)
def test_malformed_files_name_file_and_problem(tmp_path, rng, mutate, message):
    exp, _ = make_experiment(rng)
    mutate(exp)
    path = write(tmp_path / "sim__bad.p", exp)
    with pytest.raises(NeuronIODataError, match=rf"sim__bad\.p.*{message}.*data/README\.md"):
        load_file(path)


@pytest.mark.parametrize("compress", ["", "xz", "gz"])
def test_truncated_file_is_reported(tmp_path, rng, compress):
    exp, _ = make_experiment(rng, n_sim=1)
    path = write(tmp_path / "sim__cut.p", exp, compress)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(NeuronIODataError, match=r"sim__cut\.p.*truncated or corrupt"):
        load_file(path)


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(NeuronIODataError, match=r"nope\.p: no such file.*README"):
        load_file(tmp_path / "nope.p")


def test_transforms_follow_the_authors():
    X = np.zeros((1, 2, 1278), np.uint8)
    X[0, 0, 0] = X[0, 0, 639] = X[0, 1, 1277] = 1
    Xt = transform_inputs(X)
    assert Xt.dtype == np.float32
    assert Xt[0, 0, 0] == 1 and Xt[0, 0, 639] == -1 and Xt[0, 1, 1277] == -1 and Xt.sum() == -1
    soma = np.array([-40.0, -55.0, -67.7, -77.7], np.float32)
    np.testing.assert_allclose(transform_soma(soma), [1.27, 1.27, 0.0, -1.0], atol=1e-6)


def _layout(root: Path, rng: np.random.Generator, batches=(1, 2, 3), test=True) -> None:
    exp, _ = make_experiment(rng, n_sim=1)
    for b in batches:
        write(root / "train" / f"full_ergodic_train_batch_{b}" / f"sim__b{b}.p", exp)
    if test:
        write(root / "test" / "Data_test" / "sim__t.p", exp)


def test_discover_applies_the_authors_split(tmp_path, rng):
    _layout(tmp_path, rng)
    (tmp_path / "train" / "full_ergodic_train_batch_2" / "notes.txt").write_text("ignored")
    split = discover(tmp_path)
    assert [p.name for p in split.valid] == ["sim__b1.p"]
    assert [p.name for p in split.train] == ["sim__b2.p", "sim__b3.p"]
    assert [p.name for p in split.test] == ["sim__t.p"]


def test_discover_errors(tmp_path, rng):
    with pytest.raises(NeuronIODataError, match=r"missing: NeuronIO folder not found.*ELM_DATA"):
        discover(tmp_path / "missing")
    _layout(tmp_path / "a", rng, test=False)
    with pytest.raises(NeuronIODataError, match=r"expected folders.*Data_test"):
        discover(tmp_path / "a")
    _layout(tmp_path / "b", rng)
    wrong = tmp_path / "b" / "test" / "Data_test"
    (wrong / "sim__t.p").rename(wrong / "simulation_t.pickle")
    with pytest.raises(NeuronIODataError, match=r"Data_test: no simulation files.*'sim__'"):
        discover(tmp_path / "b")


def test_data_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    assert neuronio.resolve_data_dir() == (neuronio.stand_in_dir(),
                                           neuronio.STAND_IN_DESCRIPTION)
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path))
    with pytest.warns(UserWarning, match="no neuronio/ folder; using the offline stand-in"):
        assert neuronio.resolve_data_dir().folder == neuronio.stand_in_dir()
    (tmp_path / "neuronio").mkdir()
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path))
    folder, provenance = neuronio.resolve_data_dir()
    assert folder == tmp_path / "neuronio" and str(folder) in provenance
    assert "stand-in" not in provenance
    assert neuronio.resolve_data_dir("elsewhere").folder == Path("elsewhere")


def test_sampler_windows_are_exact_transformed_slices(tmp_path, rng):
    files, raw = [], []
    for i in range(2):
        exp, _ = make_experiment(rng, n_sim=3, seconds=2,
                                 out_spike_times=[[600.0, 1700.0], [900.0], []])
        files.append(write(tmp_path / f"sim__{i}.p.xz", exp, "xz"))
        raw.append(load_file(files[-1]))
    window, ignore = 300, 500
    # every admissible window, indexed by its first three input rows
    index = {}
    for f, (Xr, _, _) in enumerate(raw):
        for k in range(Xr.shape[0]):
            for start in range(ignore, 2000 - window):
                index[Xr[k, start:start + 3].tobytes()] = (f, k, start)
    with WindowSampler(files, batch_size=4, window=window, ignore_from_start=ignore,
                       file_load_fraction=0.5, seed=3, prefetch=2) as sampler:
        batches = [next(sampler) for _ in range(6)]
    for X, spikes, soma in batches:
        assert X.shape == (4, window, 1278) and X.dtype == np.float32
        assert spikes.shape == soma.shape == (4, window)
        for b in range(4):
            binary = np.abs(X[b]).astype(np.uint8)
            key = binary[:3].tobytes()
            assert key in index, "a window is not a slice starting after the ignored 500 ms"
            f, k, start = index[key]
            Xr, sr, vr = raw[f]
            np.testing.assert_array_equal(transform_inputs(Xr[k, start:start + window]), X[b])
            np.testing.assert_array_equal(sr[k, start:start + window], spikes[b])
            np.testing.assert_array_equal(transform_soma(vr[k, start:start + window]), soma[b])


def test_sampler_is_deterministic(tmp_path, rng):
    exp, _ = make_experiment(rng, n_sim=4, seconds=2)
    files = [write(tmp_path / f"sim__{i}.p", exp) for i in range(5)]
    runs = []
    for _ in range(2):
        with WindowSampler(files, batch_size=2, window=500, file_load_fraction=0.25, seed=7,
                           prefetch=2) as sampler:
            runs.append([next(sampler)[0] for _ in range(4)])
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


def test_sampler_decodes_each_file_once_and_streams_the_same_batches(tmp_path, rng, monkeypatch):
    """The decoded-file cache changes how often a file is read, never what is sampled: the
    stream equals the uncached one (``cache_bytes=0``), sparse and dense, and each of the 3
    files is decoded once however often it is drawn."""
    exp, _ = make_experiment(rng, n_sim=4, seconds=2)
    files = [write(tmp_path / f"sim__{i}.p", exp) for i in range(3)]
    loads, real_load = [], neuronio.load_file
    monkeypatch.setattr(neuronio, "load_file", lambda p: loads.append(p) or real_load(p))

    def stream(cache_bytes, sparse):
        with WindowSampler(files, batch_size=2, window=500, file_load_fraction=0.25, seed=3,
                           prefetch=2, sparse=sparse, cache_bytes=cache_bytes,
                           disk_cache=False) as sampler:
            return [next(sampler) for _ in range(12)]  # 2 batches per draw: 6 draws of 3 files

    for sparse in (False, True):
        loads.clear()
        uncached = stream(0, sparse)
        assert len(loads) >= 6
        loads.clear()
        cached = stream(2**30, sparse)
        assert len(loads) == len(set(loads)) <= 3
        for a, b in zip(uncached, cached, strict=True):
            x_a, x_b = (x.to_dense() if sparse else x for x in (a[0], b[0]))
            np.testing.assert_array_equal(x_a, x_b)
            np.testing.assert_array_equal(a[1], b[1])
            np.testing.assert_array_equal(a[2], b[2])


def test_packed_inputs_index_like_the_array(rng):
    X = (rng.random((3, 40, 13)) < 0.3).astype(np.uint8)
    packed = neuronio.PackedInputs(X)
    assert packed.shape == X.shape and packed.nbytes == 3 * 40 * 2
    rows, cols = np.array([[2], [0]]), np.array([[5, 6, 7], [30, 31, 32]])
    np.testing.assert_array_equal(packed[rows, cols], X[rows, cols])


def test_sampler_streams_files_one_at_a_time(tmp_path, rng, monkeypatch):
    """Only the files needed so far are read, never the whole list up front.

    4 runs x 2000 ms / (2 x 500 ms) x 0.25 = 2 batches per file. After n batches were taken,
    the background thread holds at most ``prefetch`` (2) batches in the queue and one more in
    hand, so it has read at most ceil((n + 3) / 2) files: 2 of 20 before the first batch,
    4 after 4 batches. Reads are counted twice, at ``load_file`` and at every ``open`` of one
    of the files (gzip and lzma open through it too), so a loader that bypasses ``load_file``
    is caught as well.
    """
    import builtins

    exp, _ = make_experiment(rng, n_sim=4, seconds=2)
    files = [write(tmp_path / f"sim__{i}.p", exp) for i in range(20)]
    loads, opened = [], set()
    real_load, real_open = neuronio.load_file, builtins.open

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and Path(file).parent == tmp_path:
            opened.add(Path(file).name)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(neuronio, "load_file", lambda p: loads.append(p) or real_load(p))
    monkeypatch.setattr(builtins, "open", counting_open)

    def read_at_most(n_taken):
        bound = -(-(n_taken + 3) // 2)
        assert len(loads) <= bound, f"{len(loads)} files loaded after {n_taken} batches"
        assert len(opened) <= bound, f"{sorted(opened)} opened after {n_taken} batches"

    with WindowSampler(files, batch_size=2, window=500, file_load_fraction=0.25, seed=7,
                       prefetch=2, disk_cache=False) as sampler:
        read_at_most(0)
        for n in range(1, 7):
            next(sampler)
            read_at_most(n)
        assert len(loads) >= 3  # 6 batches came from at least 3 files
    assert not sampler._thread.is_alive()  # closed: nothing more is read
    assert set(map(Path, loads)) <= set(files)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A private cache folder (``$ELM_CACHE_DIR``) for the decoded copies."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ELM_CACHE_DIR", str(folder))
    return folder


def _assert_decoded(got: tuple, path: Path) -> None:
    packed, spikes, soma = got
    X, spikes_ref, soma_ref = load_file(path)
    assert isinstance(packed, neuronio.PackedInputs) and packed.shape == X.shape
    np.testing.assert_array_equal(packed[:], X)
    np.testing.assert_array_equal(spikes, spikes_ref)
    np.testing.assert_array_equal(soma, soma_ref)
    assert (spikes.dtype, soma.dtype) == (spikes_ref.dtype, soma_ref.dtype)


def test_decoded_copy_is_the_file_and_is_read_back_without_decoding(tmp_path, rng, cache,
                                                                   monkeypatch):
    exp, X = make_experiment(rng, n_sim=3, out_spike_times=[[600.0], [], [10.0, 11.0]])
    path = write(tmp_path / "sim__0.p.xz", exp, "xz")
    _assert_decoded(neuronio.load_decoded(path), path)
    copy = neuronio.decoded_cache_path(path)
    assert copy.is_file() and copy.parent == cache / neuronio.DECODED_CACHE
    assert [p.name for p in copy.parent.iterdir()] == [copy.name]  # no temporary left behind

    real_load = neuronio.load_file

    def refuse(p):
        raise AssertionError(f"decoded {p} again")

    monkeypatch.setattr(neuronio, "load_file", refuse)
    packed, spikes, soma = neuronio.load_decoded(path)
    monkeypatch.setattr(neuronio, "load_file", real_load)
    _assert_decoded((packed, spikes, soma), path)
    np.testing.assert_array_equal(packed[:], X)

    # an edited file, or an edited reader, never meets the old copy
    write(path, make_experiment(np.random.default_rng(1), n_sim=2)[0], "xz")
    assert neuronio.decoded_cache_path(path) != copy
    _assert_decoded(neuronio.load_decoded(path), path)
    monkeypatch.setattr(neuronio, "_reader_hash", lambda: "another reader")
    assert neuronio.decoded_cache_path(path).name not in {p.name for p in copy.parent.iterdir()}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong arrays"])
def test_an_unreadable_decoded_copy_is_decoded_again_and_replaced(tmp_path, rng, cache, damage):
    path = write(tmp_path / "sim__0.p", make_experiment(rng, n_sim=2)[0])
    neuronio.load_decoded(path)
    copy = neuronio.decoded_cache_path(path)
    if damage == "truncate":
        copy.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    elif damage == "garbage":
        copy.write_bytes(b"not an npz")
    else:
        np.savez_compressed(copy, bits=np.zeros((2, 1000, 3), np.uint8), shape=[2, 1000, 1278],
                            spikes=np.zeros(1), soma=np.zeros(1))
    _assert_decoded(neuronio.load_decoded(path), path)
    with np.load(copy) as held:  # replaced by a good copy
        assert held["bits"].shape == (2, 1000, 160)


def test_no_decoded_copy_without_the_cache(tmp_path, rng, cache):
    path = write(tmp_path / "sim__0.p", make_experiment(rng, n_sim=2)[0])
    _assert_decoded(neuronio.load_decoded(path, cache=False), path)
    assert not (cache / neuronio.DECODED_CACHE).exists() or not any(
        (cache / neuronio.DECODED_CACHE).iterdir())


def test_an_interrupted_write_leaves_no_decoded_copy(tmp_path, rng, cache, monkeypatch):
    path = write(tmp_path / "sim__0.p", make_experiment(rng, n_sim=2)[0])

    def interrupted(out, **arrays):
        out.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        neuronio.load_decoded(path)
    assert list((cache / neuronio.DECODED_CACHE).iterdir()) == []


def test_sampler_streams_the_same_batches_from_decoded_copies(tmp_path, rng, cache):
    files = [write(tmp_path / f"sim__{i}.p", make_experiment(rng, n_sim=4, seconds=2)[0])
             for i in range(3)]

    def stream(disk_cache):
        with WindowSampler(files, batch_size=2, window=500, file_load_fraction=0.25, seed=5,
                           prefetch=2, disk_cache=disk_cache) as sampler:
            return [next(sampler) for _ in range(16)]

    plain = stream(False)
    assert not (cache / neuronio.DECODED_CACHE).exists()
    for _ in range(2):  # writing the copies, then reading them
        for a, b in zip(plain, stream(True), strict=True):
            for x, y in zip(a, b, strict=True):
                np.testing.assert_array_equal(x, y)
    assert len(list((cache / neuronio.DECODED_CACHE).iterdir())) == 3


def test_sampler_reports_bad_files(tmp_path):
    bad = tmp_path / "sim__bad.p"
    bad.write_bytes(b"not a pickle")
    sampler = WindowSampler([bad])
    with pytest.raises(NeuronIODataError, match="sim__bad"):
        next(sampler)
    with pytest.raises(NeuronIODataError, match="at least one file"):
        WindowSampler([])


# ------------------------------------------------------------------------------------------
# the committed stand-in


def test_committed_stand_in_reads_through_discovery():
    split = discover(neuronio.stand_in_dir())
    assert split.train and split.valid and split.test
    names = {p.name for p in split.train + split.valid + split.test}
    assert len(names) == len(split.train) + len(split.valid) + len(split.test)
    assert all(re.search(r"sim__.*\.p\.xz$", n) for n in names)
    X, spikes, soma = load_file(split.test[0])
    assert X.shape[1:] == (6000, 1278) and X.dtype == np.uint8
    rate_hz = spikes.sum() / (spikes.shape[0] * 6.0)
    assert 0.3 < rate_hz < 8
    assert -90 < float(np.median(soma)) < -55
    # inputs are sparse Poisson-like trains at a few Hz per synapse
    assert 0.5 < X.mean() * 1000 < 20


def test_sampler_streams_the_committed_stand_in():
    split = discover(neuronio.stand_in_dir())
    with WindowSampler(split.train, seed=0, prefetch=2) as sampler:
        X, spikes, soma = next(sampler)
    assert X.shape == (8, 500, 1278) and spikes.shape == soma.shape == (8, 500)
    assert set(np.unique(X)) <= {-1.0, 0.0, 1.0}
    assert soma.max() <= (-55.0 - neuronio.SOMA_BIAS_MV) * neuronio.SOMA_SCALE + 1e-6
