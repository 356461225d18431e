"""The README's speed table is the committed benchmark JSON, rendered (no typed speed numbers)."""

from __future__ import annotations

import json

from conftest import REPO


def test_readme_speed_table_is_the_committed_json(load_benchmark):
    render = load_benchmark("render")
    data = json.loads(render.RESULT.read_text())
    readme = (REPO / "README.md").read_text()
    assert render.readme_section(readme) == render.section(data), (
        "README.md's speed table differs from benchmarks/results/recurrence.json; "
        "run python benchmarks/render.py --write")
    assert render.main(["--check"]) == 0


def test_committed_run_has_every_shape_with_torch_and_machine_record(load_benchmark):
    data = json.loads(load_benchmark("render").RESULT.read_text())
    assert {r["shape"] for r in data["results"]} == {"neuronio", "shd", "listops"}
    assert all(r["torch"] is not None for r in data["results"])
    for key in ("cpu", "cores", "jax", "device_kind", "load_avg_1min_start", "load_avg_1min_end"):
        assert key in data["machine"]


def test_benchmarks_readme_ensemble_table_is_the_committed_ensemble_json(load_benchmark):
    """benchmarks/README.md's ensemble table and readings are rendered from that JSON."""
    render = load_benchmark("render")
    data = json.loads(render.ENSEMBLE.read_text())
    text = render.BENCHMARKS_README.read_text()
    assert render.readme_section(text, render.ENSEMBLE_BEGIN, render.ENSEMBLE_END) == (
        render.ensemble_section(data)), "run python benchmarks/render.py --write"
    rows = {(r["shape"], r["K"]): r for r in data["results"]}
    shown = [line.split() for line in render.ensemble_lines(data["results"])[2:]]
    assert len(shown) == len(rows)
    for cells in shown:
        r = rows[(cells[0], int(cells[1]))]
        assert cells[4:6] == [f"{r['vmap_ms']:.2f}", f"{r['seq_ms']:.2f}"]
        assert cells[10:13] == [f"{r[k]:.2f}x" for k in ("speedup", "speedup_of_min",
                                                          "speedup_cpu_time")]


def test_ensemble_readings_give_the_cpu_speedup_range_from_k_4(load_benchmark):
    render = load_benchmark("render")
    rows = [{"shape": "tiny", "K": k, "speedup_cpu_time": v}
            for k, v in ((1, 0.5), (4, 2.0), (8, 1.5), (16, 3.0))]
    assert render.ensemble_readings(rows) == [
        "tiny: `cpu` speed-up 1.50x-3.00x at K >= 4, 3.00x at K = 16"]


def test_caption_says_which_allocator_each_row_ran_with(load_benchmark):
    render = load_benchmark("render")
    rows = [{"shape": "neuronio", "malloc": "system"}, {"shape": "shd"},
            {"shape": "listops", "malloc": "kept buffers (glibc tunables)"}]
    assert render.malloc({"results": rows}) == (
        "malloc: system for neuronio, shd; kept buffers (glibc tunables) for listops")
