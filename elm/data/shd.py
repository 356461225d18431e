"""SHD and SHD-Adding: reader for the real h5 files, binning, the authors' split and pairs.

The Spiking Heidelberg Digits (Cramer et al. 2020) are spoken digits (English 0-9 = labels 0-9,
German 0-9 = labels 10-19) passed through a 700-channel cochlea model. Each file holds::

    spikes/times   (n,) vlen float   spike times in seconds, ascending
    spikes/units   (n,) vlen uint16  channel 0..699
    labels         (n,) uint16       0..19
    extra/speaker  (n,) uint16       speaker id
    extra/keys     (20,) bytes       class names

The ELM paper (App. B) cuts every sample to 1 s and bins spikes (default 10 ms). SHD-Adding
concatenates two samples in time and asks for the sum of their digits (19 classes, language
ignored). Everything below follows the authors' released loader
(``AaronSpieler/elmneuron``: ``pytorch_example/shd_data_loader.py``, whose ``SHD``,
``SHDAdding`` and ``random_val_split_SHD_data`` the notebook ``notebooks/train_elm_on_shd.ipynb``
imports under ``src/shd/`` and configures):

* **Binning** (``SHD.__iter__``): bin index = ``np.digitize(t, np.arange(0, 1 + step, step)) - 1``
  and the events are summed into a dense tensor (duplicates add up: counts, not 0/1); the last
  bin, which collects everything at or after 1 s, is dropped. :func:`bin_index` uses the same
  edges (``i x step``) with ``searchsorted``, so every spike lands in the same bin.
  One deviation: we always have ``T = round(duration / bin)`` bins and drop spikes at or after
  ``duration``; for a bin that does not divide 1 s (6 ms) the authors' last bin runs to 1.002 s.
* **Validation split** (``random_val_split_SHD_data``): ``np.random.default_rng(0).binomial(1,
  0.2, size=n_train)``; a sample with a draw of 1 is validation. :func:`valid_mask` is that call.
* **SHD batches** (``SHD``): training shuffles an index array in place with one
  ``default_rng(seed)`` each epoch and takes ``n // batch_size`` batches (the remainder is
  skipped that epoch); evaluation goes through the samples in file order.
* **SHD-Adding pairs** (``SHDAdding``): every batch is ``idx = rng.integers(0, n, 2 * B)``;
  ``idx[:B]`` are the first digits, ``idx[B:]`` the second ones, target
  ``label1 % 10 + label2 % 10``. Training uses one ``default_rng(seed)`` across all epochs, so
  pairs are fresh each epoch; validation and test recreate ``default_rng(seed)`` every pass, so
  their pairs are fixed: 500 batches of 8 (4,000 pairs) from the validation part and 2,000
  batches of 8 (16,000 pairs) from the test file (notebook: ``valid_batches_per_epoch = 500``;
  the test set is built with ``batches_per_epoch`` = 2000). All seeds are 0.

Our streams reproduce those index sequences exactly (same numpy calls). To resume at step ``s``
the training stream replays the generator's first ``s`` draws (cheap: no spikes are touched).

Train and test pairs come from different files, so a test pair never contains a training
sample. In the official SHD, speakers 4 and 5 occur only in the test file, but (per the SHD
description) the test file also holds some recordings of training speakers; in the stand-in
(and in the lauscher sample set) the test speakers are disjoint from the training speakers.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import h5py
import numpy as np

from elm.data import paths, shd_standin

N_CHANNELS = 700
N_CLASSES = 20
N_SUMS = 19  # SHD-Adding targets 0..18
TRAIN_FILE, TEST_FILE = "shd_train.h5", "shd_test.h5"
VALID_FRACTION = 0.2
BATCH_SIZE = 8  # authors' notebook (App. B: 814 batches = 0.8 x 8156 / 8); also the pair draws
ADDING_STEPS_PER_EPOCH = 2000  # App. B
ADDING_VALID_BATCHES = 500  # authors' notebook
ADDING_TEST_BATCHES = 2000
SHD_URL = "https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/"
HELP = (f"see data/README.md (SHD) for the layout; the full SHD is at {SHD_URL} (python -m "
        "elm.data.fetch shd), the repository ships 680 real recordings in data/shd/, and "
        "without either the stand-in from elm.data.shd.stand_in_dir() is used")
#: The 680 real Heidelberg Digits recordings shipped with the repository (data/shd/README.md).
SHIPPED_DIR = paths.REPOSITORY_DATA / "shd"
SHIPPED_PROVENANCE = ("real Heidelberg Digits recordings (680, lauscher-encoded subset; not the "
                      "official SHD)")
#: Sample counts of the official SHD files (Cramer et al. 2020).
OFFICIAL_SIZES = (8156, 2264)
REQUIRED_KEYS = ("spikes/times", "spikes/units", "labels", "extra/speaker")

Task = Literal["shd", "shd-adding"]
Batch = tuple[np.ndarray, np.ndarray]
Pairs = tuple[np.ndarray, np.ndarray | None]  # sample indices of a batch (second: SHD-Adding)


class SHDDataError(ValueError):
    """An SHD file or folder is missing or not in the SHD layout."""


# --------------------------------------------------------------------------------------------
# reading and checking


@dataclass(frozen=True)
class Recordings:
    """The spikes of one file, concatenated: sample ``i`` owns ``offsets[i]:offsets[i+1]``."""

    times: np.ndarray  # seconds, float32 as stored in SHD (float64 for other stored types)
    units: np.ndarray  # int64 channels
    offsets: np.ndarray  # int64, (n + 1,)
    labels: np.ndarray  # int64
    speakers: np.ndarray  # int64
    path: Path

    def __len__(self) -> int:
        return len(self.labels)


def _fail(path: Path, problem: str, fix: str | None = None) -> SHDDataError:
    fix = fix or ("The file is damaged or not in the SHD layout: download it again, or delete "
                  "it to fall back to the stand-in")
    return SHDDataError(f"{path}: {problem}. {fix}; {HELP}")


def _ragged(data: np.ndarray, path: Path, key: str, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate a vlen (object) or 2-D dataset into one array plus per-sample lengths."""
    try:
        rows = [np.asarray(r, dtype=dtype).ravel() for r in data]
    except (TypeError, ValueError) as err:
        raise _fail(path, f"'{key}' should hold one numeric array per sample ({err})") from err
    lengths = np.array([r.size for r in rows], dtype=np.int64)
    flat = np.concatenate(rows) if rows else np.zeros(0, dtype)
    return flat, lengths


