"""Shared fixtures: where the real data samples for tests live.

Real data for tests lives in ``../shared/data`` next to the checkout (override with
``ELM_SHARED_DATA``); tests that need it skip with a clear reason when absent. Two real sets ship
with the repository (``data/elmneuron-pretrained/``, ``data/shd/``): their fixtures use the shared
copy when there is one and the repository's copy otherwise, so they run in a clean clone.
"""

from __future__ import annotations

import importlib.util
import lzma
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from elm.data import paths

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ELM_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def load_benchmark(monkeypatch) -> Callable[[str], ModuleType]:
    """A loader of the script ``benchmarks/<name>.py`` as a module, for this test only.

    ``benchmarks/`` is not a package: its folder joins ``sys.path`` (the scripts import their
    siblings) and the module ``sys.modules`` (its dataclasses look themselves up there).
    """
    def load(name: str) -> ModuleType:
        monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}",
                                                      REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)
        spec.loader.exec_module(module)
        return module
    return load


def shared_path(*parts: str) -> Path:
    """Path under the shared data folder, or skip the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not present (real samples live in ../shared/data; "
                    "set ELM_SHARED_DATA to point elsewhere)")
    return path


@pytest.fixture
def pretrained_dir() -> Path:
    """The released models: ``../shared/data/elmneuron-pretrained``, else the repository's copy."""
    shared = SHARED_DATA / "elmneuron-pretrained"
    return shared if shared.is_dir() else REPO / "data" / "elmneuron-pretrained"


@pytest.fixture(scope="session")
def shd_recordings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the 680 real recordings as plain ``shd_train.h5`` / ``shd_test.h5``:
    ``../shared/data/shd-lauscher``, else the repository's ``data/shd/*.h5.xz`` (the train file
    in pieces) unpacked here."""
    shared = SHARED_DATA / "shd-lauscher"
    if shared.is_dir():
        return shared
    folder = tmp_path_factory.mktemp("shd-lauscher")
    for name in ("shd_train.h5", "shd_test.h5"):
        packed = REPO / "data" / "shd" / f"{name}.xz"
        with lzma.open(paths.open_joined(packed)) as src, open(folder / name, "wb") as out:
            shutil.copyfileobj(src, out)
    return folder
