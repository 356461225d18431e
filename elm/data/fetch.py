"""Fetch the full datasets, verified: ``python -m elm.data.fetch {shd,neuronio,lra} --dest DIR``.

The book runs on shipped subsets and offline stand-ins; this command puts the *full* datasets where
the readers look when ``ELM_DATA_DIR=DIR`` is set (see data/README.md)::

    DIR/shd/shd_train.h5, shd_test.h5                 elm.data.shd (Zenke lab, md5-verified)
    DIR/lra/listops-1000/, tsv_data/,                 elm.data.lra (the LRA release tarball;
            pathfinder32/, pathfinder128/                 Text and Image are not in it)
    DIR/neuronio/train/full_ergodic_train_batch_*/    elm.data.neuronio (Kaggle, needs an account)
    DIR/neuronio/test/Data_test/

What is verified, and how:

* **SHD**: the lab publishes md5 sums beside the files (``md5sums.txt``); the values are pinned
  here (:data:`SHD_SOURCE`), so a changed file on the server is caught, not trusted. Both the
  ``.gz`` download and the unpacked ``.h5`` are checked, then the folder is opened with
  :func:`elm.data.shd.resolve_data_dir`.
* **LRA**: Google publishes **no checksum** for ``lra_release.gz``. The gzip stream's own CRC
  (and tar's header checksums) catch a damaged transfer while extracting, the readers of
  :mod:`elm.data.lra` check the layout afterwards, and ``DIR/lra/lra_release.manifest.json``
  records the sha256 and size of what was downloaded, so two machines can compare what they got.
* **NeuronIO**: Kaggle serves it behind an account. With :mod:`kagglehub` importable and Kaggle
  credentials present both datasets are downloaded; otherwise the exact manual steps are
  printed. Either way :func:`elm.data.neuronio.discover` checks the layout.

Every download goes to ``<name>.part`` next to its destination, is verified, and only then
renamed into place (``os.replace``), so a reader never sees half a file. An interrupted
transfer resumes from the ``.part`` (HTTP ``Range``; a server that ignores it restarts the file),
within the run (``--retries``) and across runs. A checksum mismatch deletes the ``.part``.

Exit status: 0 done; 1 failed (the message names the file, what was expected, what was found,
and what to do; no traceback unless ``--debug``); 2 usage error; 130 interrupted (Ctrl-C).
Downloading, checking and unpacking use only the standard library and tqdm; the final layout
checks call the readers themselves, so "it fetched" means "the book can read it".
"""

from __future__ import annotations

import argparse
import errno
import gzip
import hashlib
import http.client
import json
import os
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import BinaryIO

from tqdm import tqdm

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
CHUNK = 1 << 20  # 1 MiB: large enough for speed, small enough for a smooth progress bar
TIMEOUT_S = 60.0  # per socket operation; a stalled server counts as an interruption
PART_SUFFIX = ".part"
USER_AGENT = "elm.data.fetch (Python urllib)"
HELP = "see data/README.md ('Full datasets: python -m elm.data.fetch')"


class FetchError(Exception):
    """A failure the user can act on; :func:`main` prints it as one message, no traceback."""


class UnsafeArchiveError(FetchError):
    """An archive member would land outside the destination (absolute path or ``..``)."""


class _Interrupted(Exception):
    """The transfer broke off after it started; the ``.part`` file can be resumed."""


# --------------------------------------------------------------------------------------------
# what to fetch


@dataclass(frozen=True)
class Item:
    """One file of a source: its name on the server (and on disk) and how to check it.

    ``md5`` is of the downloaded bytes (None: nothing published to check against);
    ``unpacked`` names the gunzipped file and ``unpacked_md5`` its checksum.
    """

    name: str
    md5: str | None = None
    unpacked: str | None = None
    unpacked_md5: str | None = None


@dataclass(frozen=True)
class Source:
    """A dataset's server, the folder under ``--dest`` its files go to, and its files.

    Tests build their own (a local server, their own checksums) and pass it to the fetchers and
    to :func:`main`, instead of patching module internals.
    """

    name: str
    base_url: str
    subdir: str
    items: tuple[Item, ...]
    homepage: str = ""


SHD_SOURCE = Source(
    name="shd",
    base_url="https://zenkelab.org/datasets/",
    subdir="shd",
    items=(
        Item("shd_train.h5.gz", "d47c9825dee33347913e8ce0f2be08b0",
             "shd_train.h5", "8e9877c85f29a28dd353ea6a54402667"),
        Item("shd_test.h5.gz", "3062a80ec0c5719404d5b02e166543b1",
             "shd_test.h5", "207ad1295a0ab611e22d1734989c254e"),
    ),
    homepage="https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/",
)
LRA_SOURCE = Source(
    name="lra",
    base_url="https://storage.googleapis.com/long-range-arena/",
    subdir="lra",
    items=(Item("lra_release.gz"),),  # a tar.gz; no checksum is published
    homepage="https://github.com/google-research/long-range-arena",
)
SOURCES: dict[str, Source] = {"shd": SHD_SOURCE, "lra": LRA_SOURCE}