def _owner(offsets: np.ndarray, k: int) -> int:
    """The sample that spike number `k` (in the concatenated arrays) belongs to."""
    return int(np.searchsorted(offsets, k, side="right") - 1)


def _check_times(path: Path, times: np.ndarray, offsets: np.ndarray) -> None:
    bad = np.flatnonzero(~np.isfinite(times) | (times < 0))
    if bad.size:
        k = int(bad[0])
        raise _fail(path, f"sample {_owner(offsets, k)} has spike time {times[k]:.6g} (times "
                          "must be finite seconds >= 0)")
    starts = np.zeros(times.size, bool)  # the step into a sample's first spike may go back
    starts[offsets[:-1][offsets[:-1] < times.size]] = True
    bad = np.flatnonzero((np.diff(times) < 0) & ~starts[1:])
    if bad.size:
        k = int(bad[0]) + 1
        raise _fail(path, f"sample {_owner(offsets, k)}: spike times are not ascending "
                          f"({times[k - 1]:.6g} then {times[k]:.6g})",
                    "SHD stores each sample's spikes sorted by time; sort them (with their "
                    "units) when writing the file")


def data_file(folder: str | Path, name: str) -> Path | None:
    """``folder/name``, else its compressed copy ``name.xz`` or ``name.gz`` (either may be kept
    in :func:`elm.data.paths.pieces`); None if none."""
    for candidate in (Path(folder) / name, *(Path(folder) / (name + s) for s in paths.COMPRESSED)):
        if paths.pieces(candidate):
            return candidate
    return None


