"""Long Range Arena (Tay et al. 2021) data: one loader per task, real files or offline stand-ins.

Each ``load_<task>`` returns an :class:`LRAData`: train/valid/test :class:`Split` s of integer
sequences (token ids or grey levels, ``uint8``) with labels, the one-hot ``input_dim`` of
Table S2 and a ``provenance`` string. ``train, valid, test = load_listops()`` unpacks the splits.

==============  =====  =======  ==============================================================
task            dim    length   encoding
==============  =====  =======  ==============================================================
image           16     1024     CIFAR-10 grey (LRA's tf weights), 16 levels
pathfinder      16     1024     32x32 grey PNG, 16 levels
pathfinder_x    8      16384    128x128 grey PNG, 8 levels
listops         25     <=2000   15 token types in the fairseq/Mega dictionary layout
text            169    <=4096   IMDB bytes, <=164 byte types, same layout
retrieval       105    <=4000   AAN bytes (two documents), <=100 byte types, same layout
==============  =====  =======  ==============================================================

Why these dimensions: see :mod:`elm.data.lra_common` (text tasks) and :mod:`elm.data.lra_image`
(images); the formats are described in :mod:`elm.data.lra_text` and :mod:`elm.data.lra_image`.

Where the data comes from, in order: the ``data_dir`` argument (a task folder, or a folder
holding it, e.g. the unpacked LRA release), then ``$ELM_DATA_DIR/lra/``, then, for the two
synthetic tasks only, a stand-in generated once into ``$ELM_CACHE_DIR/lra/`` (default
``~/.cache/elm``) by :mod:`elm.data.lra_generate`. Image, Text and Retrieval have no generator:
without real files they raise an error that says where to get them.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from elm.data.lra_common import (
    PAD,
    LRAData,
    LRADataError,
    Split,
    Vocab,
    fail,
    find_child,
    generated_record,
    split_off_valid,
)
from elm.data.lra_image import (
    CIFAR_TEST_BATCH,
    CIFAR_TRAIN_BATCHES,
    DIFFICULTIES,
    LRA_DIFFICULTY,
    image_sequences,
    pathfinder_index,
    read_cifar_batch,
    read_cifar_batches,
    read_image_folder,
    read_pathfinder_images,
    rgb_to_gray,
    to_levels,
)
from elm.data.lra_pathfinder import CONTOUR_LENGTHS
from elm.data.lra_text import (
    LISTOPS_FILES,
    LISTOPS_VOCAB,
    byte_vocab,
    listops_value,
    pair_split,
    read_aan_tsv,
    read_imdb_folder,
    read_listops,
    read_listops_tsv,
    text_split,
)
from elm.data.paths import DataSource

TASKS = ("image", "pathfinder", "pathfinder_x", "listops", "text", "retrieval")
INPUT_DIMS = {"image": 16, "pathfinder": 16, "pathfinder_x": 8, "listops": 25, "text": 169,
              "retrieval": 105}  # Table S2
N_CLASSES = {"image": 10, "pathfinder": 2, "pathfinder_x": 2, "listops": 10, "text": 2,
             "retrieval": 2}
SEQ_LENS = {"image": 1024, "pathfinder": 1024, "pathfinder_x": 128 * 128, "listops": 2000,
            "text": 4096, "retrieval": 4000}
# folder names as distributed (first) and accepted alternatives
FOLDERS = {"listops": ("listops-1000", "listops"), "text": ("aclImdb", "imdb"),
           "retrieval": ("tsv_data", "aan"),
           "image": ("cifar-10-batches-py", "cifar10", "cifar-10"),
           "pathfinder": ("pathfinder32",), "pathfinder_x": ("pathfinder128",)}
WHERE = {
    "listops": "the LRA release (lra_release.gz, listops-1000/) from "
               "https://github.com/google-research/long-range-arena",
    "retrieval": "the LRA release (lra_release.gz, tsv_data/new_aan_pairs.*.tsv) from "
                 "https://github.com/google-research/long-range-arena",
    "pathfinder": "the LRA release (lra_release.gz, pathfinder32/) from "
                  "https://github.com/google-research/long-range-arena",
    "pathfinder_x": "the LRA release (lra_release.gz, pathfinder128/) from "
                    "https://github.com/google-research/long-range-arena",
    "text": "the IMDB Large Movie Review Dataset (aclImdb_v1.tar.gz, "
            "https://ai.stanford.edu/~amaas/data/sentiment/)",
    "image": "CIFAR-10, python version (cifar-10-python.tar.gz, "
             "https://www.cs.toronto.edu/~kriz/cifar.html), or a folder of images "
             "<split>/<class>/*.png|jpg",
}


# --------------------------------------------------------------------------------------------
# where the files are


def _holds(task: str, folder: Path) -> bool:
    """Does `folder` look like the task's data (the files a reader needs first)?"""
    if task == "listops":
        return (folder / LISTOPS_FILES["train"]).is_file()
    if task == "text":
        return (folder / "train" / "pos").is_dir()
    if task == "retrieval":
        return folder.is_dir() and any(folder.glob("*train.tsv"))
    if task == "image":
        return (folder / CIFAR_TRAIN_BATCHES[0]).is_file() or (folder / "train").is_dir()
    return any((folder / d / "metadata").is_dir() for d in CONTOUR_LENGTHS)  # also generated ones