# The release's folders that elm.data.lra reads (FOLDERS[task][0] of listops, retrieval,
# pathfinder, pathfinder_x); the release nests them in lra_release/lra_release/. Text (IMDB)
# and Image (CIFAR-10) are not in the release.
LRA_FOLDERS = ("listops-1000", "tsv_data", "pathfinder32", "pathfinder128")
LRA_WRAPPERS = ("lra_release",)
LRA_MANIFEST = "lra_release.manifest.json"
STAGING = ".extract.part"  # below DIR/lra; no reader looks there

KAGGLE_DATASETS = {  # Beniaguev et al., "Single Neurons as Deep Nets" (NeuronIO)
    "train": "selfishgene/single-neurons-as-deep-nets-nmda-train-data",
    "test": "selfishgene/single-neurons-as-deep-nets-nmda-test-data",
}
KAGGLE_CACHE = ".kagglehub-cache"  # below DIR, beside neuronio/: never read as data


# --------------------------------------------------------------------------------------------
# small helpers


def part_path(target: Path) -> Path:
    """The temporary name a file is written under until it is verified."""
    return target.with_name(target.name + PART_SUFFIX)


def url_for(source: Source, item: Item, mirror: str | None = None) -> str:
    """The item's URL; ``--mirror`` replaces the base URL (the file name stays)."""
    base = mirror or source.base_url
    return base.rstrip("/") + "/" + urllib.parse.quote(item.name)


def human(n: float | None) -> str:
    """Bytes as a short size, for messages ('1.2 GB')."""
    if n is None:
        return "an unknown size"
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"  # pragma: no cover


def _bar(total: int | None, initial: int, desc: str, progress: bool, leave: bool = False
         ) -> tqdm:
    """A byte progress bar (size, rate, time left) on stderr; downloads leave theirs behind."""
    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True,
                unit_divisor=1000, disable=not progress, file=sys.stderr, leave=leave,
                dynamic_ncols=True)


@dataclass(frozen=True)
class Digests:
    """Checksums and size of one file."""

    md5: str
    sha256: str
    size: int


def hash_file(path: Path, progress: bool = False) -> Digests:
    """md5 (what the SHD lab publishes) and sha256 (what the LRA manifest records) in one pass.

    Hashing the bytes on disk, not the bytes received, also covers a file assembled from
    several resumed transfers.
    """
    md5, sha = hashlib.md5(), hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f, _bar(size, 0, f"verifying {path.name}", progress) as bar:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
            bar.update(len(chunk))
    return Digests(md5.hexdigest(), sha.hexdigest(), size)


def _disk_full(path: Path, done: int | None, total: int | None, resumable: bool
               ) -> FetchError:
    free = shutil.disk_usage(path.parent).free if path.parent.exists() else None
    then = (f"run the same command again: it resumes from the {human(done)} already in {path} "
            "(delete that file to give its space back)" if resumable and done
            else "run the same command again")
    after = f" after {human(done)}" if done else ""
    need = f"room for {human(total)} in all" if total is not None else "room for the files"
    return FetchError(
        f"{path}: the disk is full (No space left on device){after}.\n"
        f"  expected: {need}\n"
        f"  got:      {human(free)} free on that disk\n"
        f"Free some space or choose another --dest, then {then}.")


def _check_space(folder: Path, needed: int | None, name: str) -> None:
    """Fail before writing anything when the disk cannot hold the file."""
    if needed is None:
        return
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise FetchError(
            f"{folder / name}: not enough disk space.\n"
            f"  expected: {human(needed)} free\n"
            f"  got:      {human(free)} free\n"
            "Free some space or choose another --dest, then run the same command again.")


def _mismatch(path: Path, what: str, expected: str, got: str, advice: str) -> FetchError:
    return FetchError(f"{path}: {what} mismatch.\n  expected: {expected}\n  got:      {got}\n"
                      f"{advice}")


