"""NeuronIO: reader for the real pickles, folder discovery and split, and a streaming sampler.

NeuronIO (Beniaguev, Segev & London 2021) holds simulations of a detailed layer-5 pyramidal
cell: per file, 128 runs of 6 s with 639 excitatory and 639 inhibitory synaptic inputs, the
somatic voltage and the output spikes. The files are Python-2 pickles (protocol 2)::

    {'Params': {'allSegmentsType': [...639...], 'totalSimDurationInSec': 6, ...},
     'Results': {'listOfSingleSimulationDicts': [
         {'exInputSpikeTimes': {segment: [ms, ...]}, 'inhInputSpikeTimes': {...},
          'somaVoltageLowRes': array(6000,), 'outputSpikeTimes': array(n_spikes,), ...}, ...]}}

Binarisation follows the reference reader of Beniaguev et al. (``dict2bin`` in their
``fit_CNN.py``, reused unchanged by the ELM authors): an input spike time is the index of its
1 ms bin (the generator drew spikes per 1 ms bin, so times are integers; a non-integer time is
floored here, the bin that contains it); an output spike at ``t`` ms marks bin
``int(t - 0.5)`` (truncation toward zero, so times before 0.5 ms land in bin 0). Excitatory
rows come first, then inhibitory.

Pickles can run code when loaded, and these files come from the internet, so they are read with
a restricted unpickler that only rebuilds builtin containers and numpy arrays/scalars.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import importlib
import lzma
import pickle
import queue
import re
import threading
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from elm.data.paths import DataSource, atomic_file, cache_dir, env_data_dir, repository_data, sha256

N_SEGMENTS = 639
N_INPUTS = 2 * N_SEGMENTS
SOMA_THRESHOLD_MV = -55.0  # somatic spikes are clipped here: the soma target is subthreshold
SOMA_BIAS_MV = -67.7
SOMA_SCALE = 0.1
#: -55 mV in the units of the soma target (``(v + 67.7 mV) / 10 mV``): 1.27. The target is
#: clipped there, so a LIF threshold at this value lets the membrane *be* the target voltage.
NEURONIO_THRESHOLD = (SOMA_THRESHOLD_MV - SOMA_BIAS_MV) * SOMA_SCALE
TRAIN_FOLDER_PATTERN = re.compile(r"full_ergodic_train_batch_(\d+)$")
TEST_FOLDER = "Data_test"
VALID_BATCH = 1  # the authors validate on batch 1 and train on the others
FILE_MARKER = "sim__"
FILE_SUFFIXES = (".p", ".p.gz", ".p.xz", ".pkl", ".pkl.gz", ".pkl.xz")
HELP = "see data/README.md (NeuronIO) for where to get the files and how to point at them"


class NeuronIODataError(ValueError):
    """A NeuronIO file or folder is missing or not in the expected format."""


class UnsafePickleError(NeuronIODataError):
    """A pickle asked to build something other than containers and numpy arrays."""


# --------------------------------------------------------------------------------------------
# safe loading

_NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"
_ALLOWED_GLOBALS = {
    # numpy arrays and scalars as numpy 1.x (numpy.core) and 2.x (numpy._core) write them
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # Python 3 writes bytes in protocol 2 as _codecs.encode(text, 'latin1')
    ("_codecs", "encode"),
    # builtins that protocol 2 rebuilds through a global (`bytes` for empty buffers)
    ("__builtin__", "bytes"),
    ("builtins", "bytes"),
    ("__builtin__", "set"),
    ("builtins", "set"),
    ("__builtin__", "frozenset"),
    ("builtins", "frozenset"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in `_ALLOWED_GLOBALS`."""

    def __init__(self, file: BinaryIO, source: Path) -> None:
        super().__init__(file, encoding="latin1")  # Python-2 str payloads (numpy buffers)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self.source}: refused to load '{module}.{name}'. NeuronIO files contain only "
                "dicts, lists and numpy arrays, so this file is not a NeuronIO file and may run "
                "code if loaded. Delete it and get the data from its original source; " + HELP
            )
        # numpy 2 moved numpy.core to numpy._core (and 1.x lacks the new name)
        module = re.sub(r"^numpy\._?core", _NUMPY_CORE, module)
        module = {"__builtin__": "builtins"}.get(module, module)
        return getattr(importlib.import_module(module), name)


