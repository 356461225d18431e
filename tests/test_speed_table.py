"""The README's speed table is the committed benchmark JSON, rendered (no typed speed numbers)."""

from __future__ import annotations

import importlib.util
import json

from conftest import REPO


def load_render():
    spec = importlib.util.spec_from_file_location("render", REPO / "benchmarks" / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_speed_table_is_the_committed_json():
    render = load_render()
    data = json.loads(render.RESULT.read_text())
    readme = (REPO / "README.md").read_text()
    assert render.readme_section(readme) == render.section(data), (
        "README.md's speed table differs from benchmarks/results/recurrence.json; "
        "run python benchmarks/render.py --write")
    assert render.main(["--check"]) == 0


def test_committed_run_has_every_shape_with_torch_and_machine_record():
    data = json.loads(load_render().RESULT.read_text())
    assert {r["shape"] for r in data["results"]} == {"neuronio", "shd", "listops"}
    assert all(r["torch"] is not None for r in data["results"])
    for key in ("cpu", "cores", "jax", "device_kind", "load_avg_1min_start", "load_avg_1min_end"):
        assert key in data["machine"]


def test_benchmarks_readme_ensemble_table_is_the_committed_ensemble_json():
    """benchmarks/README.md prints the ensemble run's table: every row must be that JSON's."""
    data = json.loads((REPO / "benchmarks" / "results" / "ensemble.json").read_text())
    text = (REPO / "benchmarks" / "README.md").read_text()
    rows = {(r["shape"], r["K"]): r for r in data["results"]}
    shown = [line.split() for line in text.splitlines()
             if line.split()[:1] and line.split()[0] in {s for s, _ in rows}
             and len(line.split()) == 15]
    assert len(shown) == len(rows)
    for cells in shown:
        r = rows[(cells[0], int(cells[1]))]
        assert cells[4:6] == [f"{r['vmap_ms']:.2f}", f"{r['seq_ms']:.2f}"]
        assert cells[10:13] == [f"{r[k]:.2f}x" for k in ("speedup", "speedup_of_min",
                                                          "speedup_cpu_time")]
