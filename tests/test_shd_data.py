"""SHD data layer: reader and binning, the authors' split and pairs, streams, stand-in, errors."""

from __future__ import annotations

import hashlib
import re
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from elm.data import paths, shd, shd_standin
from elm.data.shd import SHDDataError

# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def lauscher(shd_recordings: Path) -> Path:
    return shd_recordings


@pytest.fixture(scope="module")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default stand-in, generated through stand_in_dir() into a temporary cache."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ELM_CACHE_DIR", str(cache))
        mp.delenv("ELM_DATA_DIR", raising=False)
        folder = shd.stand_in_dir()
        assert folder.parents[1] == cache
        resolved, origin = shd.resolve_data_dir(scale="smoke")
    assert resolved == folder
    assert "stand-in" in origin and "seed 0" in origin
    return folder


@pytest.fixture(scope="module", params=["shd-lauscher", "stand-in"])
def shd_dir(request: pytest.FixtureRequest) -> Path:
    """The real sample (when ../shared has it) and the generated stand-in: the split, pair and
    resume tests run on both, so a clean clone without ../shared still runs them."""
    return request.getfixturevalue("lauscher" if request.param == "shd-lauscher" else "standin")


@pytest.fixture(scope="module")
def split(shd_dir: Path) -> shd.Split:
    return shd.load_split(shd_dir, bin_ms=10)


def naive_bins(times: np.ndarray, units: np.ndarray, bin_ms: float, duration_s: float = 1.0
               ) -> np.ndarray:
    """The authors' binning restated spike by spike: digitize on arange edges, drop the end."""
    step = bin_ms / 1000
    edges = np.arange(0, duration_s + step, step)
    T = round(duration_s * 1000 / bin_ms)
    out = np.zeros((T, shd.N_CHANNELS), np.float32)
    for t, u in zip(times, units, strict=True):
        b = int(np.digitize(t, edges)) - 1
        if t < duration_s and b < T:
            out[b, u] += 1
    return out


def write_h5(path: Path, times: list, units: list, labels: list, speakers: list | None = None,
             skip: tuple[str, ...] = ()) -> Path:
    """A small file in the SHD layout (optionally without some keys) for malformed-input tests."""
    speakers = [0] * len(labels) if speakers is None else speakers
    with h5py.File(path, "w") as f:
        if "spikes/times" not in skip:
            d = f.create_dataset("spikes/times", (len(times),), h5py.vlen_dtype(np.float32))
            for i, t in enumerate(times):
                d[i] = np.asarray(t, np.float32)
        if "spikes/units" not in skip:
            d = f.create_dataset("spikes/units", (len(units),), h5py.vlen_dtype(np.uint16))
            for i, u in enumerate(units):
                d[i] = np.asarray(u, np.uint16)
        if "labels" not in skip:
            f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        if "extra/speaker" not in skip:
            f.create_dataset("extra/speaker", data=np.asarray(speakers, np.uint16))
    return path


GOOD = {"times": [[0.0, 0.0105, 0.5], [0.2, 0.9999, 1.2]], "units": [[3, 3, 699], [0, 5, 7]],
        "labels": [0, 19]}


# --------------------------------------------------------------------------------------------
# reader and binning on the real sample set


def test_load_shapes_and_types(lauscher: Path) -> None:
    X, labels, speakers = shd.load(lauscher / "shd_test.h5", bin_ms=10)
    assert X.shape == (180, 100, 700) and X.dtype == np.float32
    assert labels.shape == speakers.shape == (180,)
    assert np.issubdtype(labels.dtype, np.integer)
    assert np.bincount(labels).tolist() == [9] * 20  # every class 9 times, no label past 19
    assert set(speakers.tolist()) == {4, 5}
    for bin_ms, T in [(1, 1000), (6, 167), (8, 125), (100, 10)]:
        assert shd.n_bins(bin_ms) == T
    assert shd.load(lauscher / "shd_test.h5", bin_ms=100, duration_s=0.5)[0].shape == (180, 5, 700)


def test_counts_equal_a_per_spike_loop(lauscher: Path) -> None:
    with h5py.File(lauscher / "shd_test.h5") as f:
        rows = [0, 1, 97, 179]
        raw = [(f["spikes/times"][i], f["spikes/units"][i]) for i in rows]
    for bin_ms in (10, 6, 1):
        X, _, _ = shd.load(lauscher / "shd_test.h5", bin_ms=bin_ms)
        for i, (t, u) in zip(rows, raw, strict=True):
            np.testing.assert_array_equal(X[i], naive_bins(t, u, bin_ms))
            assert X[i].sum() == np.sum(t < 1.0)  # every spike before 1 s counted once