def _open(path: Path) -> BinaryIO:
    """Open plain, gzip- or xz-compressed files alike, recognised by their magic bytes."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb")
    return open(path, "rb")


def load_pickle(path: str | Path) -> Any:
    """Load a (possibly compressed) protocol-2 pickle with the restricted unpickler."""
    path = Path(path)
    if not path.is_file():
        raise NeuronIODataError(f"{path}: no such file; {HELP}")
    try:
        with _open(path) as f:
            return _RestrictedUnpickler(f, path).load()
    except UnsafePickleError:
        raise
    except (EOFError, pickle.UnpicklingError, lzma.LZMAError, gzip.BadGzipFile, OSError,
            ValueError, TypeError) as err:
        raise NeuronIODataError(
            f"{path}: could not read it as a pickle ({type(err).__name__}: {err}); the file is "
            "truncated or corrupt. Download or regenerate it again; " + HELP
        ) from err


# --------------------------------------------------------------------------------------------
# the reader


def _require(cond: bool, path: Path, what: str) -> None:
    if not cond:
        raise NeuronIODataError(
            f"{path}: {what}. This does not look like a NeuronIO simulation file (or it is "
            f"damaged); {HELP}"
        )


def _array(value: Any, path: Path, what: str, shape: tuple[int | None, ...],
           dtype: Any = np.float64) -> np.ndarray:
    """``value`` as a numeric array of ``shape`` (None: any length), never reshaped: an array of
    another shape is refused, naming the file and the array."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise NeuronIODataError(f"{path}: {what} is not an array of numbers ({err}). This does "
                                f"not look like a NeuronIO simulation file; {HELP}") from err
    expected = str(tuple("n" if n is None else n for n in shape)).replace("'", "")
    _require(arr.ndim == len(shape)
             and all(n is None or n == m for n, m in zip(shape, arr.shape, strict=True)), path,
             f"{what} has shape {arr.shape}, expected {expected}")
    return arr


def _binarise(times_by_row: Any, out: np.ndarray, path: Path, sim: int, key: str) -> None:
    """Set out[t, row] = 1 for every spike (the reference `dict2bin`, vectorised)."""
    _require(isinstance(times_by_row, dict), path,
             f"simulation {sim}: '{key}' should map segment index to spike times, got "
             f"{type(times_by_row).__name__}")
    n_t, n_rows = out.shape
    # Fast path: one conversion and one range check for all rows (a file has ~10,000 rows and
    # the sampler reloads files all through training). Anything unexpected falls through to the
    # row-by-row checks, which name the row at fault.
    try:
        rows = np.fromiter(times_by_row.keys(), np.int64, len(times_by_row))
        times = [np.asarray(v, np.float64) for v in times_by_row.values()]
        if all(v.ndim == 1 for v in times) and (rows.size == 0 or (
                rows.min() >= 0 and rows.max() < n_rows)):
            t = np.floor(np.concatenate(times) if times else np.zeros(0)).astype(np.int64)
            if t.size == 0 or (t.min() >= 0 and t.max() < n_t):
                out[t, np.repeat(rows, [v.size for v in times])] = 1
                return
    except (TypeError, ValueError, OverflowError):
        pass
    for row, times in times_by_row.items():
        _require(isinstance(row, int | np.integer) and 0 <= int(row) < n_rows, path,
                 f"simulation {sim}: '{key}' has segment {row!r}, expected 0..{n_rows - 1}")
        t = np.floor(_array(times, path, f"simulation {sim}: '{key}'[{row}] (spike times)",
                            (None,))).astype(np.int64)
        _require(t.size == 0 or (t.min() >= 0 and t.max() < n_t), path,
                 f"simulation {sim}: '{key}'[{row}] has spike times outside 0..{n_t} ms")
        out[t, int(row)] = 1