# --------------------------------------------------------------------------------------------
# downloading


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(first byte, total size) of a ``Content-Range: bytes a-b/total`` header."""
    if not value or not value.startswith("bytes "):
        return None, None
    span, _, total = value[6:].partition("/")
    first = span.partition("-")[0]
    return (int(first) if first.isdigit() else None), (int(total) if total.isdigit() else None)


def _unreachable(url: str, err: BaseException, part: Path) -> FetchError:
    reason = getattr(err, "reason", None) or err
    kept = part.stat().st_size if part.exists() else 0
    resume = (f" The {human(kept)} received so far are kept in {part}; the next run resumes."
              if kept else "")
    return FetchError(
        f"{url}: cannot reach the server.\n"
        f"  expected: an answer from {urllib.parse.urlsplit(url).netloc or url}\n"
        f"  got:      {reason}\n"
        "Check the network connection (and any proxy), or pass --mirror URL with a copy of the "
        f"files, then run the same command again.{resume}")


def _http_error(url: str, err: urllib.error.HTTPError, name: str) -> FetchError:
    if err.code in (404, 410):
        advice = (f"The server has no such file. With --mirror, the mirror must serve {name} "
                  "directly under the URL given; without it, the dataset may have moved: "
                  f"{HELP}.")
    elif err.code in (401, 403):
        advice = "The server refused access; try again later or pass --mirror URL."
    else:
        advice = "Try again later, or pass --mirror URL with a copy of the files."
    return FetchError(f"{url}: HTTP error.\n  expected: 200 OK\n  got:      {err.code} "
                      f"{err.reason}\n{advice}")


def _open(url: str, part: Path, have: int, timeout: float) -> http.client.HTTPResponse | None:
    """Open `url`, asking for the bytes from `have` on; None when `part` is already whole."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to send from `have` on
            _, total = _content_range(err.headers.get("Content-Range"))
            err.close()
            if total == have:
                return None
            part.unlink()  # longer than the file, or the file changed: start over
            raise _Interrupted("the server cannot resume from the partial file") from err
        raise


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> None:
    """One attempt: append the rest of `url` to `part` (or rewrite it when resuming fails).

    Raises :class:`_Interrupted` when the body ends early or the connection breaks, so the
    caller can try again from what is on disk.
    """
    have = part.stat().st_size if part.exists() else 0
    response = _open(url, part, have, timeout)
    if response is None:
        return
    with response:
        status = getattr(response, "status", None)
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if have and status == 206:
            first, total = _content_range(response.headers.get("Content-Range"))
            if first != have:  # resumed somewhere else: start the file over on the next try
                part.unlink()
                raise _Interrupted(f"the server resumed at byte {first}, not {have}")
            total = total if total is not None else (have + length if length is not None
                                                     else None)
        else:
            if have:
                print(f"{part.name}: the server ignores resume requests (HTTP Range); "
                      "downloading the whole file again", file=sys.stderr)
            have, total = 0, length
        _check_space(part.parent, None if total is None else total - have, part.name)
        done = have
        try:
            with open(part, "ab" if have else "wb") as out, \
                    _bar(total, have, part.name.removesuffix(PART_SUFFIX), progress, True) as bar:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except (http.client.HTTPException, ConnectionError, TimeoutError) as err:
                        raise _Interrupted(f"{type(err).__name__}: {err}") from err
                    if not chunk:
                        break
                    out.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise _disk_full(part, part.stat().st_size if part.exists() else done,
                                 total, resumable=True) from err
            raise
    if total is not None and done < total:
        raise _Interrupted(f"the connection closed after {human(done)} of {human(total)}")


