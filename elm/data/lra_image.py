"""LRA image tasks: CIFAR-10 grayscale (Image), Pathfinder (32x32) and Path-X (128x128).

Pixels become a sequence in row-major order and each grey value 0..255 is binned to one of
`n_levels` equal-width levels, ``level = gray * n_levels // 256`` (App. B: 16 levels, 8 for
Path-X), the categorical input of Table S2.

Grayscale. LRA converts CIFAR-10 with ``tf.image.rgb_to_grayscale``: the uint8 image is scaled
to [0, 1], weighted by (0.2989, 0.5870, 0.1140) and scaled back by 255.5 with truncation
(``convert_image_dtype``). Mega's preprocessing (the data the ELM authors point to) uses
torchvision's ``Grayscale``, i.e. PIL's ITU-R 601 luma ``(19595 R + 38470 G + 7471 B + 2^15)
>> 16``. The two differ by at most one grey value; ``method`` picks one ("lra" by default).

Pathfinder layout (LRA release, as made by github.com/drewlinsley/pathfinder)::

    pathfinder32/<difficulty>/metadata/<batch>.npy     text, despite the suffix
    pathfinder32/<difficulty>/imgs/<batch>/sample_<i>.png

Each metadata line is ``imgs/<batch> sample_<i>.png <i> <label> <continuity> <contour length>
...``; LRA's builder (``lra_benchmarks/data/pathfinder.py``) uses field 0 and 1 for the path and
field 3 for the label. Difficulties: ``curv_baseline``, ``curv_contour_length_9`` and
``curv_contour_length_14`` (LRA's "hard", used for the benchmark). The release holds one
empty PNG (``pathfinder32/curv_baseline/imgs/0/sample_172.png``); LRA and Mega skip it, so
empty files are skipped here with a warning.
"""

from __future__ import annotations

import importlib
import pickle
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
from PIL import Image, UnidentifiedImageError

from elm.data.lra_common import LRADataError, fail

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
DIFFICULTIES = ("curv_baseline", "curv_contour_length_9", "curv_contour_length_14")
LRA_DIFFICULTY = "curv_contour_length_14"
_NUMPY_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"
_TF_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)


# --------------------------------------------------------------------------------------------
# pixels -> levels


def rgb_to_gray(rgb: np.ndarray, method: str = "lra") -> np.ndarray:
    """``(..., 3)`` uint8 RGB -> ``(...)`` uint8 grey, as LRA ("lra") or Mega ("pil") do it."""
    rgb = np.asarray(rgb)
    if method == "lra":
        unit = rgb.astype(np.float32) * np.float32(1.0 / 255.0)
        gray = unit @ _TF_WEIGHTS
        return np.clip(gray * np.float32(255.5), 0, 255).astype(np.uint8)
    if method == "pil":
        w = rgb.astype(np.uint32)
        return ((w[..., 0] * 19595 + w[..., 1] * 38470 + w[..., 2] * 7471 + 0x8000) >> 16
                ).astype(np.uint8)
    raise ValueError(f"unknown grayscale method {method!r}; use 'lra' or 'pil'")


