"""Shared pieces of the Long Range Arena data layer: errors, containers, the token vocabulary.

The ELM authors trained on the LRA data as preprocessed for Mega (their repository points to
``facebookresearch/mega`` for the data): every text task was binarised with
``fairseq-preprocess`` and the Mega task adds a ``<CLS>`` symbol. That pipeline fixes the
one-hot sizes of Table S2, which :class:`Vocab` rebuilds:

* fairseq dictionaries start with 4 specials, ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3;
* the task's token types follow, most frequent first (ties by symbol);
* ``fairseq-preprocess`` pads the dictionary with unused ``madeupwordNNNN`` entries up to a
  multiple of 8 (its default ``--padding-factor 8``);
* Mega's ``lra-text`` task then appends ``<CLS>``.

So ``dim = ceil((4 + n_types) / 8) * 8 + 1``: ListOps 15 types -> 25, Text <= 164 byte types
-> 169, Retrieval <= 100 byte types -> 105. Every sequence ends with ``</s>`` (fairseq appends
it when binarising) before truncation, and is right-padded with ``<pad>`` as Mega batches it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HELP = ("see data/README.md (Long Range Arena) for where to get each data set and the folder "
        "layout")

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS, PAD, EOS, UNK = 0, 1, 2, 3
PADDING_FACTOR = 8  # fairseq-preprocess default


class LRADataError(ValueError):
    """An LRA file or folder is missing or not in the expected format."""


def fail(where: str | Path, what: str, fix: str = "") -> LRADataError:
    """Build an error that names the place, says what is wrong and how to fix it."""
    tail = f" {fix.rstrip('.')}." if fix else ""
    return LRADataError(f"{where}: {what}.{tail} ({HELP})")


# --------------------------------------------------------------------------------------------
# containers


@dataclass(frozen=True)
class Split:
    """One split as arrays: sequences of token ids or grey levels, labels, true lengths.

    ``x`` is ``(n, L)`` ``uint8`` (every one-hot size of Table S2 is below 256). Text tasks are
    right-padded with ``<pad>``; ``lengths`` counts the steps before the padding. Retrieval is
    two-tower: the second document of each pair is ``x2`` / ``lengths2``.
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    x2: np.ndarray | None = None
    lengths2: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, idx: np.ndarray | Sequence[int]) -> Split:
        """The examples at `idx` (a copy), e.g. to carve a validation split."""
        idx = np.asarray(idx, dtype=np.int64)
        x2 = None if self.x2 is None else self.x2[idx]
        lengths2 = None if self.lengths2 is None else self.lengths2[idx]
        return Split(self.x[idx], self.y[idx], self.lengths[idx], x2, lengths2)


@dataclass(frozen=True)
class LRAData:
    """A task's three splits with what a model needs to consume them.

    ``train, valid, test = data`` unpacks the splits; ``input_dim`` is the one-hot size of
    Table S2 and ``provenance`` says which files (real or generated) produced the arrays.
    """

    task: str
    train: Split
    valid: Split
    test: Split
    input_dim: int
    n_classes: int
    provenance: str
    pad_id: int | None = None  # None: fixed-length pixel sequences, nothing is padded
    vocab: Vocab | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[Split]:
        return iter((self.train, self.valid, self.test))

    @property
    def seq_len(self) -> int:
        return int(self.train.x.shape[1])