def test_duplicate_events_are_summed(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "dup.h5", [[0.001, 0.001, 0.002], []], [[4, 4, 4], []], [3, 5])
    X, _, _ = shd.load(path, bin_ms=10)
    assert X[0, 0, 4] == 3 and X.sum() == 3  # an empty sample is allowed, and stays empty
    Xb, _, _ = shd.load(path, bin_ms=10, binary=True)
    assert Xb[0, 0, 4] == 1 and Xb.sum() == 1
    samples = shd.bin_recordings(shd.read(path), bin_ms=10)
    np.testing.assert_array_equal(samples.subset(np.array([1, 0])).dense(), X[[1, 0]])


def test_count_vs_binary(lauscher: Path) -> None:
    X, _, _ = shd.load(lauscher / "shd_test.h5", bin_ms=20)
    Xb, _, _ = shd.load(lauscher / "shd_test.h5", bin_ms=20, binary=True)
    assert X.max() > 1  # 20 ms bins hold several spikes of a channel
    np.testing.assert_array_equal(Xb, (X > 0).astype(np.float32))


def test_late_spikes_dropped(tmp_path: Path) -> None:
    path = write_h5(tmp_path / "f.h5", GOOD["times"], GOOD["units"], GOOD["labels"])
    X, labels, _ = shd.load(path, bin_ms=10)
    assert X[0, 0, 3] == 1 and X[0, 1, 3] == 1 and X[0, 50, 699] == 1
    assert X[1].sum() == 2 and X[1, 99, 5] == 1  # 1.2 s is past the 1 s cut
    assert labels.tolist() == [0, 19]
    assert shd.load(path, bin_ms=10, duration_s=1.5)[0][1].sum() == 3


# --------------------------------------------------------------------------------------------
# split


def test_split_is_the_authors_binomial_draw(split: shd.Split, shd_dir: Path) -> None:
    with h5py.File(shd_dir / "shd_train.h5") as f:
        n = len(f["labels"])
    authors = np.array(np.random.default_rng(0).binomial(1, 0.2, size=n), dtype=bool)
    np.testing.assert_array_equal(shd.valid_mask(n), authors)
    np.testing.assert_array_equal(split.valid.rows, np.flatnonzero(authors))
    np.testing.assert_array_equal(split.train.rows, np.flatnonzero(~authors))
    assert len(split.train) + len(split.valid) == n
    # 0.2 of n (100 +- 9 of the lauscher sample's 500), within three standard deviations
    assert abs(len(split.valid) - 0.2 * n) < 3 * np.sqrt(n * 0.2 * 0.8)
    np.testing.assert_array_equal(shd.valid_mask(n), shd.valid_mask(n))
    assert not np.array_equal(shd.valid_mask(n, seed=1), authors)


def test_split_samples_equal_the_file(split: shd.Split, shd_dir: Path) -> None:
    X, labels, speakers = shd.load(shd_dir / "shd_train.h5", bin_ms=10)
    assert X.shape == (len(split.train) + len(split.valid), 100, 700)
    np.testing.assert_array_equal(split.train.dense(np.arange(3)), X[split.train.rows[:3]])
    rows = split.valid.rows[:5]
    np.testing.assert_array_equal(split.valid.dense(np.arange(5)), X[rows])
    np.testing.assert_array_equal(split.valid.labels[:5], labels[rows])
    np.testing.assert_array_equal(split.train.speakers, speakers[split.train.rows])
    # the provenance names the data, never a folder on the reader's machine
    assert split.provenance.startswith(("real Heidelberg Digits recordings", "stand-in"))
    assert str(shd_dir) not in split.provenance


# --------------------------------------------------------------------------------------------
# SHD-Adding pairs


def authors_pair_indices(n: int, n_batches: int, batch_size: int = 8, seed: int = 0):
    """The index logic of the authors' ``SHDAdding.__iter__`` with shuffle=False, restated."""
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        batch_index = rng.integers(low=0, high=n, size=2 * batch_size)
        yield batch_index[:batch_size], batch_index[batch_size:]