def _task_folder(task: str, root: Path) -> Path | None:
    if _holds(task, root):
        return root
    child = find_child(root, FOLDERS[task])
    return child if child is not None and _holds(task, child) else None


def _provenance(folder: Path) -> str:
    record = generated_record(folder)
    if record is None:
        return f"real data in {folder}"
    record = dict(record)
    how = ", ".join(f"{k}={v}" for k, v in sorted(record.items()) if k != "generator")
    return f"generated data in {folder} ({record.get('generator')}: {how}); NOT the LRA release"


def stand_in_dir(task: str) -> Path:
    """Where the generated stand-in of a synthetic task lives (``$ELM_CACHE_DIR/lra/...``)."""
    from elm.data.lra_generate import stand_in_dir as _dir

    return _dir(task)


def _stand_in(task: str, **params: object) -> DataSource:
    from elm.data.lra_generate import ensure_stand_in  # generators load lazily

    folder = ensure_stand_in(task, **params)
    return DataSource(folder, _provenance(folder))


def resolve_task_dir(task: str, data_dir: str | Path | None = None, **generate: object
                     ) -> DataSource:
    """The task's folder and a provenance string: `data_dir`, else ``$ELM_DATA_DIR/lra``,
    else (ListOps, Pathfinder, Path-X) the generated stand-in, with `generate` passed to the
    generator. Raises :class:`LRADataError` saying where to get the data otherwise."""
    if task not in TASKS:
        raise KeyError(f"unknown LRA task {task!r}; one of {TASKS}")
    expected = f"{' or '.join(FOLDERS[task])}/ as distributed"
    if data_dir is not None:
        folder = _task_folder(task, Path(data_dir))
        if folder is None:
            raise fail(data_dir, f"holds no {task} data (looked for {expected}, also inside "
                       "lra_release/)", f"Point data_dir at it; get it from {WHERE[task]}")
        return DataSource(folder, _provenance(folder))
    env = os.environ.get("ELM_DATA_DIR")
    if env:
        folder = _task_folder(task, Path(env) / "lra")
        if folder is not None:
            return DataSource(folder, _provenance(folder))
        if task in ("listops", "pathfinder", "pathfinder_x"):
            warnings.warn(f"ELM_DATA_DIR={env}: no {task} data under lra/ ({expected}); using "
                          "the generated stand-in", stacklevel=3)
    if task in ("listops", "pathfinder", "pathfinder_x"):
        return _stand_in(task, **generate)
    raise fail(f"ELM_DATA_DIR={env}" if env else "no data_dir and no ELM_DATA_DIR",
               f"the {task} task needs the real data and has no offline generator",
               f"Get {WHERE[task]} and put it in $ELM_DATA_DIR/lra/{FOLDERS[task][0]}/ or pass "
               "data_dir")


