"""Where datasets are found, in one place for every family: the shipped data, the cache, and
compressed files.

Three levels of data serve every family (``data/README.md``):

1. **real subsets shipped with the repository** under ``data/`` (the authors' released models in
   ``data/elmneuron-pretrained/``, 680 real Heidelberg Digits recordings in ``data/shd/``);
2. **offline stand-ins** made by our own code (committed in ``data/`` or generated into the
   cache);
3. **the full datasets**, fetched and verified by ``python -m elm.data.fetch``, and pointed at with
   a ``data_dir`` argument or ``$ELM_DATA_DIR``.

Every reader resolves its folder in the same order (the ``data_dir`` a caller passes, then
``$ELM_DATA_DIR/<family>``, then the shipped folder, then a stand-in) and returns a
:class:`DataSource`: the folder and the line that describes the data on a page, so a figure
never has to guess what it was made from. The shipped folders are found beside the package
(:func:`repository_data`, ``<checkout>/data``); an installation without a checkout has none, and
the readers then fall back as their ``resolve_*`` functions say.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import lzma
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

#: ``data/`` of the checkout this package was imported from.
REPOSITORY_DATA = Path(__file__).resolve().parents[2] / "data"

DATA_ENV = "ELM_DATA_DIR"
CACHE_ENV = "ELM_CACHE_DIR"

#: Compressed suffixes that :func:`unpacked` opens, with their stdlib openers.
COMPRESSED = {".xz": lzma.open, ".gz": gzip.open}
#: ``<name>.part1``, ``<name>.part2``, ...: the pieces of a file kept under 5 MiB (:func:`pieces`).
PIECE = ".part"




class DataSource(NamedTuple):
    """A dataset's folder and how to describe it (``folder, provenance = source`` unpacks it)."""

    folder: Path
    provenance: str


def env_data_dir(family: str) -> Path | None:
    """``$ELM_DATA_DIR/<family>`` when ``ELM_DATA_DIR`` is set (whether or not it exists)."""
    env = os.environ.get(DATA_ENV)
    return Path(env) / family if env else None


def repository_data(name: str) -> Path | None:
    """``data/<name>`` of the repository ``elm`` runs from, or None (an installed wheel).

    The one place where the library looks at the checkout around it: the committed stand-ins
    and real subsets live there, not in the package.
    """
    folder = REPOSITORY_DATA / name
    return folder if folder.is_dir() else None


def cache_dir() -> Path:
    """The cache folder: ``$ELM_CACHE_DIR``, else ``$XDG_CACHE_HOME/elm``, else ``~/.cache/elm``.

    Created on first use; when it cannot be created (read-only home), a per-user folder in the
    system's temporary directory is used instead.
    """
    env = os.environ.get(CACHE_ENV)
    xdg = os.environ.get("XDG_CACHE_HOME")
    folder = Path(env) if env else (Path(xdg) / "elm" if xdg else Path.home() / ".cache" / "elm")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        user = os.environ.get("USER") or str(os.getuid() if hasattr(os, "getuid") else "user")
        folder = Path(tempfile.gettempdir()) / f"elm-cache-{user}"
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def pieces(path: str | Path) -> list[Path]:
    """The files that hold ``path``: the file itself, else its pieces ``<name>.part1``,
    ``<name>.part2``, ... in order (a file the repository keeps under its 5 MiB file limit);
    ``[]`` when there is neither. A gap in the pieces' numbers is an error naming the file."""
    path = Path(path)
    if path.is_file():
        return [path]
    prefix = path.name + PIECE
    found = {int(p.name[len(prefix):]): p for p in path.parent.glob(prefix + "*")
             if p.name[len(prefix):].isdigit()}
    if sorted(found) != list(range(1, len(found) + 1)):
        raise FileNotFoundError(f"{path}: its pieces {sorted(found)} are not numbered 1 to "
                                f"{len(found)}; restore the missing ones")
    return [found[k] for k in sorted(found)]


def open_joined(path: str | Path) -> BinaryIO:
    """``path`` opened for reading, itself or its :func:`pieces` joined."""
    parts = pieces(path)
    if not parts:
        raise FileNotFoundError(f"{path}: no such file (nor pieces {Path(path).name}{PIECE}N)")
    if len(parts) == 1:
        return open(parts[0], "rb")
    # only files small enough for the repository come in pieces: joining them in memory is cheap
    return io.BytesIO(b"".join(p.read_bytes() for p in parts))


def sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes (of its :func:`pieces` joined, if it is kept in pieces)."""
    digest = hashlib.sha256()
    with open_joined(path) as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def is_compressed(path: str | Path) -> bool:
    return Path(path).suffix in COMPRESSED


def unpacked(path: str | Path, cache: str | Path | None = None) -> Path:
    """The uncompressed copy of ``path`` (``.xz`` or ``.gz``), made once in the cache.

    The copy is named after the SHA-256 of the compressed file (so a changed file gets a new
    copy, and an unchanged one is never unpacked twice) and lives in
    ``<cache>/unpacked/<first 16 hex digits>-<name without suffix>``. It is written to a
    temporary name in the same folder and renamed into place, so an interrupted unpack (or two
    processes unpacking at once) never leaves a partial file under the final name. A corrupt
    archive raises the decompressor's error (``lzma.LZMAError``, ``gzip.BadGzipFile``,
    ``EOFError``) and leaves nothing behind.
    """
    path = Path(path)
    opener = COMPRESSED.get(path.suffix)
    if opener is None:
        raise ValueError(f"{path}: not a compressed file (suffixes: {sorted(COMPRESSED)})")
    folder = Path(cache) if cache is not None else cache_dir() / "unpacked"
    target = folder / f"{sha256(path)[:16]}-{path.stem}"
    if target.is_file():
        return target
    with atomic_file(target) as out, opener(open_joined(path), "rb") as src:
        shutil.copyfileobj(src, out, 1 << 20)
    return target


@contextmanager
def atomic_file(target: str | Path) -> Iterator[BinaryIO]:
    """``target`` opened for writing under a temporary name in its folder, renamed onto
    ``target`` when the block ends without error, removed when it raises. Creates the folder.

    Why: caches are read by concurrent runs (a sweep's processes) and may be interrupted; a
    reader then sees either no file or a complete one, never a partial file under the final name.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