def test_adding_eval_pairs_are_the_authors(split: shd.Split) -> None:
    valid, test = split.eval_sets("shd-adding")
    assert len(valid) == 4000 and len(test) == 16000
    ref = list(authors_pair_indices(len(split.test), 2000))
    np.testing.assert_array_equal(test.first, np.concatenate([a for a, _ in ref]))
    np.testing.assert_array_equal(test.second, np.concatenate([b for _, b in ref]))
    labels = split.test.labels
    np.testing.assert_array_equal(test.targets, labels[test.first] % 10 + labels[test.second] % 10)
    # balanced digits: each of the 19 sums is drawn (sum 0 alone about 160 times in 16000)
    assert np.unique(test.targets).tolist() == list(range(19))


def test_adding_batches_concatenate_in_time(split: shd.Split) -> None:
    _, test = split.eval_sets("shd-adding")
    x, y = next(test.batches(8))
    assert x.shape == (8, 200, 700) and y.dtype == np.int32
    a, b = test.first[:8], test.second[:8]
    np.testing.assert_array_equal(x[:, :100], split.test.dense(a))
    np.testing.assert_array_equal(x[:, 100:], split.test.dense(b))
    labels = split.test.labels
    np.testing.assert_array_equal(y, labels[a] % 10 + labels[b] % 10)


def test_test_pairs_identical_across_constructions(shd_dir: Path) -> None:
    one = shd.load_split(shd_dir, bin_ms=50).eval_sets("shd-adding")[1]
    two = shd.load_split(shd_dir, bin_ms=50).eval_sets("shd-adding")[1]
    np.testing.assert_array_equal(one.first, two.first)
    np.testing.assert_array_equal(one.second, two.second)
    x1, y1 = next(one.batches(16))
    x2, y2 = next(two.batches(16))
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_training_pairs_only_from_training_part(split: shd.Split) -> None:
    train, test = split.train, split.test
    stream = shd.train_indices(len(train), "shd-adding")(0)
    drawn = np.concatenate([np.concatenate(next(stream)) for _ in range(500)])
    assert drawn.min() >= 0 and drawn.max() < len(train)
    # every pair member is a row of the train file that is not in the validation part
    assert not set(train.rows[drawn].tolist()) & set(split.valid.rows.tolist())
    # the lauscher set and the stand-in hold speakers 4 and 5 out: no test speaker in training
    assert not set(train.speakers[drawn].tolist()) & set(test.speakers.tolist())
    assert set(test.speakers.tolist()) == {4, 5}


def test_training_pairs_fresh_per_epoch_and_resumable(split: shd.Split) -> None:
    n, per_epoch = len(split.train), shd.steps_per_epoch(split.train, "shd-adding")
    indices = shd.train_indices(n, "shd-adding")
    stream = indices(0)
    run = [np.concatenate(next(stream)) for _ in range(per_epoch + 5)]
    epoch0, epoch1 = np.stack(run[:5]), np.stack(run[per_epoch:per_epoch + 5])
    assert not np.array_equal(epoch0, epoch1)
    resumed = indices(per_epoch)
    for k in range(5):
        np.testing.assert_array_equal(np.concatenate(next(resumed)), run[per_epoch + k])
    # the authors' training stream: one generator across all epochs
    ref = authors_pair_indices(n, per_epoch + 5)
    for k, (a, b) in enumerate(ref):
        if k in (0, per_epoch + 4):
            np.testing.assert_array_equal(np.concatenate([a, b]), run[k])
    # batches, not only indices, resume exactly
    batches = shd.train_batches(split.train, "shd-adding")
    stream = batches(0)
    for _ in range(3):
        next(stream)
    x3, y3 = next(stream)
    x3r, y3r = next(batches(3))
    np.testing.assert_array_equal(x3, x3r)
    np.testing.assert_array_equal(y3, y3r)
    assert x3.shape == (8, 200, 700)


# --------------------------------------------------------------------------------------------
# plain SHD streams


def authors_shd_orders(n: int, n_epochs: int, seed: int = 0):
    """The authors' ``SHD.__iter__`` with shuffle=True: one in-place shuffle per epoch."""
    rng = np.random.default_rng(seed)
    sample_index = np.arange(n)
    for _ in range(n_epochs):
        rng.shuffle(sample_index)
        yield sample_index.copy()


