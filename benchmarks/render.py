"""The README's and chapter 7's speed table, rendered from a committed benchmark JSON.

No speed figure in this project is typed in by hand: ``benchmarks/recurrence.py --json`` writes
a result with the machine, versions and load; this script turns it into the markdown table the
README shows between the ``speed-table`` marker comments, and chapter 7 renders the same table
from the same file when the book is built. Run from the repository root::

    python benchmarks/render.py                  # print the markdown
    python benchmarks/render.py --write          # put it into README.md between the markers
    python benchmarks/render.py --check          # exit 1 if README.md differs from the JSON
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


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _x(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


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
            f"{m['jax_backend']}, flax {m['flax']}, {torch}; 1-min load average "
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
            lines.append(f"{r['shape']}: {timed}; reference {_ms(r['ref']['median_ms'])} ms")
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


def section(data: dict) -> str:
    return f"{BEGIN}\n{markdown(data)}\n{END}"


def readme_section(text: str) -> str:
    """The README's current rendered block (markers included)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md lacks the markers {BEGIN!r} ... {END!r}")
    return text[start:end + len(END)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, default=RESULT, help="benchmark result to render")
    parser.add_argument("--readme", type=Path, default=README)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="update the README's table")
    group.add_argument("--check", action="store_true", help="fail if the README's table is stale")
    args = parser.parse_args(argv)
    data = json.loads(args.json.read_text())
    if not (args.write or args.check):
        print(markdown(data))
        return 0
    text = args.readme.read_text()
    current, rendered = readme_section(text), section(data)
    if args.check:
        if current != rendered:
            print(f"{args.readme}: the speed table differs from {args.json}; run "
                  "python benchmarks/render.py --write", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(text.replace(current, rendered))
    return 0


if __name__ == "__main__":
    sys.exit(main())