def to_levels(gray: np.ndarray, n_levels: int) -> np.ndarray:
    """Bin uint8 grey values into `n_levels` equal-width levels (0 .. n_levels-1)."""
    if not 2 <= n_levels <= 256 or 256 % n_levels:
        raise ValueError(f"n_levels must divide 256, got {n_levels}")
    return (np.asarray(gray, dtype=np.uint8) // (256 // n_levels)).astype(np.uint8)


def image_sequences(rgb: np.ndarray, n_levels: int = 16, method: str = "lra") -> np.ndarray:
    """``(n, H, W, 3)`` RGB -> ``(n, H*W)`` levels, row-major (the LRA pixel order)."""
    gray = rgb_to_gray(rgb, method)
    return to_levels(gray.reshape(len(gray), -1), n_levels)


# --------------------------------------------------------------------------------------------
# CIFAR-10: python batches and image folders


class _CifarUnpickler(pickle.Unpickler):
    """Only what CIFAR batches hold: dicts, lists, bytes and numpy arrays (pickles can run code
    when loaded, and these come from the internet)."""

    _ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"), ("_codecs", "encode")})

    def __init__(self, file: BinaryIO, source: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise fail(self.source, f"refused to load '{module}.{name}': not a CIFAR-10 batch",
                       "Delete it and download cifar-10-python.tar.gz again")
        module = re.sub(r"^numpy\._?core", _NUMPY_CORE, module)
        return getattr(importlib.import_module(module), name)


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickled CIFAR-10 python batch -> ``(n, 32, 32, 3)`` uint8 RGB and labels."""
    path = Path(path)
    if not path.is_file():
        raise fail(path, "no such file", "Unpack cifar-10-python.tar.gz (cifar-10-batches-py/)")
    try:
        with open(path, "rb") as f:
            batch = _CifarUnpickler(f, path).load()
    except LRADataError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, OSError) as err:
        raise fail(path, f"not a readable pickle ({type(err).__name__}: {err})",
                   "The file is truncated or corrupt; download it again") from err
    data = batch.get(b"data") if isinstance(batch, dict) else None
    labels = batch.get(b"labels") if isinstance(batch, dict) else None
    if data is None or labels is None:
        raise fail(path, "no b'data' / b'labels' entries", "Use the CIFAR-10 *python* version")
    data = np.asarray(data, dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise fail(path, f"data of shape {data.shape} with {len(labels)} labels, expected "
                   "(n, 3072) and n labels", "Use the CIFAR-10 python version")
    # rows are R (1024 values), G, B planes, each row-major 32x32
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(labels, np.int64)


def read_cifar_batches(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.ndarray]:
    """Several batches concatenated in the given order."""
    parts = [read_cifar_batch(p) for p in paths]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _class_index(names: list[str]) -> dict[str, int]:
    """Folder name -> label: integers as written, otherwise alphabetical (torchvision's
    ImageFolder rule; CIFAR-10's class names are alphabetical in label order)."""
    if all(n.isdigit() for n in names):
        return {n: int(n) for n in names}
    return {n: i for i, n in enumerate(sorted(names))}


def _load_image(path: Path, size: tuple[int, int], mode: str) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            arr = np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise fail(path, f"not a readable image ({type(err).__name__}: {err})",
                   "Delete or replace the file") from err
    if arr.shape[:2] != size:
        raise fail(path, f"image is {arr.shape[1]}x{arr.shape[0]}, expected {size[1]}x{size[0]}",
                   "Images of this task all have that size; resize or remove the file")
    return arr


def read_image_folder(split_dir: str | Path, size: int = 32, limit_per_class: int | None = None
                      ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``<split_dir>/<class name or index>/*.{png,jpg,jpeg}`` -> RGB ``(n, size, size, 3)``,
    labels and the class names in label order."""
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise fail(split_dir, "no such folder", "Expected <split>/<class>/<image files>")
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if not classes:
        raise fail(split_dir, "no class folders", "Expected <split>/<class>/<image files>")
    index = _class_index(classes)
    images: list[np.ndarray] = []
    labels: list[int] = []
    for name in classes:
        files = sorted(p for p in (split_dir / name).iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES)[:limit_per_class]
        images.extend(_load_image(f, (size, size), "RGB") for f in files)
        labels.extend([index[name]] * len(files))
    if not images:
        raise fail(split_dir, f"no images ({'/'.join(IMAGE_SUFFIXES)}) in the class folders",
                   "Expected <split>/<class>/<image files>")
    names = sorted(index, key=index.__getitem__)
    return np.stack(images), np.asarray(labels, dtype=np.int64), names


# --------------------------------------------------------------------------------------------
# Pathfinder


def _metadata_files(meta_dir: Path) -> list[Path]:
    files = list(meta_dir.glob("*.npy"))
    return sorted(files, key=lambda p: (0, int(p.stem), "") if p.stem.isdigit()
                  else (1, 0, p.stem))


def pathfinder_index(diff_dir: str | Path) -> tuple[list[Path], np.ndarray]:
    """Image paths and labels listed by ``<diff_dir>/metadata/*.npy``, in file then line order.

    Every listed image must exist; empty ones (a known defect of the release) are skipped.
    """
    diff_dir = Path(diff_dir)
    meta_dir = diff_dir / "metadata"
    if not meta_dir.is_dir():
        raise fail(meta_dir, "no such folder", "A Pathfinder difficulty folder holds "
                   "metadata/*.npy and imgs/; check the path and difficulty "
                   f"({', '.join(DIFFICULTIES)}), or generate the data")
    files = _metadata_files(meta_dir)
    if not files:
        raise fail(meta_dir, "no metadata/*.npy files", "Re-extract the release")
    paths: list[Path] = []
    labels: list[int] = []
    for meta in files:
        for n, line in enumerate(meta.read_text(errors="replace").splitlines()):
            fields = line.split()
            if not fields:
                continue
            where = f"{meta}:{n + 1}"
            if len(fields) < 4 or fields[3] not in ("0", "1"):
                raise fail(where, f"expected 'imgs/<batch> <file.png> <index> <label 0|1> ...', "
                           f"got {line[:80]!r}", "Fix or drop the line")
            image = diff_dir / fields[0] / fields[1]
            if not image.is_file():
                raise fail(where, f"lists {image}, which does not exist",
                           "Re-extract the images, or drop the line")
            if image.stat().st_size == 0:
                warnings.warn(f"{image}: empty file skipped (as LRA does)", stacklevel=2)
                continue
            paths.append(image)
            labels.append(int(fields[3]))
    return paths, np.asarray(labels, dtype=np.int64)


def read_pathfinder_images(paths: Sequence[Path], resolution: int, n_levels: int) -> np.ndarray:
    """Grey PNGs -> ``(n, resolution**2)`` levels."""
    out = np.empty((len(paths), resolution * resolution), dtype=np.uint8)
    for i, p in enumerate(paths):
        out[i] = _load_image(p, (resolution, resolution), "L").reshape(-1)
    return to_levels(out, n_levels)


__all__ = [
    "CIFAR10_CLASSES",
    "DIFFICULTIES",
    "LRA_DIFFICULTY",
    "image_sequences",
    "pathfinder_index",
    "read_cifar_batch",
    "read_cifar_batches",
    "read_image_folder",
    "read_pathfinder_images",
    "rgb_to_gray",
    "to_levels",
]