def split_off_valid(n: int, fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Deterministic (train, valid) index split of a training set.

    The paper (App. B) validates on a fixed part of the training set for tasks without an
    official validation split (Image, Text, and the single pool of Pathfinder images).
    """
    perm = np.random.default_rng(seed).permutation(n)
    n_valid = round(n * fraction)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])


# --------------------------------------------------------------------------------------------
# vocabulary


def fairseq_dim(n_types: int) -> int:
    """One-hot size of a Mega ``lra-text`` dictionary holding `n_types` token types."""
    return math.ceil((len(SPECIALS) + n_types) / PADDING_FACTOR) * PADDING_FACTOR + 1


def max_types(dim: int) -> int:
    """The most token types a dictionary of one-hot size `dim` can hold (inverse of the above)."""
    return dim - 1 - len(SPECIALS)


@dataclass(frozen=True)
class Vocab:
    """Token types -> ids in the fairseq/Mega layout (see the module docstring).

    Types are strings (ListOps) or byte values 0..255 (Text, Retrieval). ``size`` is the
    one-hot dimension including specials, padding entries and ``<CLS>``.
    """

    types: tuple[str | int, ...]
    size: int

    def __post_init__(self) -> None:
        if self.size < fairseq_dim(len(self.types)):
            raise ValueError(f"size {self.size} cannot hold {len(self.types)} types")

    @classmethod
    def from_types(cls, types: Sequence[str | int], size: int | None = None) -> Vocab:
        """Fixed type list; `size` defaults to the fairseq layout's size for it."""
        return cls(tuple(types), size if size is not None else fairseq_dim(len(types)))

    @classmethod
    def from_counts(cls, counts: dict[int, int] | dict[str, int], size: int) -> Vocab:
        """Most frequent types first (ties by symbol), as ``fairseq`` finalises a dictionary;
        types beyond what `size` holds become ``<unk>``."""
        ranked = sorted((t for t, c in counts.items() if c > 0), key=lambda t: (-counts[t], t))
        return cls(tuple(ranked[:max_types(size)]), size)

    @property
    def cls_id(self) -> int:
        return self.size - 1

    def id_of(self, token: str | int) -> int:
        try:
            return len(SPECIALS) + self.types.index(token)
        except ValueError:
            return UNK

    def byte_table(self) -> np.ndarray:
        """256-entry lookup byte value -> id (``<unk>`` for bytes not in the vocabulary)."""
        table = np.full(256, UNK, dtype=np.uint8)
        for i, t in enumerate(self.types):
            table[int(t)] = len(SPECIALS) + i
        return table


def byte_counts(docs: Iterable[bytes]) -> dict[int, int]:
    """How often each byte value occurs in `docs`."""
    total = np.zeros(256, dtype=np.int64)
    for doc in docs:
        total += np.bincount(np.frombuffer(doc, dtype=np.uint8), minlength=256)
    return {b: int(c) for b, c in enumerate(total) if c}


def pack(seqs: Sequence[np.ndarray], max_len: int, append_eos: bool = True
         ) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences into ``(n, max_len)`` ``uint8`` with ``<pad>``.

    ``</s>`` is appended first and the result truncated to `max_len`, the order of fairseq's
    binariser and Mega's ``TruncateDataset``: a truncated document loses its ``</s>``.
    """
    x = np.full((len(seqs), max_len), PAD, dtype=np.uint8)
    lengths = np.zeros(len(seqs), dtype=np.int32)
    for i, s in enumerate(seqs):
        if append_eos:
            s = np.append(s[:max_len], EOS)
        n = min(len(s), max_len)
        x[i, :n] = s[:n]
        lengths[i] = n
    return x, lengths


def encode_bytes(docs: Sequence[bytes], vocab: Vocab, max_len: int) -> tuple[np.ndarray, ...]:
    """Byte-level documents -> padded ids (the LRA Text/Retrieval tokenisation)."""
    table = vocab.byte_table()
    return pack([table[np.frombuffer(d[:max_len], dtype=np.uint8)] for d in docs], max_len)


# --------------------------------------------------------------------------------------------
# where the data lives


def find_child(root: Path, names: Sequence[str]) -> Path | None:
    """First of `names` under `root`, also inside the release's ``lra_release/`` wrappers."""
    for base in (root, root / "lra_release", root / "lra_release" / "lra_release"):
        for name in names:
            if (base / name).exists():
                return base / name
    return None


GENERATED = "GENERATED.json"  # written by the generators next to their output, never by LRA


def mark_generated(folder: str | Path, generator: str, params: dict) -> None:
    """Record that `folder` holds generated data, and how it was made."""
    record = {"generator": generator, **params}
    (Path(folder) / GENERATED).write_text(json.dumps(record, sort_keys=True, default=str))


def generated_record(folder: str | Path) -> dict | None:
    """What :func:`mark_generated` wrote in `folder`, or None for real data."""
    path = Path(folder) / GENERATED
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