def _declared_sizes(params: dict, sims: list, path: Path) -> tuple[int, int]:
    """(segments, ms per simulation) as the file declares them, checked against each other:
    ``numSimulations`` (when present) against the simulations, every per-segment list of
    ``Params`` (``allSegments*``) against ``allSegmentsType``."""
    segments = params["allSegmentsType"]
    _require(isinstance(segments, list | tuple | np.ndarray) and np.ndim(segments) == 1, path,
             "'Params'['allSegmentsType'] should be a list with one entry per segment")
    n_seg = len(segments)
    for key, value in params.items():
        if key.startswith("allSegments") and isinstance(value, list | tuple | np.ndarray):
            _require(len(value) == n_seg, path, f"'Params'['{key}'] has {len(value)} entries, "
                     f"but 'allSegmentsType' declares {n_seg} segments")
    seconds = params["totalSimDurationInSec"]
    _require(isinstance(seconds, int | float | np.number) and not isinstance(seconds, bool)
             and seconds > 0 and abs(seconds * 1000 - round(seconds * 1000)) < 1e-6, path,
             f"'Params'['totalSimDurationInSec'] should be a positive number of seconds in whole "
             f"ms, got {seconds!r}")
    if "numSimulations" in params:
        _require(params["numSimulations"] == len(sims), path,
                 f"'Params'['numSimulations'] declares {params['numSimulations']!r} simulations "
                 f"but 'listOfSingleSimulationDicts' holds {len(sims)}")
    return n_seg, round(float(seconds) * 1000)