def download(url: str, target: Path, *, md5: str | None = None, attempts: int = 4,
             timeout: float = TIMEOUT_S, retry_wait: float = 1.0, progress: bool = True
             ) -> Digests:
    """Download `url` to `target`: via ``target.part``, resumed, verified, renamed into place.

    A broken transfer is resumed up to `attempts` times in all (waiting ``retry_wait x n``
    seconds); afterwards the ``.part`` stays for the next run. With `md5`, a mismatch deletes
    the ``.part`` and raises :class:`FetchError`, so nothing unverified keeps the file's name.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(target)
    for attempt in range(1, attempts + 1):
        try:
            _transfer(url, part, timeout, progress)
            break
        except _Interrupted as err:
            kept = part.stat().st_size if part.exists() else 0
            if attempt == attempts:
                raise FetchError(
                    f"{url}: the transfer broke off ({err}).\n"
                    f"  expected: the whole file after {attempts} attempt(s)\n"
                    f"  got:      {human(kept)}, kept in {part}\n"
                    "Run the same command again: it resumes from there.") from err
            print(f"{target.name}: transfer interrupted ({err}); resuming from "
                  f"{human(kept)} (attempt {attempt + 1} of {attempts})", file=sys.stderr)
            time.sleep(retry_wait * attempt)
        except urllib.error.HTTPError as err:
            raise _http_error(url, err, target.name) from err
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                TimeoutError) as err:
            raise _unreachable(url, err, part) from err
    digests = hash_file(part, progress)
    if md5 is not None and digests.md5 != md5.lower():
        part.unlink()
        raise _mismatch(target, "md5", md5.lower(), digests.md5,
                        f"The download from {url} is damaged or is not the published file (a "
                        "broken transfer, a proxy, or a mirror with another version); it was "
                        "deleted. Run the same command again; if the mismatch repeats, try "
                        "another --mirror, or report it.")
    os.replace(part, target)
    return digests


def gzip_size(archive: Path) -> int | None:
    """The unpacked size a gzip file records in its trailer (modulo 4 GiB): a disk-space hint."""
    with open(archive, "rb") as f:
        if f.seek(0, os.SEEK_END) < 18:  # shorter than an empty gzip member
            return None
        f.seek(-4, os.SEEK_END)
        return int.from_bytes(f.read(4), "little")


def gunzip(archive: Path, target: Path, md5: str | None = None, progress: bool = True) -> str:
    """Unpack `archive` (gzip, streamed) to `target` via ``target.part``; verify; rename.

    Returns the md5 of the unpacked bytes. On any failure the ``.part`` is removed: a partial
    ``.h5`` must never sit where a reader could find it.
    """
    part = part_path(target)
    size = gzip_size(archive)
    _check_space(target.parent, size, target.name)
    digest = hashlib.md5()
    written = 0
    try:
        with gzip.open(archive, "rb") as src, open(part, "wb") as out, \
                _bar(archive.stat().st_size, 0, f"unpacking {archive.name}", progress) as bar:
            raw = src.fileobj  # the compressed stream: its position drives the bar
            while chunk := src.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                written += len(chunk)
                if raw is not None:
                    bar.update(raw.tell() - bar.n)
    except BaseException as err:
        part.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise _disk_full(part, written, size, resumable=False) from err
        if isinstance(err, OSError | EOFError | zlib.error):
            raise FetchError(f"{archive}: cannot unpack it ({type(err).__name__}: {err}).\n"
                             "  expected: a gzip file\n  got:      a damaged or different file\n"
                             f"Delete {archive} and run the same command again.") from err
        raise
    got = digest.hexdigest()
    if md5 is not None and got != md5.lower():
        part.unlink()
        raise _mismatch(target, "md5 (unpacked)", md5.lower(), got,
                        f"{archive} passed its own check, so the pinned checksum of the "
                        f"unpacked file may be out of date; the unpacked file was deleted. "
                        "Report it (with both values).")
    os.replace(part, target)
    return got


# --------------------------------------------------------------------------------------------
# SHD


def fetch_shd(dest: Path, *, source: Source = SHD_SOURCE, mirror: str | None = None,
              force: bool = False, keep_archives: bool = False, attempts: int = 4,
              retry_wait: float = 1.0, progress: bool = True) -> Path:
    """Put the verified ``shd_train.h5`` and ``shd_test.h5`` into ``dest/shd/``.

    A file already there with the pinned md5 is kept (re-running is cheap); one with another md5
    is never overwritten silently (it may be the user's own file): that needs `force`. Returns
    the folder, after :func:`elm.data.shd.resolve_data_dir` has accepted it.
    """
    folder = Path(dest) / source.subdir
    folder.mkdir(parents=True, exist_ok=True)
    for item in source.items:
        final = folder / (item.unpacked or item.name)
        final_md5 = item.unpacked_md5 if item.unpacked else item.md5
        if final.is_file():
            got = hash_file(final, progress).md5
            if final_md5 is None or got == final_md5:
                print(f"{final}: already in place" + (", md5 verified" if final_md5 else ""))
                continue
            if not force:
                raise _mismatch(final, "md5", final_md5, got,
                                "This file is not the published one. Move it away, or pass "
                                "--force to replace it with a verified download.")
        archive = folder / item.name
        if item.unpacked and archive.is_file() and hash_file(archive).md5 == item.md5:
            print(f"{archive}: already downloaded, md5 verified")
        else:
            url = url_for(source, item, mirror)
            print(f"downloading {url}")
            download(url, archive, md5=item.md5, attempts=attempts, retry_wait=retry_wait,
                     progress=progress)
        if item.unpacked:
            gunzip(archive, final, item.unpacked_md5, progress)
            if not keep_archives:
                archive.unlink()
        print(f"{final}: in place" + (", md5 verified" if final_md5 else ""))
    from elm.data import shd

    try:
        found, origin = shd.resolve_data_dir(folder)
    except shd.SHDDataError as err:
        raise FetchError(f"layout check failed: {err}") from err
    print(f"elm.data.shd reads it: {origin}")
    return found


# --------------------------------------------------------------------------------------------
# LRA


def safe_member_path(name: str) -> PurePosixPath:
    """A tar member's path, refused when absolute or climbing out with ``..``.

    Checked for every member, extracted or not: an archive that tries to escape is not the
    release, so none of it is trusted.
    """
    path = PurePosixPath(name.replace("\\", "/"))
    drive = path.parts[0].endswith(":") if path.parts else False
    if path.is_absolute() or ".." in path.parts or drive:
        raise UnsafeArchiveError(
            f"archive member {name!r} would be written outside the destination.\n"
            "  expected: relative paths inside the archive\n"
            f"  got:      {'an absolute path' if path.is_absolute() or drive else '..'}\n"
            "Refusing to extract this archive; it is not the LRA release.")
    return path


def release_path(path: PurePosixPath, folders: Sequence[str]) -> tuple[str, ...] | None:
    """The member's path from its task folder on, or None for anything the readers do not use.

    The release wraps its folders in ``lra_release/lra_release/``; those wrappers are dropped so
    the folders land directly in ``DIR/lra/``.
    """
    parts = path.parts
    while parts and parts[0] in LRA_WRAPPERS:
        parts = parts[1:]
    return parts if parts and parts[0] in folders else None


class _Counting:
    """A read-only file wrapper counting the compressed bytes read (drives the progress bar)."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw, self.count = raw, 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.count += len(data)
        return data


@contextmanager
def _staging(folder: Path) -> Iterator[Path]:
    """A scratch folder removed whatever happens, so no half-extracted task folder stays."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _extract_stream(tar: tarfile.TarFile, staging: Path, folders: Sequence[str],
                    counter: _Counting, bar: tqdm) -> tuple[dict[str, int], int]:
    counts = dict.fromkeys(folders, 0)
    skipped_links = 0
    for member in tar:
        rel = release_path(safe_member_path(member.name), folders)
        bar.update(counter.count - bar.n)
        if rel is None:
            continue
        target = staging.joinpath(*rel)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
        elif member.isfile():
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(member)
            assert src is not None  # a regular file always has data
            with open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            counts[rel[0]] += 1
        else:  # links, devices, fifos: never extracted (a link could point anywhere)
            skipped_links += 1
    return counts, skipped_links


def extract_folders(archive: Path, dest: Path, folders: Sequence[str] = LRA_FOLDERS,
                    progress: bool = True) -> dict[str, int]:
    """Extract only `folders` of a tar(.gz) into `dest`, streamed; return files per folder.

    Everything is unpacked into a scratch folder first and each task folder is renamed into
    place only when the whole archive was read, so an interrupted or refused extraction leaves
    no partial task folder behind. An existing folder of the same name is replaced.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with _staging(dest / STAGING) as staging:
        try:
            with open(archive, "rb") as raw:
                counter = _Counting(raw)
                # r|*: streamed, compression detected (a server may hand out the tar itself)
                with tarfile.open(fileobj=counter, mode="r|*") as tar, \
                        _bar(archive.stat().st_size, 0, f"extracting {archive.name}",
                             progress) as bar:
                    counts, skipped = _extract_stream(tar, staging, folders, counter, bar)
        except UnsafeArchiveError as err:
            raise UnsafeArchiveError(f"{archive}: {err}") from None
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as err:
            raise FetchError(f"{archive}: cannot read it as a tar archive ({type(err).__name__}: "
                             f"{err}).\n  expected: the LRA release (a tar.gz)\n  got:      a "
                             f"damaged or truncated file\nDelete {archive} and run the same "
                             "command again.") from err
        except OSError as err:
            if err.errno == errno.ENOSPC:
                raise _disk_full(dest, None, None, resumable=False) from err
            raise
        empty = [name for name in folders if not (staging / name).is_dir()]
        if empty:
            there = ", ".join(n for n in folders if n not in empty) or "none of them"
            raise FetchError(f"{archive}: no {', '.join(f'{n}/' for n in empty)} in it.\n"
                             f"  expected: {', '.join(folders)} (inside lra_release/)\n"
                             f"  got:      {there}\n"
                             "This is not the LRA release; check --mirror.")
        for name in folders:
            final = dest / name
            if final.exists():
                os.replace(final, staging / f"{name}.old")  # removed with the staging folder
            os.replace(staging / name, final)
    if skipped:
        print(f"{archive.name}: {skipped} link or special member(s) not extracted")
    return counts


def check_lra(lra_dir: Path) -> tuple[list[str], list[str]]:
    """Ask :mod:`elm.data.lra` for every task's folder: (lines found, lines missing).

    Raises :class:`FetchError` when a folder is there but a reader rejects it.
    """
    from elm.data import lra
    from elm.data.lra_image import DIFFICULTIES

    found, missing = [], []
    for task in lra.TASKS:
        try:
            folder, _ = lra.resolve_task_dir(task, lra_dir)
        except lra.LRADataError:
            missing.append(f"{task}: not in {lra_dir}; get {lra.WHERE[task]}")
            continue
        detail = ""
        if task in ("pathfinder", "pathfinder_x"):
            counts = []
            for difficulty in DIFFICULTIES:
                if (folder / difficulty).is_dir():
                    with warnings.catch_warnings(record=True) as empty:
                        warnings.simplefilter("always")
                        try:
                            paths, _ = lra.pathfinder_index(folder / difficulty)
                        except lra.LRADataError as err:
                            raise FetchError(f"layout check failed: {err}") from err
                    counts.append(f"{difficulty} {len(paths)} images"
                                  + (f" ({len(empty)} empty, skipped)" if empty else ""))
            detail = f" ({'; '.join(counts)})"
        found.append(f"{task}: {folder}{detail}")
    return found, missing


def fetch_lra(dest: Path, *, source: Source = LRA_SOURCE, folders: Sequence[str] = LRA_FOLDERS,
              mirror: str | None = None, force: bool = False, keep_archives: bool = False,
              attempts: int = 4, retry_wait: float = 1.0, progress: bool = True) -> Path:
    """Download the LRA release and extract the task folders the readers use into ``dest/lra``.

    No checksum is published for ``lra_release.gz``: the sha256 and size of what was downloaded
    go into ``lra_release.manifest.json``. Folders already present are kept unless `force`.
    """
    lra_dir = Path(dest) / source.subdir
    lra_dir.mkdir(parents=True, exist_ok=True)
    todo = [name for name in folders if force or not (lra_dir / name).is_dir()]
    if todo:
        item = source.items[0]
        archive = lra_dir / item.name
        url = url_for(source, item, mirror)
        if archive.is_file():
            print(f"{archive}: already downloaded; using it")
            digests = hash_file(archive, progress)
        else:
            print(f"downloading {url} (no checksum is published; the sha256 is recorded)")
            digests = download(url, archive, md5=item.md5, attempts=attempts,
                               retry_wait=retry_wait, progress=progress)
        try:
            counts = extract_folders(archive, lra_dir, todo, progress)
        except UnsafeArchiveError:
            archive.unlink(missing_ok=True)  # not the release: never reuse it
            raise
        manifest = {"url": url, "file": item.name, "bytes": digests.size,
                    "sha256": digests.sha256, "md5": digests.md5,
                    "fetched_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "note": "Google publishes no checksum for lra_release.gz; this records "
                            "what was downloaded, for comparison between machines.",
                    "extracted_files": counts}
        tmp = part_path(lra_dir / LRA_MANIFEST)
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        os.replace(tmp, lra_dir / LRA_MANIFEST)
        print(f"extracted {', '.join(f'{n}/ ({c} files)' for n, c in counts.items())}; "
              f"sha256 {digests.sha256} in {lra_dir / LRA_MANIFEST}")
        if not keep_archives:
            archive.unlink()
    else:
        print(f"{lra_dir}: {', '.join(folders)} already in place (--force fetches again)")
    found, missing = check_lra(lra_dir)
    absent = [name for name in folders if not (lra_dir / name).is_dir()]
    if absent:  # pragma: no cover - extract_folders guarantees them
        raise FetchError(f"{lra_dir}: {', '.join(absent)} missing after extraction")
    print("elm.data.lra reads:\n  " + "\n  ".join(found))
    if missing:
        print("not part of the LRA release (get them separately):\n  " + "\n  ".join(missing))
    return lra_dir


# --------------------------------------------------------------------------------------------
# NeuronIO (Kaggle)


def kaggle_credentials() -> str | None:
    """Where Kaggle credentials would come from (as kagglehub looks), or None."""
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME and KAGGLE_KEY"
    folder = os.environ.get("KAGGLE_CONFIG_DIR") or str(Path.home() / ".kaggle")
    path = Path(folder) / "kaggle.json"
    return str(path) if path.is_file() else None


def _import_kagglehub() -> ModuleType | None:
    try:
        import kagglehub  # optional: not a requirement of elm
    except ImportError:
        return None
    return kagglehub


def manual_steps(dest: Path, datasets: Mapping[str, str] = KAGGLE_DATASETS) -> str:
    """The exact commands to get NeuronIO by hand (Kaggle needs a free account)."""
    root = Path(dest).resolve() / "neuronio"
    pages = "\n".join(f"       https://www.kaggle.com/datasets/{h}" for h in datasets.values())
    cli = "\n".join(f"       kaggle datasets download -d {h} -p {root / split} --unzip"
                    for split, h in datasets.items())
    unzip = "\n".join(f"       unzip <the {split} zip> -d {root / split}" for split in datasets)
    return (
        "NeuronIO is on Kaggle (about 115 GB) and needs a free Kaggle account.\n"
        "  Automatic: pip install kagglehub; create an API token at "
        "https://www.kaggle.com/settings (API, Create New Token) and save it as "
        "~/.kaggle/kaggle.json (or set KAGGLE_USERNAME and KAGGLE_KEY); then run again:\n"
        f"       python -m elm.data.fetch neuronio --dest {Path(dest).resolve()}\n"
        "  By hand:\n"
        "    1. Sign in at https://www.kaggle.com and download both datasets:\n"
        f"{pages}\n"
        "    2. Unzip them so that the folders land here:\n"
        f"{unzip}\n"
        "       (or, with the kaggle command-line tool and a token:)\n"
        f"{cli}\n"
        "    3. Check the layout: run this command again; it looks for "
        "full_ergodic_train_batch_1..10/ and Data_test/ at any depth below\n"
        f"       {root}\n")


def _link_tree(src: Path, dst: Path) -> None:
    """Rebuild `src`'s folders under `dst` as real folders holding links to its files.

    :func:`elm.data.neuronio.discover` walks folders with ``Path.rglob``, which does not enter
    linked folders, so a folder link would hide the data; linked files are read as usual.
    """
    for folder, _, files in os.walk(src):
        here = dst / Path(folder).relative_to(src)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            (here / name).symlink_to(Path(folder) / name)


def _move_into_place(path: Path, final: Path, cache: Path) -> None:
    """Rename a kagglehub download into ``neuronio/<split>``; link it when it lives elsewhere.

    kagglehub writes into our cache on the same disk, so this is a rename, not a 100 GB copy;
    inside a Kaggle notebook it returns a read-only mount, whose files are linked instead.
    """
    if final.is_symlink() or final.exists():
        old = cache / f"{final.name}.old"
        os.replace(final, old)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old)
        else:
            old.unlink()
    if path.resolve().is_relative_to(cache.resolve()):
        os.replace(path, final)
    else:
        staging = cache / f"{final.name}.links"
        shutil.rmtree(staging, ignore_errors=True)
        _link_tree(path, staging)
        os.replace(staging, final)


