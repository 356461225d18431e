"""Every chapter executes at smoke scale, and the whole book builds cleanly at demo scale.

These are the slow tests (minutes): they run the notebooks exactly as readers and batch runners
do, through papermill and Jupyter Book, so a chapter that breaks fails CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(REPO) for p in (REPO / "book").rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)


def toc_files() -> list[str]:
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]]
    for chapter in toc.get("chapters", []):
        files.append(chapter["file"])
        files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def test_every_notebook_is_committed_without_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(REPO / path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs, f"{path}: strip outputs before committing"
                assert cell.execution_count is None, f"{path}: clear execution counts"


def test_every_notebook_has_a_parameters_cell_with_scale_and_data_dir():
    for path in NOTEBOOKS:
        nb = nbformat.read(REPO / path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{path}: needs exactly one cell tagged 'parameters'"
        assert "scale" in tagged[0].source and "data_dir" in tagged[0].source, path


def test_toc_lists_every_chapter():
    listed = set(toc_files())
    for path in NOTEBOOKS:
        if path.parts[1] != "runs":  # run notebooks are executed by papermill, not the book
            assert str(path.with_suffix("")) in listed, f"{path} is missing from _toc.yml"


@pytest.mark.slow
@pytest.mark.parametrize("path", [str(p) for p in NOTEBOOKS])
def test_notebook_runs_at_smoke_scale(path, tmp_path):
    parameters = {"scale": "smoke"}
    nb = nbformat.read(REPO / path, as_version=4)
    (cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if "out_dir" in cell.source:  # notebooks that write to a results store: keep it here
        parameters["out_dir"] = str(tmp_path / "results")
    papermill.execute_notebook(
        str(REPO / path),
        str(tmp_path / Path(path).name),
        parameters=parameters,
        cwd=str((REPO / path).parent),
        kernel_name="python3",
        progress_bar=False,
    )


@pytest.mark.slow
def test_chapter_1_without_the_released_models_stops_naming_the_folder(tmp_path):
    """Chapter 1's sections 5, 9 and its summary state what the released models show; without
    them the chapter must not run on and claim it: it stops at set-up, naming what is missing."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        papermill.execute_notebook(
            str(REPO / "book" / "01_elm_step_by_step.ipynb"), str(tmp_path / "01.ipynb"),
            parameters={"scale": "smoke", "pretrained_dir": str(empty)},
            cwd=str(REPO / "book"), kernel_name="python3", progress_bar=False,
        )
    assert failure.value.ename == "FileNotFoundError"
    assert "no released models here" in failure.value.evalue
    assert str(empty) in failure.value.evalue


@pytest.mark.slow
def test_shd_chapter_runs_on_real_spike_recordings(tmp_path, monkeypatch):
    """The SHD chapter on the real Heidelberg Digits recordings shipped in data/shd/ (passed as
    data_dir, as a reader's real SHD would be; smoke alone would use the stand-in), so the
    reader of the compressed files, the pairs and every figure see real data."""
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    out = tmp_path / "05.ipynb"
    papermill.execute_notebook(
        str(REPO / "book" / "05_remembering_digits.ipynb"), str(out),
        parameters={"scale": "smoke", "out_dir": str(tmp_path / "results"),
                    "data_dir": str(REPO / "data" / "shd")},
        cwd=str(REPO / "book"), kernel_name="python3", progress_bar=False,
    )
    outputs = "\n".join(str(o) for cell in nbformat.read(out, as_version=4).cells
                        for o in cell.get("outputs", []))
    assert ("real Heidelberg Digits recordings (680, lauscher-encoded subset; not the official "
            "SHD)") in outputs and "stand-in, generated" not in outputs  # provenance of records
    assert str(REPO / "data") not in outputs  # captions name the data, not a folder


@pytest.mark.slow
def test_book_builds_clean_with_warnings_as_errors(tmp_path):
    """``jupyter-book build -W`` from an empty build folder, at the book's default (demo) scale."""
    out = tmp_path / "book"
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or "jupyter-book"
    # a fresh results store and figure folder: the build trains every demo run itself and
    # leaves the checkout's data/results and figures/ alone
    env = {**os.environ, "ELM_RESULTS_DIR": str(tmp_path / "results"),
           "ELM_FIGURES_DIR": str(tmp_path / "figures")}
    result = subprocess.run(
        [jb, "build", "-W", "-n", "--keep-going", "--path-output", str(out), str(REPO)],
        capture_output=True, text=True, timeout=2400, env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    html = out / "_build" / "html"
    for name in toc_files():
        assert (html / f"{name}.html").is_file(), f"{name}.html not rendered"
    # every page as a reader sees it, offline, in headless Chromium (tests/browser_check.py)
    import browser_check

    reason = browser_check.skip_reason()
    if reason:
        pytest.skip(f"book built; browser check skipped: {reason}")
    problems = browser_check.check_pages(html)  # no browser: BrowserMissing fails the test
    assert not problems, "the browser check found:\n" + "\n".join(problems)