def load_file(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read one NeuronIO file: inputs, output spikes and somatic voltage, raw.

    Returns ``X`` (n_sim, T, 1278) uint8 in {0, 1}, excitatory channels first; ``spikes``
    (n_sim, T) uint8; ``soma`` (n_sim, T) float32 in mV. T is ``totalSimDurationInSec`` x 1000.
    Reads plain, ``.gz`` and ``.xz`` copies alike.

    Every array is checked against the sizes the file declares (``allSegmentsType`` segments,
    ``totalSimDurationInSec``, ``numSimulations``): a soma trace must have shape (T,), spike-time
    lists must be one-dimensional, segment indices must exist; an array of another shape is
    refused, never flattened. Any problem raises :class:`NeuronIODataError` naming the file, the
    simulation and the array.
    """
    path = Path(path)
    exp = load_pickle(path)
    _require(isinstance(exp, dict) and {"Params", "Results"} <= exp.keys(), path,
             "expected a dict with keys 'Params' and 'Results'")
    params, results = exp["Params"], exp["Results"]
    for key in ("allSegmentsType", "totalSimDurationInSec"):
        _require(isinstance(params, dict) and key in params, path, f"'Params' lacks '{key}'")
    _require(isinstance(results, dict) and "listOfSingleSimulationDicts" in results, path,
             "'Results' lacks 'listOfSingleSimulationDicts'")
    sims = results["listOfSingleSimulationDicts"]
    _require(isinstance(sims, list) and len(sims) > 0, path,
             "'listOfSingleSimulationDicts' should be a non-empty list")
    n_seg, n_t = _declared_sizes(params, sims, path)
    X = np.zeros((len(sims), n_t, 2 * n_seg), dtype=np.uint8)
    spikes = np.zeros((len(sims), n_t), dtype=np.uint8)
    soma = np.zeros((len(sims), n_t), dtype=np.float32)
    keys = ("exInputSpikeTimes", "inhInputSpikeTimes", "somaVoltageLowRes", "outputSpikeTimes")
    for k, sim in enumerate(sims):
        missing = [key for key in keys if not isinstance(sim, dict) or key not in sim]
        _require(not missing, path, f"simulation {k} lacks {missing}")
        _binarise(sim["exInputSpikeTimes"], X[k, :, :n_seg], path, k, "exInputSpikeTimes")
        _binarise(sim["inhInputSpikeTimes"], X[k, :, n_seg:], path, k, "inhInputSpikeTimes")
        v = np.asarray(sim["somaVoltageLowRes"])
        _require(v.ndim != 1 or v.shape == (n_t,), path,
                 f"simulation {k}: 'somaVoltageLowRes' has {v.size} samples, expected {n_t} "
                 "(1 per ms of totalSimDurationInSec)")
        soma[k] = _array(v, path, f"simulation {k}: 'somaVoltageLowRes'", (n_t,), np.float32)
        times = _array(sim["outputSpikeTimes"], path, f"simulation {k}: 'outputSpikeTimes'",
                       (None,))
        idx = (times - 0.5).astype(int)
        _require(idx.size == 0 or (idx.min() >= 0 and idx.max() < n_t), path,
                 f"simulation {k}: 'outputSpikeTimes' outside 0..{n_t} ms")
        spikes[k, idx] = 1
    return X, spikes, soma


# --------------------------------------------------------------------------------------------
# training transforms (the authors' conventions)


def synapse_sign(n_inputs: int = N_INPUTS) -> np.ndarray:
    """+1 for the excitatory half, -1 for the inhibitory half: the model sees the input's sign."""
    half = n_inputs // 2
    return np.concatenate([np.ones(half), -np.ones(n_inputs - half)]).astype(np.float32)


def transform_inputs(X: np.ndarray) -> np.ndarray:
    """Binary inputs (..., 1278) -> float32 with inhibitory channels negated."""
    return X.astype(np.float32) * synapse_sign(X.shape[-1])


def transform_soma(soma: np.ndarray) -> np.ndarray:
    """Raw mV -> training target: clip spikes at -55 mV, subtract -67.7 mV, scale by 0.1.

    Clipping makes the voltage target subthreshold, so the spike channel alone carries spikes.
    """
    return ((np.minimum(soma, SOMA_THRESHOLD_MV) - SOMA_BIAS_MV) * SOMA_SCALE).astype(np.float32)


# --------------------------------------------------------------------------------------------
# discovery and split


@dataclass(frozen=True)
class Split:
    """Files of the authors' split: train = batches 2.., valid = batch 1, test = Data_test."""

    train: list[Path]
    valid: list[Path]
    test: list[Path]


#: How a page describes the committed stand-in.
STAND_IN_DESCRIPTION = "stand-in: our own NEURON simulation in NeuronIO format (data/neuronio)"


def stand_in_dir() -> Path:
    """The committed stand-in (our own simulations, real format) in the repository's
    ``data/neuronio``; an installed package without the repository has none."""
    folder = repository_data("neuronio")
    if folder is None:
        raise NeuronIODataError("no NeuronIO stand-in: it ships with the repository's data/ "
                                f"folder, which this installation lacks; {HELP}")
    return folder


def resolve_data_dir(data_dir: str | Path | None = None) -> DataSource:
    """Where NeuronIO lives: `data_dir`, else `$ELM_DATA_DIR/neuronio`, else the stand-in.

    Falling back to the stand-in while ELM_DATA_DIR is set warns: results on it must not pass
    for results on the real data.
    """
    if data_dir is not None:
        folder = Path(data_dir)
    else:
        folder = env_data_dir("neuronio")
        if folder is not None and not folder.is_dir():
            warnings.warn(f"ELM_DATA_DIR={folder.parent} has no neuronio/ folder; using the "
                          "offline stand-in", stacklevel=2)
            folder = None
        folder = folder or stand_in_dir()
    stand_in = folder.resolve() == (repository_data("neuronio") or Path("/nonexistent")).resolve()
    return DataSource(folder, STAND_IN_DESCRIPTION if stand_in
                      else f"NeuronIO files under {folder}")


def simulation_files(folder: str | Path) -> list[Path]:
    """The simulation pickles in one folder (names containing `sim__`, as the real files)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NeuronIODataError(f"{folder}: no such folder; {HELP}")
    files = sorted(p for p in folder.iterdir()
                   if FILE_MARKER in p.name and p.name.endswith(FILE_SUFFIXES))
    if not files:
        found = sorted(p.name for p in folder.iterdir())[:5]
        raise NeuronIODataError(
            f"{folder}: no simulation files. Expected names containing '{FILE_MARKER}' and "
            f"ending in one of {FILE_SUFFIXES}; found {found or 'nothing'}. " + HELP
        )
    return files


def discover(root: str | Path | None = None) -> Split:
    """Find the real folder layout under `root` and return the authors' split.

    Expected (as unpacked from Kaggle, at any depth below root)::

        .../full_ergodic_train_batch_1/*sim__*.p      validation
        .../full_ergodic_train_batch_2..10/*sim__*.p  training
        .../Data_test/*sim__*.p                        test
    """
    root = resolve_data_dir(root).folder
    if not root.is_dir():
        raise NeuronIODataError(
            f"{root}: NeuronIO folder not found. Set data_dir or ELM_DATA_DIR (which should "
            f"contain neuronio/); {HELP}"
        )
    batches: dict[int, Path] = {}
    tests: list[Path] = []
    for folder in sorted(p for p in root.rglob("*") if p.is_dir()):
        match = TRAIN_FOLDER_PATTERN.match(folder.name)
        if match:
            batches[int(match.group(1))] = folder
        elif folder.name == TEST_FOLDER:
            tests.append(folder)
    if VALID_BATCH not in batches or len(batches) < 2 or not tests:
        raise NeuronIODataError(
            f"{root}: expected folders 'full_ergodic_train_batch_1' (validation), "
            f"'full_ergodic_train_batch_2'.. (training) and '{TEST_FOLDER}' (test) below it; "
            f"found training batches {sorted(batches)} and {len(tests)} test folder(s). " + HELP
        )
    train = [f for b, folder in sorted(batches.items()) if b != VALID_BATCH
             for f in simulation_files(folder)]
    return Split(train=train, valid=simulation_files(batches[VALID_BATCH]),
                 test=[f for folder in tests for f in simulation_files(folder)])


# --------------------------------------------------------------------------------------------
# streaming window sampler


Batch = tuple[np.ndarray, np.ndarray, np.ndarray]


def sparse_window(X_window: np.ndarray, capacity: int | Callable[[int], int] | None = None):
    """A binary input window ``(B, W, 1278)`` as an :class:`elm.SparseInput` of signed spikes.

    Equal to ``elm.sparse_input(transform_inputs(X_window))`` (inhibitory channels -1), made from
    the uint8 window without the dense float32 copy.
    """
    from elm.recurrence import sparse_input  # the data layer does not need the model otherwise

    sparse = sparse_input(X_window, capacity)
    sign = synapse_sign(X_window.shape[-1])
    return dataclasses.replace(sparse, value=sparse.value * sign[sparse.channel])


class PackedInputs:
    """A binary input array ``(n_sim, T, channels)`` kept as bits: eight times smaller.

    Indexing unpacks only what it selects, so :func:`file_batches` reads windows from it as
    from the uint8 array (a NeuronIO window of batch 8 unpacks in about a millisecond).
    """

    def __init__(self, X: np.ndarray) -> None:
        self.shape = X.shape
        self.bits = np.packbits(X.astype(bool), axis=-1)

    @classmethod
    def from_bits(cls, bits: np.ndarray, shape: tuple[int, ...]) -> PackedInputs:
        """The array of ``shape`` whose last axis :func:`numpy.packbits` packed into ``bits``."""
        if bits.shape != (*shape[:-1], -(-shape[-1] // 8)):
            raise ValueError(f"packed bits of shape {bits.shape} do not hold an array {shape}")
        packed = cls.__new__(cls)
        packed.shape, packed.bits = tuple(shape), bits
        return packed

    @property
    def nbytes(self) -> int:
        return int(self.bits.nbytes)

    def __getitem__(self, index) -> np.ndarray:
        return np.unpackbits(self.bits[index], axis=-1, count=self.shape[-1])


#: The decoded-file cache's folder below :func:`elm.data.paths.cache_dir`.
DECODED_CACHE = "neuronio-decoded"


@functools.cache
def _reader_hash() -> str:
    """sha256 of this module's source: a change to the reader invalidates every decoded copy."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def decoded_cache_path(path: str | Path) -> Path:
    """Where :func:`load_decoded` keeps the decoded copy of ``path``: named after the file's
    bytes and the reader's source, so an edited file or reader never meets an old copy."""
    key = hashlib.sha256(f"{sha256(path)}\0{_reader_hash()}".encode()).hexdigest()[:24]
    return cache_dir() / DECODED_CACHE / f"{key}-{Path(path).name.split('.')[0]}.npz"


def load_decoded(path: str | Path, cache: bool = True) -> tuple[PackedInputs, np.ndarray,
                                                                 np.ndarray]:
    """:func:`load_file` with the inputs as bits, through a disk cache of decoded files.

    Why: every run is its own process (``elm.sweep``), and decoding a file (decompressing and
    unpickling it, binarising the spike times, packing the bits) costs tenths of a second for a
    stand-in file and seconds for a real one, each time a run reads it. The cache holds the
    packed bits, spikes and soma, zlib-compressed (a stand-in file's 7.7 MB of bits: 0.7 MB),
    in ``<cache>/neuronio-decoded/`` (:func:`decoded_cache_path`), written atomically. A copy
    that cannot be read (truncated, corrupt) is decoded again and replaced; ``cache=False``
    decodes without touching the cache. The arrays are identical either way.
    """
    target = decoded_cache_path(path) if cache else None
    if target is not None and target.is_file():
        try:
            with np.load(target) as held:
                shape = tuple(int(n) for n in held["shape"])
                return (PackedInputs.from_bits(held["bits"], shape), held["spikes"],
                        held["soma"])
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # an unreadable copy: decode again, and replace it below
    X, spikes, soma = load_file(path)
    packed = PackedInputs(X)
    if target is not None:
        with atomic_file(target) as out:
            np.savez_compressed(out, bits=packed.bits, shape=np.asarray(packed.shape),
                                spikes=spikes, soma=soma)
    return packed, spikes, soma


def file_batches(X: np.ndarray | PackedInputs, spikes: np.ndarray, soma: np.ndarray,
                 rng: np.random.Generator, n_batches: int, batch_size: int = 8, window: int = 500,
                 ignore_from_start: int = 500, sparse: bool = False,
                 capacity: Callable[[int], int] | None = None) -> Iterator[Batch]:
    """Random training windows from one loaded file, transformed as the authors do.

    Simulations are drawn without replacement within a batch (with replacement only when the
    file holds fewer runs than the batch), start times uniformly from ``ignore_from_start`` to
    the last full window, so the cell's initial transient never enters training. ``sparse``:
    the inputs come as an :class:`elm.SparseInput` (:func:`sparse_window`) instead of a dense
    array; ``model(x)`` gives the same outputs and skips the silent channels. ``capacity`` maps
    a batch's spike count to its padded length (:class:`elm.recurrence.GrowingCapacity`, so that
    the training step compiles once, not once per spike count); None: per batch.
    """
    n_sim, n_t = spikes.shape
    n_starts = n_t - window - ignore_from_start
    if n_starts <= 0:
        raise ValueError(f"simulations of {n_t} ms are too short for {window} ms windows "
                         f"after ignoring {ignore_from_start} ms")
    sign = synapse_sign(X.shape[-1])
    for _ in range(n_batches):
        sims = rng.choice(n_sim, size=batch_size, replace=n_sim < batch_size)
        starts = rng.choice(n_starts, size=batch_size, replace=True) + ignore_from_start
        rows = sims[:, None]
        cols = starts[:, None] + np.arange(window)
        window_x = X[rows, cols]
        if sparse:
            x = sparse_window(window_x, capacity)
        else:
            x = window_x.astype(np.float32) * sign
        yield (x, spikes[rows, cols].astype(np.float32), transform_soma(soma[rows, cols]))


class WindowSampler:
    """Endless stream of training batches drawn from randomly chosen files, loaded in background.

    As the authors' loader: pick a file at random, load it, draw
    ``file_load_fraction x (n_sim x T) / (batch_size x window)`` batches from it, then move on;
    so memory holds one file plus the queued batches, never the dataset. A single background
    thread does the loading, so the stream is deterministic for a given seed (the authors'
    multi-process loader is not). Yields ``(X (B, W, 1278) float32 signed, spikes (B, W),
    soma (B, W) scaled)``; with ``sparse=True`` X is an :class:`elm.SparseInput` of the same
    values, made in the loader thread (:func:`sparse_window`).

    Decoded files are kept, as bits (:class:`PackedInputs`), until they fill ``cache_bytes``:
    decoding a file costs about 0.2 s, and a small file (the stand-in's 8 simulations) yields
    only 3 batches before the next one is drawn, so without the cache the loader, not the
    training step, sets the pace. The stream is the same with or without it. The full
    dataset's 128-simulation files yield about 60 batches per load and mostly miss the cache.
    Across runs (each its own process), files come from the disk cache of decoded files
    (:func:`load_decoded`; ``disk_cache=False`` decodes every file from its pickle).
    """

    def __init__(self, files: Sequence[str | Path], batch_size: int = 8, window: int = 500,
                 ignore_from_start: int = 500, file_load_fraction: float = 0.3, seed: int = 0,
                 prefetch: int = 16, sparse: bool = False,
                 cache_bytes: int = 256 * 2**20, disk_cache: bool = True) -> None:
        if not files:
            raise NeuronIODataError(f"WindowSampler needs at least one file; {HELP}")
        self.files = [Path(f) for f in files]
        self.batch_size, self.window = batch_size, window
        self.ignore_from_start, self.file_load_fraction = ignore_from_start, file_load_fraction
        self.sparse = sparse
        self.cache_bytes, self.disk_cache = cache_bytes, disk_cache
        self._decoded: dict[Path, tuple[PackedInputs, np.ndarray, np.ndarray]] = {}
        self._capacity = None
        if sparse:  # one compiled training step, not one per spike count
            from elm.recurrence import GrowingCapacity  # jax only when the model reads the batch

            self._capacity = GrowingCapacity()
        self._rng = np.random.default_rng(seed)
        self._queue: queue.Queue[Batch | BaseException] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._produce, daemon=True)
        self._thread.start()

    def _put(self, item: Batch | BaseException) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                path = self.files[int(self._rng.integers(len(self.files)))]
                X, spikes, soma = self._load(path)
                n_sim, n_t = spikes.shape
                per_file = (n_sim * n_t) / (self.batch_size * self.window)
                n_batches = max(1, int(self.file_load_fraction * per_file))
                for batch in file_batches(X, spikes, soma, self._rng, n_batches, self.batch_size,
                                          self.window, self.ignore_from_start, self.sparse,
                                          self._capacity):
                    if not self._put(batch):
                        return
                del X, spikes, soma
        except BaseException as err:  # handed to the consumer, who re-raises it
            self._put(err)

    def _load(self, path: Path) -> tuple[PackedInputs, np.ndarray, np.ndarray]:
        """A file's arrays, decoded once while the cache has room (:data:`cache_bytes`)."""
        if path in self._decoded:
            return self._decoded[path]
        loaded = load_decoded(path, cache=self.disk_cache)
        held = sum(x.nbytes + s.nbytes + v.nbytes for x, s, v in self._decoded.values())
        if held + sum(a.nbytes for a in loaded) <= self.cache_bytes:
            self._decoded[path] = loaded
        return loaded

    def __iter__(self) -> WindowSampler:
        return self

    def __next__(self) -> Batch:
        item = self._queue.get()
        if isinstance(item, BaseException):
            self.close()
            raise item
        return item

    def close(self) -> None:
        """Stop the background thread (also done on leaving a `with` block)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> WindowSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