def kaggle_download(kagglehub: ModuleType, dest: Path, datasets: Mapping[str, str],
                    force: bool = False) -> None:
    """Download each Kaggle dataset with kagglehub into ``dest/neuronio/<split>``.

    kagglehub's cache is pointed at ``dest/.kagglehub-cache`` (outside ``neuronio/``, so a
    half-finished download is never taken for data) and removed once everything is in place.
    """
    root, cache = Path(dest) / "neuronio", Path(dest) / KAGGLE_CACHE
    root.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    previous = os.environ.get("KAGGLEHUB_CACHE")
    os.environ["KAGGLEHUB_CACHE"] = str(cache)
    try:
        for split, handle in datasets.items():
            final = root / split
            if final.exists() and not force:
                print(f"{final}: already there (--force downloads it again)")
                continue
            print(f"downloading {handle} with kagglehub into {final}")
            try:
                path = Path(kagglehub.dataset_download(handle, force_download=force))
            except Exception as err:  # kagglehub raises many kinds; all mean the same here
                raise FetchError(
                    f"{handle}: kagglehub could not download it ({type(err).__name__}: {err}).\n"
                    "  expected: the Kaggle dataset\n  got:      an error from Kaggle\n"
                    "Check your Kaggle credentials and network, run again (kagglehub resumes "
                    f"from {cache}), or follow the manual steps:\n" + manual_steps(dest, datasets)
                ) from err
            _move_into_place(path, final, cache)
    finally:
        if previous is None:
            os.environ.pop("KAGGLEHUB_CACHE", None)
        else:
            os.environ["KAGGLEHUB_CACHE"] = previous
    shutil.rmtree(cache, ignore_errors=True)