def test_shd_training_stream_is_the_authors_and_resumes(split: shd.Split) -> None:
    n, bs = len(split.train), 8
    per_epoch = shd.steps_per_epoch(split.train, "shd", bs)
    assert per_epoch == n // bs
    indices = shd.train_indices(n, "shd", bs)
    stream = indices(0)
    run = [next(stream)[0] for _ in range(3 * per_epoch)]
    for e, order in enumerate(authors_shd_orders(n, 3)):
        got = np.concatenate(run[e * per_epoch:(e + 1) * per_epoch])
        np.testing.assert_array_equal(got, order[:per_epoch * bs])
        assert len(set(got.tolist())) == per_epoch * bs  # no sample twice in an epoch
    for start in (1, per_epoch - 1, per_epoch, 2 * per_epoch + 3):
        resumed = indices(start)
        for k in range(start, min(start + 4, 3 * per_epoch)):
            np.testing.assert_array_equal(next(resumed)[0], run[k])
    x, y = next(shd.train_batches(split.train, "shd", bs)(5))
    np.testing.assert_array_equal(x, split.train.dense(run[5]))
    np.testing.assert_array_equal(y, split.train.labels[run[5]])


def test_shd_eval_set_keeps_every_sample(split: shd.Split) -> None:
    valid, test = split.eval_sets("shd")
    assert len(valid) == len(split.valid) and len(test) == len(split.test)
    assert len(test) in (180, 200)  # the lauscher sample, the stand-in
    sizes = [len(y) for _, y in valid.batches(50)]
    assert sum(sizes) == len(split.valid) and sizes[-1] == len(split.valid) % 50
    _, y = next(test.batches(len(test)))
    np.testing.assert_array_equal(y, split.test.labels)


# --------------------------------------------------------------------------------------------
# stand-in


def test_standin_layout_and_speakers(standin: Path) -> None:
    X, labels, speakers = shd.load(standin / "shd_train.h5", bin_ms=10)
    Xt, _, speakers_t = shd.load(standin / "shd_test.h5", bin_ms=10)
    assert X.shape == (1000, 100, 700) and Xt.shape == (200, 100, 700)
    assert np.bincount(labels, minlength=20).tolist() == [50] * 20
    assert set(speakers_t.tolist()) == {4, 5}
    assert not set(speakers.tolist()) & set(speakers_t.tolist())
    assert 1500 < X.sum((1, 2)).mean() < 5000
    with h5py.File(standin / "shd_train.h5") as f:
        assert f["extra/keys"][0] == b"english zero" and f["extra/keys"][19] == b"german nine"


def test_standin_is_deterministic() -> None:
    a, b = shd_standin.generate(seed=3, reps_train=1, reps_test=1), shd_standin.generate(
        seed=3, reps_train=1, reps_test=1)
    c = shd_standin.generate(seed=4, reps_train=1, reps_test=1)
    for split in ("train", "test"):
        for key in ("times", "units"):
            for x, y in zip(a[split][key], b[split][key], strict=True):
                np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(a[split]["labels"], b[split]["labels"])
    assert not np.array_equal(a["train"]["times"][0], c["train"]["times"][0])
    # a larger stand-in keeps the smaller one's first samples (per-utterance generators)
    big = shd_standin.generate(seed=3, reps_train=2, reps_test=1)
    np.testing.assert_array_equal(big["train"]["times"][7], a["train"]["times"][7])


def test_standin_words_need_temporal_order() -> None:
    words = shd_standin.make_words(np.random.default_rng([0, 1]))
    assert len(set(words)) == 20
    for d in range(10):  # German d replays English (d + 3) % 10 backwards
        assert words[10 + d] == words[(d + 3) % 10][::-1]
        assert sorted(words[10 + d]) == sorted(words[(d + 3) % 10])