def read(path: str | Path) -> Recordings:
    """Read and check one SHD file (clear errors for anything the binning would misread).

    ``path`` may be an uncompressed ``.h5`` (the official SHD) or an ``.h5.xz`` / ``.h5.gz``
    (the recordings shipped in ``data/shd/``); a compressed file is unpacked once into the cache
    (:func:`elm.data.paths.unpacked`, keyed by the file's SHA-256) and read from there. A path
    to a missing ``shd_train.h5`` with a ``shd_train.h5.xz`` beside it reads the latter.
    """
    path = Path(path)
    if not paths.pieces(path):
        found = data_file(path.parent, path.name)
        if found is None:
            raise _fail(path, "no such file",
                        f"Put {TRAIN_FILE} and {TEST_FILE} into the data folder (directly or "
                        "in its shd/ sub-folder)")
        path = found
    source = path
    if paths.is_compressed(path):
        try:
            source = paths.unpacked(path)
        except (OSError, EOFError, ValueError) as err:  # LZMAError / BadGzipFile are among these
            raise _fail(path, f"could not decompress ({type(err).__name__}: {err})",
                        "The compressed file is damaged: restore it (git checkout -- "
                        f"{path.name} in the repository's data/shd/) or download it again") from err
    try:
        f = h5py.File(source, "r")
    except OSError as err:
        raise _fail(path, f"not a readable HDF5 file ({err})") from err
    with f:
        missing = [k for k in REQUIRED_KEYS if k not in f]
        if missing:
            raise _fail(path, f"missing {missing}; expected keys {list(REQUIRED_KEYS)}")
        # keep float32 times as float32 (SHD's type); anything else is compared in float64,
        # which is what the authors' np.digitize against float64 edges does
        base = h5py.check_vlen_dtype(f["spikes/times"].dtype) or f["spikes/times"].dtype
        t_type = np.float32 if base == np.float32 else np.float64
        times, n_t = _ragged(f["spikes/times"][()], path, "spikes/times", t_type)
        units, n_u = _ragged(f["spikes/units"][()], path, "spikes/units", np.int64)
        labels = np.asarray(f["labels"][()]).astype(np.int64).ravel()
        speakers = np.asarray(f["extra/speaker"][()]).astype(np.int64).ravel()
    sizes = {"spikes/times": n_t.size, "spikes/units": n_u.size, "labels": labels.size,
             "extra/speaker": speakers.size}
    if len(set(sizes.values())) != 1:
        raise _fail(path, f"datasets disagree on the number of samples: {sizes}")
    bad = np.flatnonzero(n_t != n_u)
    if bad.size:
        i = int(bad[0])
        raise _fail(path, f"sample {i} has {n_t[i]} spike times but {n_u[i]} units (every "
                          "spike needs both)")
    offsets = np.concatenate([[0], np.cumsum(n_t)])
    bad = np.flatnonzero((units < 0) | (units >= N_CHANNELS))
    if bad.size:
        k = int(bad[0])
        raise _fail(path, f"sample {_owner(offsets, k)} has unit {units[k]}; SHD has "
                          f"{N_CHANNELS} channels (0..{N_CHANNELS - 1})")
    _check_times(path, times, offsets)
    bad = np.flatnonzero((labels < 0) | (labels >= N_CLASSES))
    if bad.size:
        i = int(bad[0])
        raise _fail(path, f"sample {i} has label {labels[i]}; SHD labels are 0..{N_CLASSES - 1} "
                          "(English digits 0-9, German digits as 10-19)")
    return Recordings(times, units, offsets, labels, speakers, path)


# --------------------------------------------------------------------------------------------
# binning


def n_bins(bin_ms: float, duration_s: float = 1.0) -> int:
    """Number of time bins: ``round(duration / bin)`` (100 for the default 10 ms over 1 s)."""
    if not bin_ms > 0 or not duration_s > 0:
        raise ValueError(f"bin_ms and duration_s must be > 0, got {bin_ms} and {duration_s}")
    return round(duration_s * 1000 / bin_ms)


def bin_index(times: np.ndarray, bin_ms: float, duration_s: float = 1.0) -> np.ndarray:
    """Bin of every spike time, -1 for spikes at or after `duration_s` (dropped).

    The edges are ``i x step`` (the values of the authors' ``np.arange(0, 1 + step, step)``)
    and ``searchsorted(side='right') - 1`` is their ``np.digitize(t, edges) - 1``.
    """
    T = n_bins(bin_ms, duration_s)
    edges = np.arange(T + 1) * (bin_ms / 1000)
    idx = np.searchsorted(edges, times.astype(np.float64), side="right") - 1
    idx[(idx >= T) | (times >= duration_s)] = -1
    return idx