def check_neuronio(root: Path) -> str | None:
    """What :func:`elm.data.neuronio.discover` finds under `root`, or None (with the reason
    printed) when the layout is not there."""
    from elm.data import neuronio

    try:
        split = neuronio.discover(root)
    except neuronio.NeuronIODataError as err:
        print(f"elm.data.neuronio.discover: {err}")
        return None
    batches = sorted({p.parent.name for p in split.train})
    return (f"{len(split.train)} training files ({len(batches)} batch folders), "
            f"{len(split.valid)} validation files (full_ergodic_train_batch_1), "
            f"{len(split.test)} test files ({neuronio.TEST_FOLDER})")


def fetch_neuronio(dest: Path, *, datasets: Mapping[str, str] = KAGGLE_DATASETS,
                   force: bool = False) -> bool:
    """Download NeuronIO with kagglehub when possible, else print the manual steps; then check
    the layout with :func:`elm.data.neuronio.discover`. True when the layout is complete."""
    root = Path(dest) / "neuronio"
    report = None if force else (check_neuronio(root) if root.is_dir() else None)
    if report is None:
        kagglehub = _import_kagglehub()
        credentials = kaggle_credentials()
        if kagglehub is not None and credentials is not None:
            print(f"using kagglehub with the credentials from {credentials}")
            kaggle_download(kagglehub, dest, datasets, force)
        else:
            why = ("kagglehub is not installed" if kagglehub is None
                   else "no Kaggle credentials (KAGGLE_USERNAME/KAGGLE_KEY or kaggle.json)")
            print(f"Cannot download NeuronIO automatically: {why}.\n" + manual_steps(dest,
                                                                                     datasets))
        report = check_neuronio(root)
    if report is None:
        return False
    print(f"elm.data.neuronio.discover({root}): {report}")
    return True