def test_standin_not_solvable_from_one_time_bin(standin: Path) -> None:
    """Logistic regression on one 50 ms bin is near chance; on the whole sequence it is not."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    def features(name: str) -> tuple[np.ndarray, np.ndarray]:
        X, y, _ = shd.load(standin / name, bin_ms=50)  # (n, 20, 700)
        return np.log1p(X.reshape(len(X), 20, 70, 10).sum(-1)), y  # 70 pooled channels

    (Ptr, ytr), (Pte, yte) = features("shd_train.h5"), features("shd_test.h5")

    def accuracy(a: np.ndarray, b: np.ndarray) -> float:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=100))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(model.fit(a, ytr).score(b, yte))

    with threadpool_limits(1):  # tiny fits: threaded BLAS only spins (25x slower on 2 cores)
        single = max(accuracy(Ptr[:, b], Pte[:, b]) for b in range(1, 20, 2))
        whole = accuracy(Ptr.reshape(len(Ptr), -1), Pte.reshape(len(Pte), -1))
    assert single < 0.3, f"one time bin already gives {single:.2f} test accuracy"
    assert whole > single + 0.3, f"whole sequence {whole:.2f} vs best single bin {single:.2f}"


# --------------------------------------------------------------------------------------------
# folders and provenance


def test_resolve_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lauscher: Path,
                          standin: Path) -> None:
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    folder, origin = shd.resolve_data_dir(lauscher)
    assert folder == lauscher and origin == ("real Heidelberg Digits recordings (lauscher-encoded, "
                                             "not the official SHD); 500 train / 180 test samples")
    assert str(lauscher) not in origin  # provenance names the data, never a folder
    (tmp_path / "shd").mkdir()
    for name in ("shd_train.h5", "shd_test.h5"):
        write_h5(tmp_path / "shd" / name, GOOD["times"], GOOD["units"], GOOD["labels"])
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path))
    assert shd.resolve_data_dir() == (tmp_path / "shd",
                                      "SHD-format files; 2 train / 2 test samples")
    assert shd.resolve_data_dir(tmp_path)[0] == tmp_path / "shd"
    assert shd.resolve_data_dir(scale="smoke")[0] == tmp_path / "shd"  # a set ELM_DATA_DIR wins
    with pytest.raises(SHDDataError, match=r"no shd_train\.h5 and shd_test\.h5"):
        shd.resolve_data_dir(tmp_path / "shd" / "nothing")
    # an ELM_DATA_DIR without the files warns and falls back: to the shipped recordings, or to
    # the stand-in at smoke scale
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("ELM_CACHE_DIR", str(standin.parents[1]))
    with pytest.warns(UserWarning, match="stand-in"):
        folder, origin = shd.resolve_data_dir()
    assert folder == shd.SHIPPED_DIR and origin.startswith(shd.SHIPPED_PROVENANCE)
    with pytest.warns(UserWarning, match="stand-in"):
        folder, origin = shd.resolve_data_dir(scale="smoke")
    assert folder == standin and "NOT the real SHD" in origin and str(standin) not in origin


# --------------------------------------------------------------------------------------------
# the recordings shipped with the repository (data/shd/, xz-compressed)

#: SHA-256 of the unpacked files (data/shd/README.md), independent of our reader.
SHIPPED_SHA256 = {
    "shd_train.h5": "63a0773e7014f35e06586fae7200699e32193267a7c3a5ccbedd2f3152851c1b",
    "shd_test.h5": "c999f4c6a14e0f104302d3bbbfe1f21f7a49053e05420bfbf4198ebc43bb6903",
}


def test_shipped_recordings_are_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    folder, origin = shd.resolve_data_dir()
    assert folder == shd.SHIPPED_DIR == paths.REPOSITORY_DATA / "shd"
    assert origin == ("real Heidelberg Digits recordings (680, lauscher-encoded subset; not the "
                      "official SHD); 500 train / 180 test samples")
    assert sorted(p.name for p in folder.glob("*.h5*")) == [
        "shd_test.h5.xz", "shd_train.h5.xz.part1", "shd_train.h5.xz.part2"]  # pieces < 5 MiB
    assert all(p.stat().st_size < 5 << 20 for p in folder.glob("*.h5*"))


def test_a_file_in_pieces_reads_as_the_whole_and_a_missing_piece_is_named(tmp_path: Path) -> None:
    whole = bytes(range(256)) * 1000
    for k, start in enumerate(range(0, len(whole), 100_000), 1):
        (tmp_path / f"f.bin.part{k}").write_bytes(whole[start:start + 100_000])
    assert paths.pieces(tmp_path / "f.bin") == [tmp_path / f"f.bin.part{k}" for k in (1, 2, 3)]
    with paths.open_joined(tmp_path / "f.bin") as f:
        assert f.read() == whole
    assert paths.sha256(tmp_path / "f.bin") == hashlib.sha256(whole).hexdigest()
    assert paths.pieces(tmp_path / "absent.bin") == []
    (tmp_path / "f.bin.part2").unlink()
    with pytest.raises(FileNotFoundError, match=r"f.bin: its pieces \[1, 3\] are not numbered"):
        paths.pieces(tmp_path / "f.bin")


def test_compressed_files_read_like_the_plain_ones(tmp_path: Path, lauscher: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELM_CACHE_DIR", str(tmp_path / "cache"))
    for name, digest in SHIPPED_SHA256.items():
        packed = shd.SHIPPED_DIR / f"{name}.xz"
        plain = paths.unpacked(packed)
        assert plain.parent == tmp_path / "cache" / "unpacked"
        assert paths.sha256(plain) == digest  # byte for byte the encoded files
        assert plain.name == f"{paths.sha256(packed)[:16]}-{name}"  # keyed by the packed file
        a, b = shd.read(packed), shd.read(lauscher / name)
        for field in ("times", "units", "offsets", "labels", "speakers"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        assert a.path == packed and a.times.dtype == np.float32
        # the plain name finds the compressed file beside it
        assert shd.read(shd.SHIPPED_DIR / name).path == packed
    # a second read reuses the cached copy; nothing else is left in the cache folder
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "unpacked").iterdir()}
    shd.read(shd.SHIPPED_DIR / "shd_test.h5.xz")
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache" / "unpacked").iterdir()}
    assert before == after and len(after) == 2


def test_a_damaged_compressed_file_is_a_clear_error(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ELM_CACHE_DIR", str(tmp_path / "cache"))
    data = (shd.SHIPPED_DIR / "shd_test.h5.xz").read_bytes()
    bad = tmp_path / "shd_test.h5.xz"
    bad.write_bytes(data[: len(data) // 2])  # truncated, as by an interrupted copy
    with pytest.raises(SHDDataError, match="could not decompress") as err:
        shd.read(bad)
    assert str(bad) in str(err.value) and "data/README.md" in str(err.value)
    assert list((tmp_path / "cache" / "unpacked").iterdir()) == []  # no partial file left


# --------------------------------------------------------------------------------------------
# malformed files


@pytest.mark.parametrize(("change", "message"), [
    ({"units": [[3, 3, 700], [0, 5, 7]]}, "sample 0 has unit 700"),
    ({"times": [[0.0, 0.0105, 0.5], [0.2, 0.1, 1.2]]}, "sample 1: spike times are not ascending"),
    ({"times": [[-0.1, 0.0105, 0.5], [0.2, 0.9999, 1.2]]}, "sample 0 has spike time -0.1"),
    ({"times": [[0.0, float("nan"), 0.5], [0.2, 0.9999, 1.2]]}, "spike time nan"),
    ({"labels": [0, 20]}, "sample 1 has label 20"),
    ({"units": [[3, 3, 6], [0, 5]]}, "sample 1 has 3 spike times but 2 units"),
    ({"labels": [0, 1, 2]}, "disagree on the number of samples"),
])
def test_malformed_file_errors(tmp_path: Path, change: dict, message: str) -> None:
    data = {**GOOD, **change}
    path = write_h5(tmp_path / "bad.h5", data["times"], data["units"], data["labels"],
                    speakers=[0] * len(data["labels"]))
    with pytest.raises(SHDDataError, match=re.escape(message)) as err:
        shd.load(path, bin_ms=10)
    assert str(path) in str(err.value) and "data/README.md" in str(err.value)


@pytest.mark.parametrize("key", ["spikes/times", "spikes/units", "labels", "extra/speaker"])
def test_missing_key(tmp_path: Path, key: str) -> None:
    path = write_h5(tmp_path / "nokey.h5", GOOD["times"], GOOD["units"], GOOD["labels"],
                    skip=(key,))
    with pytest.raises(SHDDataError, match=re.escape(f"missing ['{key}']")) as err:
        shd.load(path, bin_ms=10)
    assert str(path) in str(err.value)


def test_missing_and_non_hdf5_files(tmp_path: Path) -> None:
    with pytest.raises(SHDDataError, match="no such file") as err:
        shd.load(tmp_path / "shd_train.h5", bin_ms=10)
    assert str(tmp_path / "shd_train.h5") in str(err.value)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(SHDDataError, match="not a readable HDF5 file"):
        shd.load(junk, bin_ms=10)
    with pytest.raises(ValueError, match="bin_ms"):
        shd.n_bins(0)
