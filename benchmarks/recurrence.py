"""How much faster is the fast ELM recurrence? A training-step benchmark at the paper's shapes.

Times one full training step (forward, backward, Adam update) of these implementations of the
same neuron, in the same process, on the same inputs:

* ``fast``: ``model(X)``, the fast recurrence of :mod:`elm.recurrence` on the dense input,
  under ``nnx.jit``;
* ``sparse``: ``model(elm.sparse_input(X))``, the same with the input given as its non-zero
  entries (made on the host once per batch, outside the timed step; its cost is reported apart);
  at the spiking shapes only;
* ``ref``: ``model(X, reference=True)``, the per-step reference loop, under ``nnx.jit``;
* ``torch``: an eager per-time-step PyTorch loop (``benchmarks/torch_elm.py``), the way the
  released code runs the model; skipped (``n/a``) when torch is not installed;
* with ``--loops``: ``fast`` with each formulation of the time loop forced
  (``model(X, loop=...)``, :data:`elm.recurrence.LOOPS`), to show what ``loop="auto"`` chose from.

Where ``loop="auto"`` runs the per-step loop itself (narrow inputs, ListOps), ``fast`` and
``ref`` are one compiled step, timed once under ``ref``.

Speed claims in this project are ratios against a straightforward per-step implementation
measured here, never absolute timings from unit tests. The project's
targets are printed with PASS/FAIL. Each shape is timed with the allocator its runs train with
(:func:`elm.experiments.allocator.for_run`): ListOps, an LRA shape at the paper's scale, in a
child process whose ``malloc`` keeps large buffers between steps (JAX's and torch's alike); the
others in this process, with glibc's defaults. ``ELM_MALLOC=system`` times every shape with the
defaults; each JSON row's ``malloc`` says which. Run from the repository root::

    python benchmarks/recurrence.py [--shapes neuronio,shd,listops] [--json out.json]
    python benchmarks/render.py --write   # README's and chapter 7's table from the committed JSON
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import elm
from elm.experiments import allocator, configs

HAS_TORCH = importlib.util.find_spec("torch") is not None
if HAS_TORCH:
    import torch
    import torch_elm  # benchmarks/ is on sys.path when this file runs as a script

LEARNING_RATE = 1e-3
TORCH_WARMUP_STEPS = 50  # time steps of torch's warm-up call: its per-step shapes ignore T
MIN_REPEATS = 3  # a median needs a few samples even when one step takes seconds
FLOP_RULE = "training step = 3 x forward FLOPs; forward = elm.count_flops(model, T) * B"
CHECK_BATCH = 8  # samples used by the torch-vs-JAX equivalence check (full sequence length)
CHECK_TOL = 1e-4  # float32 tolerance of that check (absolute and relative)
#: Untimed steps, back to back for at least this long (one at least), before each timed step
#: (``time_interleaved``): the timed step then runs as in a training loop's steady state.
SETTLE_S = 0.05
#: Steps at least this long are timed without settling (ListOps: seconds per step).
SETTLE_BELOW_S = 1.0


@dataclass(frozen=True)
class Shape:
    """One benchmark shape: a model, a batch of synthetic inputs, a loss and its speed targets.

    ``min_vs_ref`` / ``min_vs_torch`` are the required speedups ``t_other / t_fast`` (None: no
    target). ``sparse``: also time the sparse-input path; ``target_input``: which input form
    ("dense" or "sparse") the targets are judged on, the one the task's training loop feeds.
    """

    name: str
    model: str  # what the model is, for tables
    experiment: str  # the paper-scale runs this shape stands for (their allocator, see main)
    config: elm.ELMConfig
    batch: int
    seq_len: int
    loss: str  # "mse": every step and output; "ce_last": cross-entropy of the last step's logits
    inputs: str  # how the synthetic inputs look, for the printout
    min_vs_ref: float | None
    min_vs_torch: float | None
    sparse: bool = False
    target_input: str = "dense"


SHAPES = {
    "neuronio": Shape(
        "neuronio", "NeuronIO Branch-ELM (1278 in, d_m 20, 45 branches x 100)",
        "neuronio/branch-elm/released",
        configs.get("neuronio/branch-elm/released").elm_config(),  # num_memory_20
        batch=8, seq_len=500, loss="mse",
        inputs="ternary spikes, 1% density, +1 first half / -1 second half of the channels",
        min_vs_ref=10.0, min_vs_torch=30.0, sparse=True, target_input="sparse",
    ),
    "shd": Shape(
        "shd", "SHD ELM (700 in, d_m 100, 19 out)", "shd/elm/paper",
        elm.ELMConfig(700, 19, d_m=100),
        batch=8, seq_len=200, loss="ce_last",
        inputs="spike counts, Poisson with mean 0.05 per channel and bin",
        min_vs_ref=3.0, min_vs_torch=5.0, sparse=True,
    ),
    "listops": Shape(
        "listops", "ListOps ELM (25 in, d_m 150, 10 out)", "lra/listops/elm/paper",
        elm.ELMConfig(25, 10, d_m=150),
        batch=384, seq_len=2000, loss="ce_last",
        inputs="one-hot tokens, uniform over the 25 symbols",
        min_vs_ref=1.0, min_vs_torch=1.2,
    ),
}


def make_batch(shape: Shape, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic inputs ``(B, T, inputs)`` float32 and targets with the statistics of the task.

    Speed depends on shapes, not on values, but the values keep the loss finite and the
    equivalence check meaningful (sparse inputs, as the real datasets).
    """
    rng = np.random.default_rng(seed)
    n_in, n_out = shape.config.num_input, shape.config.num_output
    b, t = shape.batch, shape.seq_len
    if shape.name == "neuronio":
        sign = np.where(np.arange(n_in) < n_in // 2, 1.0, -1.0)
        x = (rng.random((b, t, n_in)) < 0.01) * sign
        target = rng.standard_normal((b, t, n_out))
    elif shape.name == "shd":
        x = rng.poisson(0.05, (b, t, n_in))
        target = rng.integers(0, n_out, b)
    else:
        x = np.eye(n_in)[rng.integers(0, n_in, (b, t))]
        target = rng.integers(0, n_out, b)
    return x.astype(np.float32), target.astype(np.float32 if shape.loss == "mse" else np.int32)


def jax_loss(kind: str, y: jax.Array, target: jax.Array) -> jax.Array:
    """MSE over every step and output, or softmax cross-entropy of the last step's outputs."""
    if kind == "mse":
        return jnp.mean((y - target) ** 2)
    return optax.softmax_cross_entropy_with_integer_labels(y[:, -1], target).mean()


def torch_loss(kind: str, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The same losses as :func:`jax_loss`, in torch."""
    if kind == "mse":
        return torch.mean((y - target) ** 2)
    return torch.nn.functional.cross_entropy(y[:, -1], target)


def jax_train_step(
    model: elm.ELM, kind: str, reference: bool, loop: str = "auto"
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A jitted step (forward, backward, Adam update) of ``model``, as a training loop runs it.

    ``nnx.cached_partial`` binds the model and optimizer once, so each call skips re-walking
    the module graph (about a millisecond of Python per call, 5% of a NeuronIO step). ``x`` may
    be an array or an :class:`elm.SparseInput`; ``loop`` picks the fast path's formulation.
    """
    optimizer = nnx.Optimizer(model, optax.adam(LEARNING_RATE), wrt=nnx.Param)

    @nnx.jit
    def step(model: elm.ELM, optimizer: nnx.Optimizer, x, target: jax.Array):
        def loss_of(model: elm.ELM) -> jax.Array:
            return jax_loss(kind, model(x, reference=reference, loop=loop), target)

        loss, grads = nnx.value_and_grad(loss_of)(model)
        optimizer.update(model, grads)
        return loss

    return nnx.cached_partial(step, model, optimizer)


def time_interleaved(
    steps: dict[str, tuple[Callable[[], object], Callable[[], object]]],
    repeats: int,
    budget_s: float,
) -> dict[str, list[float]]:
    """Seconds per call of each ``(warm_up, step)`` pair's step, timed round-robin.

    Each ``warm_up`` runs once, untimed, first (JAX: compilation). Other processes share this
    2-core machine; interleaving the implementations makes a busy spell slow all of them alike
    instead of one, which keeps the ratios honest. Stops after ``repeats`` rounds, or earlier
    once ``budget_s`` is spent and at least :data:`MIN_REPEATS` rounds are timed (ListOps steps
    take seconds). Each round starts one implementation later than the one before, so that
    none always runs right after the same other one (after the torch ListOps step frees ~9 GB,
    the next step's fresh memory pages are slow to fault in on this virtual machine).

    In each round an implementation first runs untimed steps, back to back, for
    :data:`SETTLE_S` (one at least); then one step is timed. Why: a training loop runs one
    implementation step after step, and a step that follows another implementation, or an
    idle pause, is not in that state. Torch's OpenMP workers and XLA's worker threads keep
    spinning for a while after a step returns and take a core from whatever runs next, and
    after an idle pause the sleeping worker threads (and, on a virtual machine, the idle
    virtual cores) must wake up first. Both cost a short step a large fraction of its time.
    Steps of :data:`SETTLE_BELOW_S` or longer (ListOps) are timed without settling: the switch
    is negligible there, and settling would double the run.
    """
    duration = {}
    for name, (warm_up, step) in steps.items():
        warm_up()
        t0 = time.perf_counter()
        step()  # untimed: how long one step takes once compiled, to decide on settling
        duration[name] = time.perf_counter() - t0
    times: dict[str, list[float]] = {name: [] for name in steps}
    start = time.perf_counter()
    for done in range(repeats):
        if done >= MIN_REPEATS and time.perf_counter() - start > budget_s:
            break
        names = list(steps)
        for name in names[done % len(names):] + names[:done % len(names)]:  # rotate the order
            step = steps[name][1]
            if duration[name] < SETTLE_BELOW_S:
                settled = time.perf_counter() + SETTLE_S
                step()
                while time.perf_counter() < settled:
                    step()
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return times


def check_torch_matches(model: elm.ELM, module: torch_elm.TorchELM, x: np.ndarray) -> float:
    """Assert that the torch loop and the fast JAX model give the same outputs; return the error.

    Run once before timing, so the comparison is between two implementations of one function.
    """
    x = x[:CHECK_BATCH]
    with jax.default_matmul_precision("highest"):  # full float32 on accelerators too (no TF32)
        y_jax = np.asarray(nnx.jit(lambda m, x: m(x))(model, jnp.asarray(x)))
    with torch.no_grad():
        y_torch = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y_torch, y_jax, rtol=CHECK_TOL, atol=CHECK_TOL,
                               err_msg="torch loop and fast JAX model disagree")
    return float(np.max(np.abs(y_torch - y_jax)))


def summarise(times: list[float] | None) -> dict | None:
    """Median (the reported number), min, max and count of step times, in milliseconds."""
    if times is None:
        return None
    ms = [1e3 * t for t in times]
    return {"median_ms": statistics.median(ms), "min_ms": min(ms), "max_ms": max(ms),
            "repeats": len(ms)}


def host_sparse_ms(x_np: np.ndarray, repeats: int = 5) -> float:
    """Median ms of :func:`elm.sparse_input` on one batch: the host-side cost of the sparse path.

    A training loop pays it per batch in its data pipeline (``WindowSampler(sparse=True)`` does
    it in its loader thread), not inside the jitted step, so it is reported apart.
    """
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        elm.sparse_input(x_np)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def threaded(n: int, step: Callable[[], object]) -> Callable[[], object]:
    """``step`` run with ``n`` torch threads (set before every call: the counts alternate)."""
    def run() -> object:
        torch.set_num_threads(n)
        return step()
    return run


def bench_shape(shape: Shape, repeats: int, budget_s: float, peak_gflops: float,
                loops: bool = False, torch_threads: tuple[int, ...] = (1,)) -> dict:
    """Time the implementations at ``shape`` and derive speedups, FLOP/s and verdicts."""
    x_np, target_np = make_batch(shape)
    x, target = jnp.asarray(x_np), jnp.asarray(target_np)
    model_fast = elm.ELM(shape.config, rngs=nnx.Rngs(0))
    row: dict = {"shape": shape.name, "model": shape.model, "batch": shape.batch,
                 "seq_len": shape.seq_len,
                 "loss": shape.loss, "inputs": shape.inputs, "params": elm.count_params(model_fast),
                 "loop": elm.recurrence.choose_loop(shape.config.num_input, shape.config.hidden),
                 "target_input": shape.target_input, "density": float(np.mean(x_np != 0))}

    if HAS_TORCH:  # copy weights before any training step changes them
        module = torch_elm.TorchELM(model_fast)
        row["torch_check_max_abs_err"] = check_torch_matches(model_fast, module, x_np)

    def jax_step(reference: bool = False, loop: str = "auto", inputs=x):
        model = elm.ELM(shape.config, rngs=nnx.Rngs(0))
        step = jax_train_step(model, shape.loss, reference=reference, loop=loop)
        run = lambda: jax.block_until_ready(step(inputs, target))  # noqa: E731
        return run, run

    # where "auto" dispatches to the per-step loop, fast and ref are one compiled step: timed once
    same_as_ref = row["loop"] == "reference"
    steps = {} if same_as_ref else {"fast": jax_step()}
    if shape.sparse:
        sparse = elm.sparse_input(x_np)
        row["sparse_capacity"] = sparse.capacity
        row["nonzeros"] = int(np.count_nonzero(x_np))
        row["host_sparse_ms"] = host_sparse_ms(x_np)
        steps["sparse"] = jax_step(inputs=sparse)
    steps["ref"] = jax_step(reference=True)
    if loops:
        wide = shape.config.num_input > shape.config.hidden
        for loop in elm.recurrence.LOOPS[1:]:
            # hoisting a narrow input only inflates the arrays; the auto loop is "fast" itself
            if (wide or loop != "hoisted") and loop not in (row["loop"], "reference"):
                steps[f"loop_{loop}"] = jax_step(loop=loop)
    if HAS_TORCH:
        x_t, target_t = torch.from_numpy(x_np), torch.from_numpy(target_np)
        if shape.loss == "ce_last":
            target_t = target_t.long()
        torch_step = torch_elm.make_train_step(
            module, lambda y, t: torch_loss(shape.loss, y, t), LEARNING_RATE
        )
        # eager torch compiles nothing: a short sequence warms the allocator and Adam's state
        short = slice(None, TORCH_WARMUP_STEPS)
        target_short = target_t[:, short] if shape.loss == "mse" else target_t
        for n in torch_threads:  # each count warmed and timed in the same rounds
            steps[f"torch_{n}"] = (threaded(n, lambda: torch_step(x_t[:, short], target_short)),
                                   threaded(n, lambda: torch_step(x_t, target_t)))
    times = time_interleaved(steps, repeats, budget_s)
    for name in steps:
        if not name.startswith("torch_"):
            row[name] = summarise(times[name])
    if same_as_ref:
        row["fast"] = row["ref"]
    if loops and not same_as_ref:
        row[f"loop_{row['loop']}"] = row["fast"]  # the same compiled step, timed once
    row["torch"] = None
    if HAS_TORCH:
        # the baseline at its own best: few threads win on tiny per-step ops, all cores on the
        # large matmuls of ListOps
        by_threads = {n: summarise(times[f"torch_{n}"]) for n in torch_threads}
        best = min(by_threads, key=lambda n: by_threads[n]["median_ms"])
        row["torch"], row["torch_threads"] = by_threads[best], best
        row["torch_by_threads"] = {str(n): t for n, t in by_threads.items()}
    row.setdefault("sparse", None)

    train_flops = 3 * elm.count_flops(model_fast, shape.seq_len) * shape.batch
    row["train_flops"] = train_flops
    row["speedups"] = {}
    for mine in ("fast", "sparse"):
        if row[mine] is None:
            continue
        t_mine = row[mine]["median_ms"]
        for other in ("ref", "torch"):
            if row[other] is not None:
                row["speedups"][f"{other}/{mine}"] = row[other]["median_ms"] / t_mine
        row[f"{mine}_gflops"] = train_flops / (t_mine * 1e-3) / 1e9
        row[f"{mine}_peak_share"] = row[f"{mine}_gflops"] / peak_gflops
    judged = "sparse" if shape.target_input == "sparse" else "fast"
    label = {"fast": "dense", "sparse": "sparse"}

    def verdict(mine: str, other: str, need: float) -> dict:
        got = row["speedups"].get(f"{other}/{mine}")
        return {"target": f"{label[mine]} input: fast >= {need:g}x {other}", "need": need,
                "got": got, "verdict": "n/a" if got is None else "PASS" if got >= need else "FAIL"}

    row["targets"] = [verdict(judged, other, need)
                      for other, need in (("ref", shape.min_vs_ref), ("torch", shape.min_vs_torch))
                      if need is not None]
    if judged != "fast":  # model(X) on the dense input is never slower than the reference either
        row["targets"].append(verdict("fast", "ref", 1.0))
    return row


def cpu_info() -> tuple[str, list[str]]:
    """The CPU's model name and which of its vector extensions matter for matmul speed."""
    cpu, flags = platform.processor() or "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        present = next(line.split(":", 1)[1].split() for line in lines if line.startswith("flags"))
        flags = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16") if f in present]
    except (OSError, StopIteration):
        pass
    return cpu, flags


def machine() -> dict:
    """What the numbers were measured on: device, CPU, cores, load and library versions."""
    cpu, flags = cpu_info()
    device = jax.config.jax_default_device or jax.devices()[0]
    return {
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count(),
        "load_avg_1min_start": os.getloadavg()[0],
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "device": f"{device.platform}:{device.id}",
        "device_kind": device.device_kind,
        "matmul_precision": jax.config.jax_default_matmul_precision or "default",
        "flax": importlib.metadata.version("flax"),
        "optax": optax.__version__,
        "torch": torch.__version__ if HAS_TORCH else None,
        "date": time.strftime("%Y-%m-%d"),
    }


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_report(info: dict, rows: list[dict], peak_gflops: float) -> None:
    """The header, the timing table and the targets, as plain text."""
    print(f"ELM training-step benchmark  (forward + backward + Adam, float32, lr {LEARNING_RATE})")
    print(f"device: {info['device_kind']} ({info['device']}) | CPU: {info['cpu']} "
          f"({', '.join(info['cpu_flags']) or 'no flags read'}), {info['cores']} cores | "
          f"python {info['python']}, jax {info['jax']}, flax {info['flax']}, "
          f"optax {info['optax']}, torch {info['torch'] or 'not installed'}"
          + (", torch threads: the fastest of " + ", ".join(map(str, info["torch_threads"]))
             if info["torch"] else ""))
    load = (info["load_avg_1min_start"], info["load_avg_1min_end"])
    print(f"1-min load average: {load[0]:.2f} at start, {load[1]:.2f} at end")
    busy = load[0] > 0.5 or load[1] > info["cores"] + 0.5  # this benchmark alone loads ~cores
    if busy:
        print("WARNING: other processes shared the CPU during this run; the ratios are measured "
              "round-robin and hold up better than the absolute times.")
    print(f"FLOPs: {FLOP_RULE}; peak {peak_gflops:g} GFLOP/s FP32")
    print("times: median ms per step (warm-up excluded, n = timed steps); "
          "speedup = t_other / t_mine; sparse = the same step on elm.sparse_input(X)\n")
    head = (f"{'shape':<9}{'B':>4}{'T':>6}{'input':>7}{'ms':>10}{'ref ms':>10}{'torch ms':>10}"
            f"{'ref/x':>8}{'torch/x':>9}{'GFLOP/s':>9}{'% peak':>8}  n")
    print(head)
    print("-" * len(head))
    for r in rows:
        for mine, label in (("fast", "dense"), ("sparse", "sparse")):
            if r.get(mine) is None:
                continue
            sp = r["speedups"]
            print(f"{r['shape']:<9}{r['batch']:>4}{r['seq_len']:>6}{label:>7}"
                  f"{r[mine]['median_ms']:>10.2f}{r['ref']['median_ms']:>10.2f}"
                  f"{fmt(r['torch'] and r['torch']['median_ms'], '.2f'):>10}"
                  f"{fmt(sp.get('ref/' + mine), '.1f'):>8}{fmt(sp.get('torch/' + mine), '.1f'):>9}"
                  f"{r[mine + '_gflops']:>9.2f}{100 * r[mine + '_peak_share']:>7.1f}%  "
                  f"{r[mine]['repeats']}")
    loop_rows = [(r, k) for r in rows for k in r if k.startswith("loop_")]
    if loop_rows:
        print("\nformulations of the fast path's time loop (dense input; auto = "
              "elm.recurrence.choose_loop):")
        for r, k in loop_rows:
            print(f"  {r['shape']:<9}{k[5:]:<8}{r[k]['median_ms']:>10.2f} ms  "
                  f"ref/x {r['ref']['median_ms'] / r[k]['median_ms']:.2f}"
                  + ("  <- auto" if k[5:] == r["loop"] else ""))
    print("\nlosses: mse = mean squared error over every step and output; "
          "ce_last = softmax cross-entropy of the last step's outputs")
    for r in rows:
        check = r.get("torch_check_max_abs_err")
        print(f"  {r['shape']}: {r['inputs']}; {r['params']} params; loop {r['loop']!r}; "
              f"malloc: {r.get('malloc', 'system')}"
              + ("" if check is None else f"; torch == fast JAX (max abs err {check:.1e})"))
        if r.get("sparse") is not None:
            print(f"    sparse input: {r['nonzeros']} non-zeros ({100 * r['density']:.2f} %) in "
                  f"capacity {r['sparse_capacity']}; elm.sparse_input on the host: "
                  f"{r['host_sparse_ms']:.1f} ms per batch (outside the step)")
    print("\ntargets (README, section Speed):")
    for r in rows:
        for t in r["targets"]:
            got = "n/a" if t["got"] is None else f"{t['got']:.1f}x"
            print(f"  {r['shape']:<9}{t['target']:<32}got {got:>7}  {t['verdict']}")


def parse_shapes(parser: argparse.ArgumentParser, text: str, known: dict) -> list[str]:
    """``"neuronio, shd"`` -> ``["neuronio", "shd"]``; an unknown name is a usage error."""
    shapes = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in known]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {list(known)}")
    return shapes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="neuronio,shd,listops",
                        help="comma-separated subset of " + ",".join(SHAPES))
    parser.add_argument("--repeats", type=int, default=30,
                        help="timed rounds (one step of each implementation) per shape, at most")
    parser.add_argument("--budget-s", type=float, default=60.0,
                        help=f"stop timing a shape after this many seconds once {MIN_REPEATS} "
                             "rounds are timed")
    parser.add_argument("--peak-gflops", type=float, default=166.0,
                        help="FP32 peak of the device (default: 2 Zen cores at 2.6 GHz, 32 FLOP "
                             "per cycle each)")
    parser.add_argument("--torch-threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated torch.set_num_threads values; the torch loop is "
                             "timed with each and the fastest counts (default: 1 and all cores)")
    parser.add_argument("--device", choices=("cpu", "gpu", "tpu"), default=None,
                        help="JAX device to time on (default: JAX's default device; the torch "
                             "loop always runs on the CPU)")
    parser.add_argument("--loops", action="store_true",
                        help="also time every formulation of the time loop (loop=...)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.shapes = parse_shapes(parser, args.shapes, SHAPES)
    try:
        args.torch_threads = tuple(sorted({int(n) for n in args.torch_threads.split(",")}))
    except ValueError:
        parser.error(f"--torch-threads takes integers like 1,2, got {args.torch_threads!r}")
    if min(args.torch_threads) < 1:
        parser.error("--torch-threads values must be >= 1")
    if args.repeats < MIN_REPEATS:
        parser.error(f"--repeats must be >= {MIN_REPEATS}")
    return args


def in_child(name: str, args: argparse.Namespace) -> dict:
    """Time one shape in a child process whose ``malloc`` keeps large buffers (its runs' way).

    glibc reads its tunables only when a process starts. The child's own report goes to this
    process's stderr; its JSON row comes back.
    """
    with tempfile.TemporaryDirectory(prefix="elm-bench-") as tmp:
        out = Path(tmp) / "row.json"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--shapes", name,
               "--repeats", str(args.repeats), "--budget-s", str(args.budget_s),
               "--peak-gflops", str(args.peak_gflops),
               "--torch-threads", ",".join(map(str, args.torch_threads)), "--json", str(out),
               *(["--device", args.device] if args.device else []),
               *(["--loops"] if args.loops else [])]
        subprocess.run(cmd, check=True, stdout=sys.stderr, env=allocator.environment())
        return json.loads(out.read_text())["results"][0]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.device is not None:
        jax.config.update("jax_default_device", jax.devices(args.device)[0])
    info = machine()
    info["torch_threads"] = list(args.torch_threads) if HAS_TORCH else None
    rows = []
    for name in args.shapes:
        print(f"[{name}] timing ...", file=sys.stderr, flush=True)
        shape = SHAPES[name]
        if (allocator.for_run(shape.experiment, "paper") and allocator.applies()
                and not allocator.active()):
            rows.append(in_child(name, args))
            continue
        rows.append({**bench_shape(shape, args.repeats, args.budget_s, args.peak_gflops,
                                   loops=args.loops, torch_threads=args.torch_threads),
                     "malloc": allocator.describe()})
    info["load_avg_1min_end"] = os.getloadavg()[0]
    print_report(info, rows, args.peak_gflops)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "peak_gflops": args.peak_gflops, "flop_rule": FLOP_RULE,
                       "command": "python benchmarks/recurrence.py "
                                  + " ".join(sys.argv[1:] if argv is None else argv),
                       "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