# --------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    """The command line (``python -m elm.data.fetch --help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m elm.data.fetch",
        description="Fetch a full dataset, verified, into the folder layout the readers expect "
                    "(then: export ELM_DATA_DIR=DIR); " + HELP + ".")
    parser.add_argument("dataset", choices=("shd", "neuronio", "lra"))
    parser.add_argument("--dest", type=Path, default=None, metavar="DIR",
                        help="data folder (default: $ELM_DATA_DIR); files go to DIR/shd, "
                             "DIR/lra or DIR/neuronio")
    parser.add_argument("--mirror", metavar="URL",
                        help="base URL of a copy of the files (shd, lra); the file names stay")
    parser.add_argument("--force", action="store_true",
                        help="fetch again and replace what is already there")
    parser.add_argument("--keep-archives", action="store_true",
                        help="keep the downloaded .gz archives after unpacking")
    parser.add_argument("--retries", type=int, default=3, metavar="N",
                        help="resume an interrupted transfer up to N times (default 3)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--debug", action="store_true",
                        help="re-raise a failure with its traceback instead of the short message")
    return parser


def _run(args: argparse.Namespace, dest: Path, sources: Mapping[str, Source]) -> int:
    common = {"mirror": args.mirror, "force": args.force, "keep_archives": args.keep_archives,
              "attempts": args.retries + 1, "progress": not args.no_progress}
    if args.dataset == "shd":
        fetch_shd(dest, source=sources["shd"], **common)
    elif args.dataset == "lra":
        fetch_lra(dest, source=sources["lra"], **common)
    elif not fetch_neuronio(dest, force=args.force):
        print(f"error: NeuronIO is not in place under {dest / 'neuronio'} yet: follow the steps "
              "above, then run this command again to check.", file=sys.stderr)
        return EXIT_FAILED
    print(f"done: export ELM_DATA_DIR={dest.resolve()}")
    return EXIT_OK


