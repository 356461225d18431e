"""The README's, chapter 7's and benchmarks/README.md's speed tables, rendered from the
committed benchmark JSONs.

No speed figure in this project is typed in by hand: ``benchmarks/recurrence.py --json`` and
``benchmarks/ensemble.py --json`` write a result with the machine, versions and load; this script
turns the first into the markdown table the README shows between the ``speed-table`` marker
comments (chapter 7 renders the same table from the same file when the book is built), and the
second into the table and readings ``benchmarks/README.md`` shows between the ``ensemble-table``
markers. Run from the repository root::

    python benchmarks/render.py                  # print the markdown of both
    python benchmarks/render.py --write          # put them into the READMEs between the markers
    python benchmarks/render.py --check          # exit 1 if a README differs from its JSON
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULT = REPO / "benchmarks" / "results" / "recurrence.json"
README = REPO / "README.md"
BEGIN = "<!-- speed-table:begin (rendered by python benchmarks/render.py --write; do not edit) -->"
END = "<!-- speed-table:end -->"
ENSEMBLE = REPO / "benchmarks" / "results" / "ensemble.json"
BENCHMARKS_README = REPO / "benchmarks" / "README.md"
ENSEMBLE_BEGIN = ("<!-- ensemble-table:begin (rendered by python benchmarks/render.py --write; "
                  "do not edit) -->")
ENSEMBLE_END = "<!-- ensemble-table:end -->"


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _x(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def malloc(data: dict) -> str:
    """Which shapes ran with which allocator (``elm.experiments.allocator``), from the rows."""
    modes: dict[str, list[str]] = {}
    for row in data["results"]:
        modes.setdefault(row.get("malloc", "system"), []).append(row["shape"])
    return "malloc: " + "; ".join(f"{mode} for {', '.join(rows)}" for mode, rows in modes.items())


def caption(data: dict) -> str:
    """Where and how the numbers were measured, from the JSON's machine record."""
    m = data["machine"]
    torch = "torch not installed"
    if m.get("torch"):
        threads = m["torch_threads"]
        if isinstance(threads, list):  # timed with each count, the fastest per shape shown
            torch = (f"torch {m['torch']} on the CPU, the fastest of "
                     f"{' and '.join(map(str, threads))} threads per shape")
        else:
            torch = f"torch {m['torch']} on the CPU, {threads} thread{'s' if threads != 1 else ''}"
    flags = f", {'/'.join(m['cpu_flags'])}" if m.get("cpu_flags") else ""
    return (f"`{data.get('command', 'python benchmarks/recurrence.py')}` on "
            f"{m.get('date', 'an unrecorded date')}: {m.get('device_kind', m['jax_backend'])} "
            f"({m['cpu']}, {m['cores']} cores{flags}), jax {m['jax']} on "
            f"{m['jax_backend']}, flax {m['flax']}, {torch}; {malloc(data)}; 1-min load average "
            f"{m['load_avg_1min_start']:.1f} at start, {m['load_avg_1min_end']:.1f} at end. "
            f"Median ms per training step (forward, backward, Adam, float32); speed-up = "
            f"other / this row. GFLOP/s: {data['flop_rule']}, share of "
            f"{data['peak_gflops']:g} GFLOP/s.")


def table_rows(data: dict) -> list[list[str]]:
    """One row per shape and input form (dense, and sparse where measured)."""
    rows = []
    for r in data["results"]:
        for mine, label in (("fast", "dense"), ("sparse", "sparse")):
            if r.get(mine) is None:
                continue
            sp = r["speedups"]
            torch = r.get("torch")
            judged = r.get("target_input", "dense") == label
            rows.append([
                r.get("model", r["shape"]), str(r["batch"]), str(r["seq_len"]),
                label + (" (targets)" if judged and r.get("sparse") else ""),
                _ms(r[mine]["median_ms"]), _ms(r["ref"]["median_ms"]),
                "n/a" if torch is None else _ms(torch["median_ms"])
                + (f" ({r['torch_threads']} thr.)" if "torch_threads" in r else ""),
                _x(sp.get(f"ref/{mine}")), _x(sp.get(f"torch/{mine}")),
                f"{r[mine + '_gflops']:.1f} ({100 * r[mine + '_peak_share']:.1f} %)",
            ])
    return rows


HEADER = ["shape", "B", "T", "input", "fast ms", "reference ms", "PyTorch loop ms",
          "ref / fast", "torch / fast", "fast GFLOP/s (share of peak)"]


def targets(data: dict) -> list[str]:
    """The benchmark's verdicts, one line each."""
    lines = []
    for r in data["results"]:
        for t in r["targets"]:
            got = _x(t["got"])
            lines.append(f"{r['shape']}, {t['target']}: {got}, {t['verdict']}")
    return lines


def formulations(data: dict) -> list[str]:
    """With ``--loops``: each formulation of the time loop on the dense input, one line a shape."""
    lines = []
    for r in data["results"]:
        loops = [k for k in r if k.startswith("loop_")]
        if loops:
            timed = ", ".join(f"{k[5:]} {_ms(r[k]['median_ms'])} ms"
                              + (" (auto)" if k[5:] == r["loop"] else "") for k in loops)
            auto = " (auto: fast is this step)" if r["loop"] == "reference" else ""
            lines.append(f"{r['shape']}: {timed}; reference {_ms(r['ref']['median_ms'])} ms{auto}")
    return lines