# --------------------------------------------------------------------------------------------
# the tasks


def load_listops(data_dir: str | Path | None = None, max_len: int = 2000,
                 check_labels: bool = False, **generate: object) -> LRAData:
    """ListOps: ``basic_{train,val,test}.tsv`` -> token ids, input_dim 25, 10 classes."""
    folder, provenance = resolve_task_dir("listops", data_dir, **generate)
    splits = [read_listops(folder / LISTOPS_FILES[s], max_len, check_labels)
              for s in ("train", "valid", "test")]
    return LRAData("listops", *splits, input_dim=LISTOPS_VOCAB.size, n_classes=10,
                   provenance=provenance, pad_id=PAD, vocab=LISTOPS_VOCAB)


def load_text(data_dir: str | Path | None = None, max_len: int = 4096,
              valid_fraction: float = 0.1, seed: int = 0) -> LRAData:
    """Text: IMDB reviews as bytes, input_dim 169; validation carved from the training set."""
    folder, provenance = resolve_task_dir("text", data_dir)
    docs, labels = read_imdb_folder(folder / "train")
    test_docs, test_labels = read_imdb_folder(folder / "test")
    tr, va = split_off_valid(len(docs), valid_fraction, seed)
    vocab = byte_vocab([docs[i] for i in tr], INPUT_DIMS["text"])
    train = text_split([docs[i] for i in tr], labels[tr], vocab, max_len)
    valid = text_split([docs[i] for i in va], labels[va], vocab, max_len)
    test = text_split(test_docs, test_labels, vocab, max_len)
    return LRAData("text", train, valid, test, vocab.size, 2, provenance, PAD, vocab)


def _aan_file(folder: Path, names: tuple[str, ...]) -> Path:
    for pattern in names:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise fail(folder, f"no file matching {' or '.join(names)}",
               "The release's tsv_data/ holds new_aan_pairs.{train,eval,test}.tsv")


def load_retrieval(data_dir: str | Path | None = None, max_len: int = 4000) -> LRAData:
    """Retrieval: AAN document pairs as bytes (two towers: ``x``, ``x2``), input_dim 105."""
    folder, provenance = resolve_task_dir("retrieval", data_dir)
    parts = [read_aan_tsv(_aan_file(folder, names)) for names in
             (("*train.tsv",), ("*eval.tsv", "*val*.tsv"), ("*test.tsv",))]
    vocab = byte_vocab(parts[0][0] + parts[0][1], INPUT_DIMS["retrieval"])
    splits = [pair_split(d1, d2, y, vocab, max_len) for d1, d2, y in parts]
    return LRAData("retrieval", *splits, input_dim=vocab.size, n_classes=2,
                   provenance=provenance, pad_id=PAD, vocab=vocab)


def _pixels(rgb: np.ndarray, labels: np.ndarray, n_levels: int, gray: str) -> Split:
    x = image_sequences(rgb, n_levels, gray)
    return Split(x, labels, np.full(len(x), x.shape[1], dtype=np.int32))


def load_image(data_dir: str | Path | None = None, n_levels: int = 16, gray: str = "lra",
               valid_fraction: float = 0.1, seed: int = 0) -> LRAData:
    """Image: CIFAR-10 (python batches or ``train/`` + ``test/`` image folders) -> 1024 grey
    levels per image, input_dim 16, 10 classes; validation carved from the training set."""
    folder, provenance = resolve_task_dir("image", data_dir)
    if (folder / CIFAR_TRAIN_BATCHES[0]).is_file():
        rgb, labels = read_cifar_batches([folder / b for b in CIFAR_TRAIN_BATCHES])
        test = _pixels(*read_cifar_batch(folder / CIFAR_TEST_BATCH), n_levels, gray)
    else:
        rgb, labels, _ = read_image_folder(folder / "train")
        test = _pixels(*read_image_folder(folder / "test")[:2], n_levels, gray)
    tr, va = split_off_valid(len(labels), valid_fraction, seed)
    return LRAData("image", _pixels(rgb[tr], labels[tr], n_levels, gray),
                   _pixels(rgb[va], labels[va], n_levels, gray), test, n_levels, 10, provenance)