def main(argv: list[str] | None = None, *, sources: Mapping[str, Source] = SOURCES) -> int:
    """Run the command; return the exit status (0 done, 1 failed, 2 usage, 130 interrupted).

    `sources` replaces the URL and checksum table (tests serve their own files).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: usage errors (2) and --help (0)
        return int(stop.code or 0)
    dest = args.dest or (Path(os.environ["ELM_DATA_DIR"]) if os.environ.get("ELM_DATA_DIR")
                         else None)
    usage = None
    if dest is None:
        usage = "--dest DIR is required (or set ELM_DATA_DIR)"
    elif args.mirror and args.dataset == "neuronio":
        usage = "--mirror does not apply to neuronio (Kaggle serves it)"
    elif args.mirror and urllib.parse.urlsplit(args.mirror).scheme not in ("http", "https",
                                                                            "file"):
        usage = f"--mirror must be an http(s):// or file:// URL, got {args.mirror!r}"
    elif args.retries < 0:
        usage = "--retries must be 0 or more"
    if usage:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {usage}", file=sys.stderr)
        return EXIT_USAGE
    assert dest is not None
    try:
        return _run(args, dest, sources)
    except FetchError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("\ninterrupted: run the same command again; downloads resume from their .part "
              "files", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:  # the file system refused (permissions, a full disk elsewhere, ...)
        if args.debug:
            raise
        where = err.filename or dest
        full = " (the disk is full: free some space or choose another --dest)" if (
            err.errno == errno.ENOSPC) else ""
        print(f"error: {where}: {err.strerror or err}{full}. Fix that and run the same command "
              "again (--debug shows the traceback).", file=sys.stderr)
    except Exception as err:  # a bug: still one message, the traceback on request
        if args.debug:
            raise
        print(f"error: unexpected {type(err).__name__}: {err}. Run again with --debug for the "
              "traceback, and report it.", file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