@dataclass(frozen=True)
class Samples:
    """Binned samples of one split, stored sparsely; :meth:`dense` makes model inputs.

    Sample ``i`` has counts ``counts[offsets[i]:offsets[i+1]]`` at the flat positions
    ``cells[...] = bin x 700 + unit``. Sparse storage keeps 1 ms bins of the full SHD in memory
    (dense it would be 23 GB), and a batch is made in microseconds.
    """

    cells: np.ndarray  # int64 flat (bin, unit) positions, sorted within each sample
    counts: np.ndarray  # float32 spike counts per cell
    offsets: np.ndarray  # int64 (n + 1,)
    labels: np.ndarray  # int64
    speakers: np.ndarray  # int64
    rows: np.ndarray  # int64 row of each sample in its source file
    n_bins: int
    binary: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    def _events(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the samples at `index`: each event's position among them and its storage slot."""
        lengths = self.offsets[index + 1] - self.offsets[index]
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(np.arange(index.size), lengths), np.repeat(self.offsets[index],
                                                                      lengths) + within

    def dense(self, index: np.ndarray | None = None) -> np.ndarray:
        """Inputs ``(len(index), n_bins, 700)`` float32: counts, or 0/1 when ``binary``."""
        index = np.arange(len(self)) if index is None else np.asarray(index, np.int64)
        owner, slot = self._events(index)
        out = np.zeros((index.size, self.n_bins * N_CHANNELS), np.float32)
        out[owner, self.cells[slot]] = 1.0 if self.binary else self.counts[slot]
        return out.reshape(index.size, self.n_bins, N_CHANNELS)

    def subset(self, index: np.ndarray) -> Samples:
        """The samples at `index` (in that order), still sparse."""
        index = np.asarray(index, np.int64)
        owner, slot = self._events(index)
        offsets = np.searchsorted(owner, np.arange(index.size + 1))
        return Samples(self.cells[slot], self.counts[slot], offsets, self.labels[index],
                       self.speakers[index], self.rows[index], self.n_bins, self.binary)


def _run_lengths(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and how often each occurs (``np.unique``, minus its
    own sort: the stable sort is faster here because spikes arrive almost in key order)."""
    starts = np.flatnonzero(np.diff(sorted_keys, prepend=-1) != 0)
    return sorted_keys[starts], np.diff(starts, append=sorted_keys.size)


def bin_recordings(rec: Recordings, bin_ms: float, duration_s: float = 1.0, *,
                   binary: bool = False) -> Samples:
    """Bin all samples of a file at once (one sort over every spike, no per-sample loop)."""
    T = n_bins(bin_ms, duration_s)
    b = bin_index(rec.times, bin_ms, duration_s)
    sample = np.repeat(np.arange(len(rec)), np.diff(rec.offsets))
    keep = b >= 0
    key = (sample[keep] * T + b[keep]) * N_CHANNELS + rec.units[keep]
    key, counts = _run_lengths(np.sort(key, kind="stable"))  # duplicates summed, as authors
    owner, cells = np.divmod(key, T * N_CHANNELS)
    offsets = np.searchsorted(owner, np.arange(len(rec) + 1))
    return Samples(cells, counts.astype(np.float32), offsets, rec.labels, rec.speakers,
                   np.arange(len(rec)), T, binary)


def load(path: str | Path, bin_ms: float, duration_s: float = 1.0, *,
         binary: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read one SHD file and bin it: ``X (n, T, 700) float32``, ``labels``, ``speakers``.

    ``X`` holds spike counts per bin (duplicate events summed) or, with ``binary``, 0/1;
    ``T = round(duration_s * 1000 / bin_ms)``; spikes at or after ``duration_s`` are dropped.
    """
    samples = bin_recordings(read(path), bin_ms, duration_s, binary=binary)
    return samples.dense(), samples.labels.copy(), samples.speakers.copy()


# --------------------------------------------------------------------------------------------
# data folders


def stand_in_dir(seed: int = 0) -> Path:
    """The generated stand-in (real layout), made on first use in ``<cache>/shd-standin``.

    Cache: :func:`elm.data.paths.cache_dir` (``$ELM_CACHE_DIR``, default ``~/.cache/elm``).
    Nothing is committed: generating takes one to two seconds.
    """
    folder = paths.cache_dir() / "shd-standin" / f"v{shd_standin.GENERATOR_VERSION}-seed{seed}"
    if not all((folder / name).is_file() for name in (TRAIN_FILE, TEST_FILE)):
        shd_standin.write_stand_in(folder, seed)
    return folder


def _folder_with_files(folder: Path) -> Path | None:
    for candidate in (folder, folder / "shd"):
        if data_file(candidate, TRAIN_FILE) and data_file(candidate, TEST_FILE):
            return candidate
    return None


def provenance(folder: str | Path) -> str:
    """One line saying which data a folder holds, never where it is on this machine.

    The recordings shipped in ``data/shd/``: :data:`SHIPPED_PROVENANCE`; our stand-in: its
    generator version and seed; other lauscher-encoded files (they carry ``extra/hd_manifest_row``),
    the official SHD (recognised by its sample counts) or other SHD-format files: what they are
    and their sample counts.
    """
    folder = Path(folder)
    counts, attrs, lauscher = [], {}, False
    for name in (TRAIN_FILE, TEST_FILE):
        path = data_file(folder, name)
        if path is None:
            raise _fail(folder / name, "no such file")
        source = paths.unpacked(path) if paths.is_compressed(path) else path
        try:
            with h5py.File(source, "r") as f:
                counts.append(len(f["labels"]) if "labels" in f else "?")
                if name == TRAIN_FILE:
                    attrs = dict(f.attrs)
                    lauscher = "extra/hd_manifest_row" in f
        except OSError as err:
            raise _fail(path, f"could not open the SHD file ({err})") from err
    sizes = f"{counts[0]} train / {counts[1]} test samples"
    if attrs.get("generator") == "elm.data.shd_standin":
        return (f"stand-in, generated by elm.data.shd_standin (version "
                f"{attrs.get('generator_version')}, seed {attrs.get('seed')}); {sizes}; "
                "NOT the real SHD")
    if folder.resolve() == SHIPPED_DIR.resolve():
        return f"{SHIPPED_PROVENANCE}; {sizes}"
    if lauscher:
        return (f"real Heidelberg Digits recordings (lauscher-encoded, not the official SHD); "
                f"{sizes}")
    if tuple(counts) == OFFICIAL_SIZES:
        return f"the official SHD files (Cramer et al. 2020); {sizes}"
    return f"SHD-format files; {sizes}"


def resolve_data_dir(data_dir: str | Path | None = None, *, scale: str | None = None
                     ) -> paths.DataSource:
    """Folder holding ``shd_train.h5`` and ``shd_test.h5`` (or ``.h5.xz``), and a provenance line.

    Order: `data_dir` (the files directly in it or in ``shd/``); then ``$ELM_DATA_DIR`` (same
    rule); then the 680 real recordings shipped in ``data/shd/`` (:data:`SHIPPED_DIR`); then the
    generated stand-in. With ``scale="smoke"`` and neither `data_dir` nor ``ELM_DATA_DIR``, the
    stand-in is used (the test suite's seconds-long runs). An explicit `data_dir` without the
    files is an error; an ``ELM_DATA_DIR`` without them warns and falls back, because results on
    other data must not pass for results on the data asked for.
    """
    if data_dir is not None:
        found = _folder_with_files(Path(data_dir))
        if found is None:
            raise _fail(Path(data_dir), f"no {TRAIN_FILE} and {TEST_FILE} in this folder or "
                        "its shd/ sub-folder", "Point data_dir at the folder holding both files")
        return paths.DataSource(found, provenance(found))
    env = os.environ.get(paths.DATA_ENV)
    if env:
        found = _folder_with_files(Path(env))
        if found is not None:
            return paths.DataSource(found, provenance(found))
        warnings.warn(f"ELM_DATA_DIR={env} holds no {TRAIN_FILE}/{TEST_FILE} (directly or in "
                      "shd/); using the recordings shipped in data/shd/ or the offline stand-in",
                      stacklevel=2)
    if scale != "smoke" and _folder_with_files(SHIPPED_DIR) is not None:
        return paths.DataSource(SHIPPED_DIR, provenance(SHIPPED_DIR))
    folder = stand_in_dir()
    return paths.DataSource(folder, provenance(folder))


# --------------------------------------------------------------------------------------------
# split


def valid_mask(n: int, valid_fraction: float = VALID_FRACTION, seed: int = 0) -> np.ndarray:
    """True for validation samples: the authors' ``default_rng(seed).binomial(1, p, size=n)``."""
    rng = np.random.default_rng(seed)
    return rng.binomial(1, valid_fraction, size=n).astype(bool)


@dataclass(frozen=True)
class Split:
    """Train / validation (from the train file) and test (the test file) samples."""

    train: Samples
    valid: Samples
    test: Samples
    bin_ms: float
    duration_s: float
    provenance: str

    def eval_sets(self, task: Task = "shd", batch_size: int = BATCH_SIZE, seed: int = 0
                  ) -> tuple[EvalSet, EvalSet]:
        """Validation and test sets as the authors: every sample (SHD), or 500 and 2,000
        fixed batches of pairs (SHD-Adding: 4,000 and 16,000 pairs with batches of 8)."""
        return (eval_set(self.valid, task, ADDING_VALID_BATCHES, batch_size, seed),
                eval_set(self.test, task, ADDING_TEST_BATCHES, batch_size, seed))


def load_split(data_dir: str | Path | None = None, bin_ms: float = 10.0,
               duration_s: float = 1.0, *, binary: bool = False,
               valid_fraction: float = VALID_FRACTION, seed: int = 0) -> Split:
    """Read both files of `data_dir` (see :func:`resolve_data_dir`) and split as the authors."""
    folder, origin = resolve_data_dir(data_dir)
    train_file = bin_recordings(read(folder / TRAIN_FILE), bin_ms, duration_s, binary=binary)
    test = bin_recordings(read(folder / TEST_FILE), bin_ms, duration_s, binary=binary)
    is_valid = valid_mask(len(train_file), valid_fraction, seed)
    return Split(train=train_file.subset(np.flatnonzero(~is_valid)),
                 valid=train_file.subset(np.flatnonzero(is_valid)), test=test,
                 bin_ms=bin_ms, duration_s=duration_s, provenance=origin)


# --------------------------------------------------------------------------------------------
# batches


def best_constant_accuracy(task: str) -> float:
    """Accuracy of the best answer that ignores the input: 1/20 on SHD (balanced classes), but
    P(sum = 9) = 10/100 on SHD-Adding, where the 19 sums of two digits are not equally likely
    (uniform guessing over them would get only 1/19). The chance level a run must beat."""
    if task == "shd-adding":
        sums = [a + b for a in range(10) for b in range(10)]
        return max(sums.count(k) for k in set(sums)) / len(sums)
    if task == "shd":
        return 1 / N_CLASSES
    raise ValueError(f"task must be 'shd' or 'shd-adding', got {task!r}")


def adding_targets(first_labels: np.ndarray, second_labels: np.ndarray) -> np.ndarray:
    """SHD-Adding target: the sum of the two digits, language ignored (0..18)."""
    return np.asarray(first_labels) % 10 + np.asarray(second_labels) % 10


def draw_pairs(rng: np.random.Generator, n: int, batch_size: int = BATCH_SIZE
               ) -> tuple[np.ndarray, np.ndarray]:
    """One batch of pairs, the authors' single draw: ``idx = rng.integers(0, n, 2B)``."""
    idx = rng.integers(low=0, high=n, size=2 * batch_size)
    return idx[:batch_size], idx[batch_size:]


def adding_pairs(n: int, n_batches: int, batch_size: int = BATCH_SIZE, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Fixed pairs ``(first, second)`` of an evaluation set: ``n_batches`` draws from seed."""
    rng = np.random.default_rng(seed)
    draws = [draw_pairs(rng, n, batch_size) for _ in range(n_batches)]
    return (np.concatenate([d[0] for d in draws]).astype(np.int64),
            np.concatenate([d[1] for d in draws]).astype(np.int64))


def pair_batch(samples: Samples, first: np.ndarray, second: np.ndarray) -> Batch:
    """Inputs of pairs, the two samples concatenated in time (2T bins), and their sums."""
    x = np.concatenate([samples.dense(first), samples.dense(second)], axis=1)
    return x, adding_targets(samples.labels[first], samples.labels[second]).astype(np.int32)


def single_batch(samples: Samples, index: np.ndarray) -> Batch:
    return samples.dense(index), samples.labels[index].astype(np.int32)


@dataclass(frozen=True)
class EvalSet:
    """A fixed evaluation set: single samples (``second is None``) or SHD-Adding pairs."""

    samples: Samples
    first: np.ndarray
    second: np.ndarray | None
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def batches(self, batch_size: int = BATCH_SIZE) -> Iterator[Batch]:
        """All of the set in order; the last batch may be smaller (nothing is skipped)."""
        for s in range(0, len(self), batch_size):
            sl = slice(s, s + batch_size)
            if self.second is None:
                yield single_batch(self.samples, self.first[sl])
            else:
                yield pair_batch(self.samples, self.first[sl], self.second[sl])


def eval_set(samples: Samples, task: Task = "shd", n_batches: int | None = None,
             batch_size: int = BATCH_SIZE, seed: int = 0) -> EvalSet:
    """The authors' evaluation set of `samples`.

    SHD: every sample in file order (the authors skip the last partial validation batch; we do
    not). SHD-Adding: ``n_batches`` authors' draws of ``batch_size`` pairs from
    ``default_rng(seed)``; use :data:`ADDING_VALID_BATCHES` (500) for validation and
    :data:`ADDING_TEST_BATCHES` (2000) for the test file, as the authors.
    """
    if task == "shd":
        first = np.arange(len(samples))
        return EvalSet(samples, first, None, samples.labels.copy())
    if task != "shd-adding":
        raise ValueError(f"task must be 'shd' or 'shd-adding', got {task!r}")
    if n_batches is None:
        raise ValueError("SHD-Adding evaluation needs n_batches (ADDING_VALID_BATCHES or "
                         "ADDING_TEST_BATCHES)")
    first, second = adding_pairs(len(samples), n_batches, batch_size, seed)
    return EvalSet(samples, first, second,
                   adding_targets(samples.labels[first], samples.labels[second]))


def steps_per_epoch(samples: Samples, task: Task = "shd", batch_size: int = BATCH_SIZE) -> int:
    """Training batches per epoch: ``n // batch_size`` for SHD (814 on the full SHD), 2000 for
    SHD-Adding (its pairs are drawn, not enumerated)."""
    return len(samples) // batch_size if task == "shd" else ADDING_STEPS_PER_EPOCH


def train_indices(n: int, task: Task = "shd", batch_size: int = BATCH_SIZE, seed: int = 0
                  ) -> Callable[[int], Iterator[Pairs]]:
    """``indices(start)``: the sample indices of training steps ``start, start + 1, ...``.

    Yields ``(index, None)`` for SHD and ``(first, second)`` for SHD-Adding; the index
    sequence is the authors' (module doc) and depends only on the arguments. Resuming replays
    the generator up to ``start`` without touching any spikes.
    """
    if task not in ("shd", "shd-adding"):
        raise ValueError(f"task must be 'shd' or 'shd-adding', got {task!r}")
    if n < (batch_size if task == "shd" else 1):
        raise ValueError(f"{n} training samples cannot fill a batch of {batch_size}")

    def shd_stream(start: int) -> Iterator[Pairs]:
        per_epoch = n // batch_size
        epoch, k = divmod(start, per_epoch)
        rng = np.random.default_rng(seed)
        order = np.arange(n)
        for _ in range(epoch + 1):  # replay the in-place shuffles up to this epoch
            rng.shuffle(order)
        while True:
            for j in range(k, per_epoch):
                yield order[j * batch_size:(j + 1) * batch_size].copy(), None
            rng.shuffle(order)
            k = 0

    def adding_stream(start: int) -> Iterator[Pairs]:
        rng = np.random.default_rng(seed)
        for _ in range(start):
            draw_pairs(rng, n, batch_size)
        while True:
            yield draw_pairs(rng, n, batch_size)

    return shd_stream if task == "shd" else adding_stream


def train_batches(samples: Samples, task: Task = "shd", batch_size: int = BATCH_SIZE,
                  seed: int = 0) -> Callable[[int], Iterator[Batch]]:
    """``batches(start)``: the endless training stream ``(x, y)`` from step `start` on.

    Built on :func:`train_indices`, so a run resumed at step ``s`` sees exactly what an
    uninterrupted run sees from step ``s``. SHD: ``x (B, T, 700)``, labels 0..19;
    SHD-Adding: ``x (B, 2T, 700)``, sums 0..18; ``y`` int32.
    """
    indices = train_indices(len(samples), task, batch_size, seed)

    def batches(start: int) -> Iterator[Batch]:
        for first, second in indices(start):
            if second is None:
                yield single_batch(samples, first)
            else:
                yield pair_batch(samples, first, second)

    return batches