def _load_pathfinder(task: str, resolution: int, n_levels: int, data_dir: str | Path | None,
                     difficulty: str, limit: int | None, seed: int, generate: dict
                     ) -> LRAData:
    if difficulty not in CONTOUR_LENGTHS:  # the release's difficulties and the generator's
        raise ValueError(f"unknown difficulty {difficulty!r}; one of {tuple(CONTOUR_LENGTHS)} "
                         f"(the release has {DIFFICULTIES})")
    if data_dir is None and difficulty != LRA_DIFFICULTY:
        generate = {"difficulty": difficulty, **generate}
    folder, provenance = resolve_task_dir(task, data_dir, **generate)
    paths, labels = pathfinder_index(folder / difficulty)
    order = np.random.default_rng(seed).permutation(len(paths))[:limit]
    x = read_pathfinder_images([paths[i] for i in order], resolution, n_levels)
    pool = Split(x, labels[order], np.full(len(order), x.shape[1], dtype=np.int32))
    n_train, n_valid = int(0.8 * len(order)), int(0.1 * len(order))  # LRA's 80/10/10
    idx = np.arange(len(order))
    return LRAData(task, pool.subset(idx[:n_train]), pool.subset(idx[n_train:n_train + n_valid]),
                   pool.subset(idx[n_train + n_valid:]), n_levels, 2,
                   f"{provenance}, {difficulty}")


def load_pathfinder(data_dir: str | Path | None = None, difficulty: str = LRA_DIFFICULTY,
                    limit: int | None = None, seed: int = 0, **generate: object) -> LRAData:
    """Pathfinder (32x32): input_dim 16, 2 classes; a seeded shuffle split 80/10/10 as LRA.
    `limit` keeps that many images (the release has 200k per difficulty)."""
    return _load_pathfinder("pathfinder", 32, 16, data_dir, difficulty, limit, seed, generate)


def load_pathfinder_x(data_dir: str | Path | None = None, difficulty: str = LRA_DIFFICULTY,
                      limit: int | None = None, seed: int = 0, **generate: object) -> LRAData:
    """Path-X (128x128, 16384 steps): input_dim 8, 2 classes; split as Pathfinder."""
    return _load_pathfinder("pathfinder_x", 128, 8, data_dir, difficulty, limit, seed,
                            generate)


LOADERS: dict[str, Callable[..., LRAData]] = {
    "image": load_image, "pathfinder": load_pathfinder, "pathfinder_x": load_pathfinder_x,
    "listops": load_listops, "text": load_text, "retrieval": load_retrieval,
}


def load_task(task: str, data_dir: str | Path | None = None, **kwargs: object) -> LRAData:
    """``load_<task>`` by name (the task names of ``elm.experiments.configs``: image, pathfinder,
    pathfinder_x, listops, text, retrieval)."""
    if task not in LOADERS:
        raise KeyError(f"unknown LRA task {task!r}; one of {TASKS}")
    return LOADERS[task](data_dir, **kwargs)


__all__ = [
    "INPUT_DIMS",
    "N_CLASSES",
    "SEQ_LENS",
    "TASKS",
    "LRAData",
    "LRADataError",
    "Split",
    "Vocab",
    "image_sequences",
    "listops_value",
    "load_image",
    "load_listops",
    "load_pathfinder",
    "load_pathfinder_x",
    "load_retrieval",
    "load_task",
    "load_text",
    "pathfinder_index",
    "read_aan_tsv",
    "read_cifar_batch",
    "read_cifar_batches",
    "read_image_folder",
    "read_imdb_folder",
    "read_listops",
    "read_listops_tsv",
    "read_pathfinder_images",
    "resolve_task_dir",
    "rgb_to_gray",
    "stand_in_dir",
    "to_levels",
]
