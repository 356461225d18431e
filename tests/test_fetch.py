"""elm.data.fetch against a local HTTP server on 127.0.0.1: verification, resume, failures, LRA
extraction and the NeuronIO paths. Nothing here reaches beyond this machine."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import types
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from elm.data import fetch, lra, shd
from elm.data.fetch import Item, Source, main

REPO = Path(__file__).resolve().parents[1]

# --------------------------------------------------------------------------------------------
# a local file server that can cut a transfer short, corrupt it, or ignore Range


class FileServer:
    """Serves `files` by name; records (path, Range header) of every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}  # name -> bytes to send before closing (once)
        self.corrupt: set[str] = set()
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.state = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def gets(self, name: str) -> list[str | None]:
        """The Range headers of the requests for `name`, in order."""
        return [rng for path, rng in self.requests if path == name]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        state: FileServer = self.server.state  # type: ignore[attr-defined]
        name = self.path.lstrip("/")
        rng = self.headers.get("Range")
        state.requests.append((name, rng))
        data = state.files.get(name)
        if data is None:
            self.send_error(404)
            return
        if name in state.corrupt:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        start = 0
        if rng and not state.ignore_range:
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = state.cut.pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy (requests must go straight to 127.0.0.1), no ELM_DATA_DIR, no Kaggle token."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY", "ELM_DATA_DIR", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLEHUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-config"))


def dead_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------------------------
# SHD fixtures: tiny files in the SHD h5 layout, gzipped