def markdown(data: dict) -> str:
    """The table, its caption, the formulations (if timed) and the targets, as markdown."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(data)]
    lines += ["", "*" + caption(data) + "*"]
    if formulations(data):
        lines += ["", "The time loop's formulations, forced with `model(X, loop=...)` (dense "
                  "input, median ms per step, same run):", ""]
        lines += [f"* {line}" for line in formulations(data)]
    lines += ["", "Targets of this run:", ""]
    lines += [f"* {line}" for line in targets(data)]
    return "\n".join(lines)


def ensemble_lines(rows: list[dict]) -> list[str]:
    """``benchmarks/ensemble.py``'s table: a header, a rule and one fixed-width line per row."""
    head = (f"{'shape':<9}{'K':>3}{'B':>3}{'T':>5}{'vmap ms':>10}{'seq ms':>10}"
            f"{'vmap smp/s':>12}{'seq smp/s':>11}{'vmap st/s':>11}{'seq st/s':>10}"
            f"{'speedup':>9}{'(min)':>7}{'(cpu)':>7}{'n':>4}{'load':>6}")
    return [head, "-" * len(head)] + [
        f"{r['shape']:<9}{r['K']:>3}{r['batch']:>3}{r['seq_len']:>5}"
        f"{r['vmap_ms']:>10.2f}{r['seq_ms']:>10.2f}"
        f"{r['vmap_samples_per_s']:>12.0f}{r['seq_samples_per_s']:>11.0f}"
        f"{r['vmap_member_steps_per_s']:>11.1f}{r['seq_member_steps_per_s']:>10.1f}"
        f"{r['speedup']:>8.2f}x{r['speedup_of_min']:>6.2f}x{r['speedup_cpu_time']:>6.2f}x"
        f"{r['repeats']:>4}{r['load_avg_1min']:>6.1f}" for r in rows]


def ensemble_readings(rows: list[dict], from_k: int = 4) -> list[str]:
    """Per shape, the CPU-time speedup of vmapping at ``K >= from_k`` (its range, and at the
    largest K): the column a shared machine can be read by."""
    lines = []
    for shape in dict.fromkeys(r["shape"] for r in rows):
        mine = [r for r in rows if r["shape"] == shape and r["K"] >= from_k]
        if not mine:
            continue
        cpu = [r["speedup_cpu_time"] for r in mine]
        last = max(mine, key=lambda r: r["K"])
        lines.append(f"{shape}: `cpu` speed-up {min(cpu):.2f}x-{max(cpu):.2f}x at K >= "
                     f"{from_k}, {last['speedup_cpu_time']:.2f}x at K = {last['K']}")
    return lines


def ensemble_markdown(data: dict) -> str:
    """The committed ensemble run: where it was measured, its table and the readings."""
    m = data["machine"]
    lines = [f"The committed run, `benchmarks/results/ensemble.json` (`python "
             f"benchmarks/ensemble.py --json benchmarks/results/ensemble.json` on "
             f"{m.get('date', 'an unrecorded date')}; {m['cpu']}, {m['cores']} cores, jax "
             f"{m['jax']} on {m['jax_backend']}, flax {m['flax']}; 1-minute load average "
             f"{m['load_avg_1min_start']:.1f} at start, {m['load_avg_1min_end']:.1f} at end), "
             "as the script prints it:", "", "```", *ensemble_lines(data["results"]), "```", "",
             "Readings of this run:", ""]
    return "\n".join(lines + [f"* {line}" for line in ensemble_readings(data["results"])])


def section(data: dict) -> str:
    return f"{BEGIN}\n{markdown(data)}\n{END}"


def ensemble_section(data: dict) -> str:
    return f"{ENSEMBLE_BEGIN}\n{ensemble_markdown(data)}\n{ENSEMBLE_END}"


def readme_section(text: str, begin: str = BEGIN, end: str = END) -> str:
    """A README's current rendered block between ``begin`` and ``end`` (markers included)."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise SystemExit(f"the README lacks the markers {begin!r} ... {end!r}")
    return text[start:stop + len(end)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=RESULT, help="recurrence result to render")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--ensemble-json", type=Path, default=ENSEMBLE,
                        help="ensemble result to render")
    parser.add_argument("--benchmarks-readme", type=Path, default=BENCHMARKS_README)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="update the READMEs' tables")
    group.add_argument("--check", action="store_true", help="fail if a README's table is stale")
    args = parser.parse_args(argv)
    data, ensemble = (json.loads(p.read_text()) for p in (args.json, args.ensemble_json))
    if not (args.write or args.check):
        print(markdown(data) + "\n\n" + ensemble_markdown(ensemble))
        return 0
    stale = 0
    for readme, source, rendered, (begin, end) in (
            (args.readme, args.json, section(data), (BEGIN, END)),
            (args.benchmarks_readme, args.ensemble_json, ensemble_section(ensemble),
             (ENSEMBLE_BEGIN, ENSEMBLE_END))):
        text = readme.read_text()
        current = readme_section(text, begin, end)
        if args.write:
            readme.write_text(text.replace(current, rendered))
        elif current != rendered:
            print(f"{readme}: the table differs from {source}; run "
                  "python benchmarks/render.py --write", file=sys.stderr)
            stale = 1
    return stale


if __name__ == "__main__":
    sys.exit(main())
