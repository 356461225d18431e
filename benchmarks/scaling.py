"""How does the cost of an ELM training step grow with sequence length, memory size and input width?

Times one training step (forward, backward, Adam) of the fast recurrence and of the per-step
reference (both :mod:`elm.recurrence`, jitted, same process, interleaved as in
``recurrence.py``) while one of three sizes varies and the others stay at a base point:

* ``T``: sequence length (the sequential part grows linearly in T for both);
* ``d_m``: memory units, with ``d_mlp = 2 d_m`` (the per-step work grows with ``d_m^2``);
* ``n_in``: input channels (the hoisted projection is where the fast path gains).

Each row also gives the analytic training FLOPs (3 x ``elm.count_flops`` x batch), so the
measured time can be read against the work. Run from the repository root::

    python benchmarks/scaling.py [--grid full|quick|smoke] [--json out.json]
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from recurrence import jax_train_step, machine, summarise, time_interleaved

import elm

BASE = {"T": 200, "d_m": 20, "n_in": 200}
BATCH = 8
N_OUT = 10
GRIDS = {
    "full": {"T": [50, 100, 200, 400, 800], "d_m": [5, 10, 20, 40, 80],
             "n_in": [25, 100, 400, 1600]},
    "quick": {"T": [50, 200, 800], "d_m": [5, 20, 80], "n_in": [25, 200, 1600]},
    "smoke": {"T": [20, 40], "d_m": [4, 8], "n_in": [16, 32]},  # seconds: checks the script runs
}


def bench_point(T: int, d_m: int, n_in: int, repeats: int, budget_s: float) -> dict:
    """Median step times of fast and reference at one size (synthetic Poisson spike counts)."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.poisson(0.05, (BATCH, T, n_in)).astype(np.float32))
    target = jnp.asarray(rng.integers(0, N_OUT, BATCH).astype(np.int32))
    config = elm.ELMConfig(n_in, N_OUT, d_m=d_m)
    steps = {}
    for name, reference in (("fast", False), ("ref", True)):
        step = jax_train_step(elm.ELM(config, rngs=nnx.Rngs(0)), "ce_last", reference)
        def run(step=step):
            return jax.block_until_ready(step(x, target))

        steps[name] = (run, run)
    times = time_interleaved(steps, repeats, budget_s)
    model = nnx.eval_shape(lambda: elm.ELM(config, rngs=nnx.Rngs(0)))
    row = {"T": T, "d_m": d_m, "n_in": n_in, "batch": BATCH, "params": elm.count_params(model),
           "train_flops": 3 * elm.count_flops(model, T) * BATCH}
    for name in ("fast", "ref"):
        row[name] = summarise(times[name])
    row["ref_over_fast"] = row["ref"]["median_ms"] / row["fast"]["median_ms"]
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full",
                        help="points per axis: full (5), quick (3, the book), smoke (2, tiny)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=5.0, help="timing budget per point")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    grids = GRIDS[args.grid]
    info = machine()
    rows = []
    for axis, values in grids.items():
        for value in values:
            sizes = {**BASE, axis: value}
            row = {"axis": axis, **bench_point(**sizes, repeats=args.repeats,
                                               budget_s=args.budget_s)}
            rows.append(row)
            print(f"{axis:5s} {value:6d}  fast {row['fast']['median_ms']:8.2f} ms  "
                  f"ref {row['ref']['median_ms']:8.2f} ms  ref/fast {row['ref_over_fast']:5.2f}x"
                  f"  {row['train_flops'] / 1e6:9.1f} MFLOP", flush=True)
    print(f"machine: {info['cpu']}, {info['cores']} cores, jax {info['jax']} "
          f"({info['jax_backend']}), batch {BATCH}, base point {BASE}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "base": BASE, "batch": BATCH, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