def _shd_h5(path: Path, n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(n):
            k = int(rng.integers(50, 200))
            times[i] = np.sort(rng.uniform(0, 1, k)).astype(np.float32)
            units[i] = rng.integers(0, 700, k).astype(np.uint16)
        f["labels"] = rng.integers(0, 20, n).astype(np.uint16)
        f["extra/speaker"] = np.zeros(n, np.uint16)
        f["extra/keys"] = np.array([f"digit-{i}".encode() for i in range(20)])
    return path.read_bytes()


@pytest.fixture(scope="module")
def shd_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """{'shd_train.h5': ..., 'shd_train.h5.gz': ..., 'shd_test.h5': ..., ...}"""
    folder = tmp_path_factory.mktemp("shd-fixture")
    out = {}
    for name, n, seed in (("shd_train.h5", 12, 0), ("shd_test.h5", 6, 1)):
        raw = _shd_h5(folder / name, n, seed)
        out[name] = raw
        out[name + ".gz"] = gzip.compress(raw, mtime=0)
    return out


def shd_source(base_url: str, files: dict[str, bytes]) -> Source:
    """A test-only checksum table for the fixture files."""
    return Source("shd", base_url, "shd", tuple(
        Item(f"{name}.gz", md5(files[f"{name}.gz"]), name, md5(files[name]))
        for name in (shd.TRAIN_FILE, shd.TEST_FILE)))


@pytest.fixture
def shd_server(server: FileServer, shd_files: dict[str, bytes]) -> FileServer:
    server.files.update({k: v for k, v in shd_files.items() if k.endswith(".gz")})
    return server


def run_shd(srv: FileServer, files: dict[str, bytes], dest: Path, *extra: str) -> int:
    return main(["shd", "--dest", str(dest), "--no-progress", *extra],
                sources={**fetch.SOURCES, "shd": shd_source(srv.url, files)})


def no_dataset_files(folder: Path) -> list[str]:
    """Whatever a reader could take for SHD data, or a leftover partial file."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith(("shd_train", "shd_test")))


# --------------------------------------------------------------------------------------------
# SHD


def test_tables_match_the_readers() -> None:
    """The fetcher writes the names the readers look for."""
    assert {i.unpacked for i in fetch.SHD_SOURCE.items} == {shd.TRAIN_FILE, shd.TEST_FILE}
    release_tasks = ("listops", "retrieval", "pathfinder", "pathfinder_x")
    assert fetch.LRA_FOLDERS == tuple(lra.FOLDERS[t][0] for t in release_tasks)


def test_shd_success_verifies_and_readers_find_it(
        shd_server: FileServer, shd_files: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "data"
    assert run_shd(shd_server, shd_files, dest) == 0
    folder = dest / "shd"
    assert sorted(p.name for p in folder.iterdir()) == ["shd_test.h5", "shd_train.h5"]
    for name in ("shd_train.h5", "shd_test.h5"):
        assert (folder / name).read_bytes() == shd_files[name]
    out = capsys.readouterr().out
    assert "md5 verified" in out and "elm.data.shd reads it" in out
    monkeypatch.setenv("ELM_DATA_DIR", str(dest))
    found, origin = shd.resolve_data_dir()
    assert found == folder and "12 train / 6 test" in origin
    # a second run checks what is there and downloads nothing
    n = len(shd_server.requests)
    assert run_shd(shd_server, shd_files, dest, "--keep-archives") == 0
    assert len(shd_server.requests) == n
    assert "already in place" in capsys.readouterr().out


def test_shd_keep_archives(shd_server: FileServer, shd_files: dict[str, bytes],
                           tmp_path: Path) -> None:
    assert run_shd(shd_server, shd_files, tmp_path, "--keep-archives") == 0
    assert (tmp_path / "shd" / "shd_train.h5.gz").read_bytes() == shd_files["shd_train.h5.gz"]


def test_corrupted_download_is_deleted(shd_server: FileServer, shd_files: dict[str, bytes],
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    shd_server.corrupt.add("shd_train.h5.gz")
    assert run_shd(shd_server, shd_files, tmp_path) == 1
    err = capsys.readouterr().err
    expected = md5(shd_files["shd_train.h5.gz"])
    assert "shd_train.h5.gz: md5 mismatch" in err
    assert f"expected: {expected}" in err and "got:      " in err
    assert "Run the same command again" in err and "Traceback" not in err
    assert no_dataset_files(tmp_path / "shd") == []  # no file, no stale .part


def test_pinned_checksums_reject_another_file(shd_server: FileServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """With the real table, a mirror serving other bytes fails on the pinned md5."""
    code = main(["shd", "--dest", str(tmp_path), "--mirror", shd_server.url, "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "expected: d47c9825dee33347913e8ce0f2be08b0" in err
    assert no_dataset_files(tmp_path / "shd") == []


def test_interrupted_transfer_resumes_within_the_run(
        shd_server: FileServer, shd_files: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    name = "shd_train.h5.gz"
    half = len(shd_files[name]) // 2
    shd_server.cut[name] = half
    fetch.fetch_shd(tmp_path, source=shd_source(shd_server.url, shd_files), retry_wait=0,
                    progress=False)
    assert shd_server.gets(name) == [None, f"bytes={half}-"]
    assert (tmp_path / "shd" / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]
    assert "transfer interrupted" in capsys.readouterr().err


def test_interrupted_transfer_resumes_on_the_next_run(
        shd_server: FileServer, shd_files: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    name = "shd_train.h5.gz"
    half = len(shd_files[name]) // 2
    shd_server.cut[name] = half
    assert run_shd(shd_server, shd_files, tmp_path, "--retries", "0") == 1
    err = capsys.readouterr().err
    assert "transfer broke off" in err and "resumes from there" in err
    part = tmp_path / "shd" / f"{name}.part"
    assert part.stat().st_size == half
    assert not (tmp_path / "shd" / name).exists()
    assert run_shd(shd_server, shd_files, tmp_path) == 0
    assert shd_server.gets(name)[-1] == f"bytes={half}-"
    assert (tmp_path / "shd" / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]
    assert not part.exists()


def test_server_ignoring_range_restarts(shd_server: FileServer, shd_files: dict[str, bytes],
                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    name = "shd_train.h5.gz"
    shd_server.ignore_range = True
    shd_server.cut[name] = 1000
    fetch.fetch_shd(tmp_path, source=shd_source(shd_server.url, shd_files), retry_wait=0,
                    progress=False)
    assert shd_server.gets(name) == [None, "bytes=1000-"]
    assert "ignores resume requests" in capsys.readouterr().err
    assert (tmp_path / "shd" / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]


def test_complete_part_file_is_accepted(shd_server: FileServer, shd_files: dict[str, bytes],
                                        tmp_path: Path) -> None:
    """A .part that is already whole (416 from the server) is verified, not fetched again."""
    name = "shd_train.h5.gz"
    (tmp_path / "shd").mkdir()
    (tmp_path / "shd" / f"{name}.part").write_bytes(shd_files[name])
    assert run_shd(shd_server, shd_files, tmp_path) == 0
    assert shd_server.gets(name) == [f"bytes={len(shd_files[name])}-"]


def test_overlong_part_file_starts_over(shd_server: FileServer, shd_files: dict[str, bytes],
                                        tmp_path: Path) -> None:
    """A .part longer than the file (416, another size): deleted and fetched from the start."""
    name = "shd_train.h5.gz"
    (tmp_path / "shd").mkdir()
    (tmp_path / "shd" / f"{name}.part").write_bytes(shd_files[name] + b"junk")
    fetch.fetch_shd(tmp_path, source=shd_source(shd_server.url, shd_files), retry_wait=0,
                    progress=False)
    assert shd_server.gets(name) == [f"bytes={len(shd_files[name]) + 4}-", None]
    assert (tmp_path / "shd" / "shd_train.h5").read_bytes() == shd_files["shd_train.h5"]


def test_file_mirror(shd_files: dict[str, bytes], tmp_path: Path) -> None:
    """--mirror file:///folder/ serves a local copy (no Range there: plain full reads)."""
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("shd_train.h5.gz", "shd_test.h5.gz"):
        (copy / name).write_bytes(shd_files[name])
    source = shd_source("https://unused.invalid/", shd_files)
    code = main(["shd", "--dest", str(tmp_path / "data"), "--mirror", copy.as_uri() + "/",
                 "--no-progress"], sources={"shd": source})
    assert code == 0
    assert (tmp_path / "data" / "shd" / "shd_test.h5").read_bytes() == shd_files["shd_test.h5"]


def test_dead_server(shd_files: dict[str, bytes], tmp_path: Path,
                     capsys: pytest.CaptureFixture[str]) -> None:
    source = shd_source(f"http://127.0.0.1:{dead_port()}/", shd_files)
    code = main(["shd", "--dest", str(tmp_path), "--no-progress"], sources={"shd": source})
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot reach the server" in err and "--mirror" in err and "Traceback" not in err
    assert no_dataset_files(tmp_path / "shd") == []


def test_http_error(server: FileServer, tmp_path: Path,
                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["shd", "--dest", str(tmp_path), "--mirror", server.url, "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "got:      404" in err and "directly under the URL" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_full_disk(shd_server: FileServer, shd_files: dict[str, bytes], tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:
    """A real ENOSPC: the .part file is a link to /dev/full."""
    (tmp_path / "shd").mkdir()
    (tmp_path / "shd" / "shd_train.h5.gz.part").symlink_to("/dev/full")
    assert run_shd(shd_server, shd_files, tmp_path) == 1
    err = capsys.readouterr().err
    assert "the disk is full" in err and "Free some space or choose another --dest" in err
    assert "Traceback" not in err
    assert not (tmp_path / "shd" / "shd_train.h5.gz").exists()
    assert not (tmp_path / "shd" / "shd_train.h5").exists()


def test_existing_different_file_needs_force(
        shd_server: FileServer, shd_files: dict[str, bytes], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "shd" / "shd_train.h5"
    mine.parent.mkdir()
    mine.write_bytes(b"my own recordings")
    assert run_shd(shd_server, shd_files, tmp_path) == 1
    assert "--force" in capsys.readouterr().err
    assert mine.read_bytes() == b"my own recordings"
    assert run_shd(shd_server, shd_files, tmp_path, "--force") == 0
    assert mine.read_bytes() == shd_files["shd_train.h5"]


# --------------------------------------------------------------------------------------------
# command line


@pytest.mark.parametrize("argv", [
    ["bogus", "--dest", "x"],
    ["shd"],  # no --dest and no ELM_DATA_DIR
    ["neuronio", "--dest", "x", "--mirror", "http://127.0.0.1/"],
    ["lra", "--dest", "x", "--mirror", "ftp://example.invalid/"],
    ["shd", "--dest", "x", "--retries", "-1"],
])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_script_entry_point(tmp_path: Path) -> None:
    """The ``__main__`` guard as a user meets it: exit status 1, one message, no traceback.

    Run as a script file (not ``-m``), so the subprocess need not import jax through
    ``elm/__init__``: the same code path, a few seconds less.
    """
    env = {**os.environ, "no_proxy": "127.0.0.1"}
    dead = subprocess.run([sys.executable, str(REPO / "elm" / "data" / "fetch.py"), "shd",
                           "--dest", str(tmp_path), "--mirror",
                           f"http://127.0.0.1:{dead_port()}/"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert dead.returncode == 1
    assert dead.stderr.startswith("error: http://127.0.0.1:") and "Traceback" not in dead.stderr


# --------------------------------------------------------------------------------------------
# LRA


def _tar(members: dict[str, bytes], symlinks: dict[str, str] | None = None,
         mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


def _pathfinder(prefix: str, difficulty: str, empty: bool = False) -> dict[str, bytes]:
    d = f"{prefix}/{difficulty}"
    lines = "imgs/0 sample_0.png 0 1 14 1.5 3\nimgs/0 sample_1.png 1 0 14 1.5 3\n"
    return {f"{d}/metadata/0.npy": lines.encode(), f"{d}/imgs/0/sample_0.png": b"\x89PNG...",
            f"{d}/imgs/0/sample_1.png": b"" if empty else b"\x89PNG..."}


R = "lra_release/lra_release"  # the release's own nesting
FAKE_RELEASE = {
    f"{R}/listops-1000/basic_train.tsv": b"Source\tTarget\n( [MAX 2 9 ] )\t9\n",
    f"{R}/listops-1000/basic_val.tsv": b"Source\tTarget\n( [MIN 2 9 ] )\t2\n",
    f"{R}/listops-1000/basic_test.tsv": b"Source\tTarget\n( [MIN 3 9 ] )\t3\n",
    **{f"{R}/tsv_data/new_aan_pairs.{s}.tsv": b"1\ta\tb\ttext one\ttext two\n"
       for s in ("train", "eval", "test")},
    **_pathfinder(f"{R}/pathfinder32", "curv_baseline"),
    **_pathfinder(f"{R}/pathfinder32", "curv_contour_length_14", empty=True),
    **_pathfinder(f"{R}/pathfinder128", "curv_contour_length_14"),
    **_pathfinder(f"{R}/pathfinder64", "curv_baseline"),  # not read by any task
    f"{R}/README.txt": b"not extracted",
}


def run_lra(srv: FileServer, dest: Path, *extra: str) -> int:
    return main(["lra", "--dest", str(dest), "--mirror", srv.url, "--no-progress", *extra])


@pytest.mark.parametrize("mode", ["w:gz", "w"])  # "w": a server that unpacks the gzip layer
def test_lra_extracts_only_the_task_folders(
        server: FileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    tarball = _tar(FAKE_RELEASE, symlinks={f"{R}/listops-1000/link": "/etc/passwd"}, mode=mode)
    server.files["lra_release.gz"] = tarball
    assert run_lra(server, tmp_path) == 0
    lra_dir = tmp_path / "lra"
    assert sorted(p.name for p in lra_dir.iterdir()) == sorted(
        [*fetch.LRA_FOLDERS, fetch.LRA_MANIFEST])  # archive removed, nothing else
    assert not (lra_dir / "listops-1000" / "link").exists()
    manifest = json.loads((lra_dir / fetch.LRA_MANIFEST).read_text())
    assert manifest["sha256"] == hashlib.sha256(tarball).hexdigest()
    assert manifest["bytes"] == len(tarball) and "no checksum" in manifest["note"]
    out = capsys.readouterr().out
    assert "curv_contour_length_14 1 images (1 empty, skipped)" in out
    assert "text: not in" in out and "image: not in" in out  # not part of the release
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path))
    folder, origin = lra.resolve_task_dir("listops")
    assert folder == lra_dir / "listops-1000" and origin.startswith("real data")
    assert lra.resolve_task_dir("retrieval")[0] == lra_dir / "tsv_data"
    # a second run finds everything and downloads nothing
    n = len(server.requests)
    assert run_lra(server, tmp_path) == 0
    assert len(server.requests) == n
    assert "already in place" in capsys.readouterr().out


@pytest.mark.parametrize("evil", ["../evil.txt", f"{R}/../../../evil.txt", "/tmp/elm-evil.txt"])
def test_lra_refuses_escaping_members(server: FileServer, tmp_path: Path, evil: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    server.files["lra_release.gz"] = _tar({**FAKE_RELEASE, evil: b"gotcha"})  # evil comes last
    dest = tmp_path / "data"
    assert run_lra(server, dest) == 1
    err = capsys.readouterr().err
    assert "outside the destination" in err and repr(evil) in err and "Traceback" not in err
    assert sorted(p.name for p in (dest / "lra").iterdir()) == []  # nothing, not even .part
    assert not (tmp_path / "evil.txt").exists() and not (dest / "evil.txt").exists()


def test_lra_not_the_release(server: FileServer, tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    server.files["lra_release.gz"] = b"this is not a tarball" * 10
    assert run_lra(server, tmp_path) == 1
    assert "cannot read it as a tar archive" in capsys.readouterr().err
    assert not any(p.name in fetch.LRA_FOLDERS for p in (tmp_path / "lra").iterdir())


# --------------------------------------------------------------------------------------------
# NeuronIO


def _sim_folder(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "exBas_0_1000_inhBasDiff_-800_600__sim__0.p").write_bytes(b"")


def _neuronio_layout(root: Path) -> None:
    for batch in (1, 2, 3):
        _sim_folder(root / "train" / f"full_ergodic_train_batch_{batch}")
    _sim_folder(root / "test" / "Data_test")


@pytest.mark.parametrize("has_kagglehub", [False, True])
def test_neuronio_manual_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str], has_kagglehub: bool) -> None:
    """Without kagglehub or without credentials: the exact steps, then the layout check."""
    fake = types.ModuleType("kagglehub")
    fake.dataset_download = lambda *a, **k: pytest.fail("must not download")  # type: ignore
    monkeypatch.setitem(sys.modules, "kagglehub", fake if has_kagglehub else None)
    dest = tmp_path / "data"
    assert main(["neuronio", "--dest", str(dest)]) == 1
    out, err = capsys.readouterr()
    why = "no Kaggle credentials" if has_kagglehub else "kagglehub is not installed"
    assert why in out
    root = dest.resolve() / "neuronio"
    for split, handle in fetch.KAGGLE_DATASETS.items():
        assert f"https://www.kaggle.com/datasets/{handle}" in out
        assert f"kaggle datasets download -d {handle} -p {root / split} --unzip" in out
    assert "elm.data.neuronio.discover" in out and "not in place" in err
    _neuronio_layout(root)
    assert main(["neuronio", "--dest", str(dest)]) == 0
    assert ("2 training files (2 batch folders), 1 validation files "
            "(full_ergodic_train_batch_1), 1 test files (Data_test)") in capsys.readouterr().out


def test_neuronio_with_kagglehub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """With kagglehub and credentials: both datasets end up in neuronio/{train,test} (moved
    from the cache, or linked from a read-only mount)."""
    calls = []

    def dataset_download(handle: str, path: str | None = None,
                         force_download: bool = False) -> str:
        calls.append(handle)
        version = Path(os.environ["KAGGLEHUB_CACHE"]) / "datasets" / handle / "versions" / "1"
        if handle.endswith("train-data"):
            for batch in (1, 2, 3):
                _sim_folder(version / f"full_ergodic_train_batch_{batch}")
            return str(version)
        mount = tmp_path / "read-only-mount"  # as in a Kaggle notebook: outside the cache
        _sim_folder(mount / "Data_test")
        return str(mount)

    fake = types.ModuleType("kagglehub")
    fake.dataset_download = dataset_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    assert main(["neuronio", "--dest", str(tmp_path)]) == 0
    assert calls == list(fetch.KAGGLE_DATASETS.values())
    assert (tmp_path / "neuronio" / "train" / "full_ergodic_train_batch_1").is_dir()
    linked = tmp_path / "neuronio" / "test" / "Data_test"  # real folders, linked files
    assert linked.is_dir() and not linked.is_symlink()
    assert all(p.is_symlink() for p in linked.iterdir())
    assert not (tmp_path / fetch.KAGGLE_CACHE).exists()
    assert "KAGGLEHUB_CACHE" not in os.environ
    assert "2 training files" in capsys.readouterr().out
