"""Does training K models as one vmapped program pay? Throughput for K = 1, 2, 4, 8, 16.

For each shape and each K, times one training step (forward, backward, Adam update, float32) of
K ELM members two ways, in the same process, on the same batches:

* ``vmap``: :func:`elm.experiments.ensemble.make_ensemble_step`, the K members stacked along a
leading axis
  and trained by one jitted, vmapped program (what :func:`elm.experiments.ensemble.train_ensemble`
  runs);
* ``seq``: K calls of the same member step (:func:`elm.experiments.training.make_guarded_step`,
jitted on
  its own), one per member, as a loop over seeds would run them.

Both run the identical per-member computation (the ensemble tests show it gives the same
numbers), so the ratio ``t_seq / t_vmap`` is the speedup of vmapping alone. Each member has
its own batch. Run from the repository root::

    python benchmarks/ensemble.py [--shapes neuronio,small,tiny] [--ks 1,2,4,8,16] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from recurrence import machine as recurrence_machine
from recurrence import parse_shapes
from render import ensemble_lines

import elm
from elm.experiments import configs
from elm.experiments.ensemble import make_ensemble_step, stack_models
from elm.experiments.tasks import last_step_cross_entropy
from elm.experiments.tasks.neuronio import neuronio_loss
from elm.experiments.training import TrainSettings, make_guarded_step, make_optimizer

LEARNING_RATE = 5e-4
MIN_REPEATS = 3  # a median needs a few samples even when a round takes seconds


@dataclass(frozen=True)
class Shape:
    """One benchmark shape: a model configuration, a batch size, a window and a loss."""

    name: str
    config: elm.ELMConfig
    batch: int
    seq_len: int
    loss: str  # "bce+mse" (NeuronIO, 50-step burn-in) or "ce_last" (classification)
    about: str  # for the printout


SHAPES = {
    "neuronio": Shape(
        "neuronio", configs.get("neuronio/elm/paper").elm_config(), batch=8, seq_len=150,
        loss="bce+mse",
        about="neuronio/elm/paper at full size (1278 inputs, d_m 20, learnable tau_m), "
              "150-step window instead of 500 to keep CPU time short; ternary spikes, 1%",
    ),
    "small": Shape(
        "small", elm.ELMConfig(num_input=100, num_output=20, d_m=20), batch=8, seq_len=100,
        loss="ce_last",
        about="ELM with 100 inputs, d_m 20, 20 classes (a small SHD-like model); Poisson "
              "counts with mean 0.05",
    ),
    "tiny": Shape(
        "tiny", elm.ELMConfig(num_input=20, num_output=2, d_m=4), batch=8, seq_len=50,
        loss="ce_last",
        about="ELM with 20 inputs, d_m 4, 2 classes (the size of a test or a quick sweep "
              "point); Poisson counts with mean 0.05",
    ),
}


def make_loss(shape: Shape) -> Callable[[nnx.Module, tuple], jax.Array]:
    """The experiment's loss: NeuronIO's BCE + MSE after a burn-in, or last-step CE."""
    if shape.loss == "bce+mse":
        burn_in = shape.seq_len // 3

        def loss_fn(model, batch):
            x, spikes, soma = batch
            return neuronio_loss(model(x), spikes, soma, burn_in)
    else:

        def loss_fn(model, batch):
            x, labels = batch
            return last_step_cross_entropy(model(x), labels)

    return loss_fn


def make_batches(shape: Shape, k: int, seed: int = 0) -> tuple[jax.Array, ...]:
    """K members' batches stacked, ``(K, B, T, ...)``, already on the device.

    Speed depends on shapes, not values; the values only keep losses finite and look like the
    data (sparse spikes).
    """
    rng = np.random.default_rng(seed)
    n_in, b, t = shape.config.num_input, shape.batch, shape.seq_len
    if shape.loss == "bce+mse":
        sign = np.where(np.arange(n_in) < n_in // 2, 1.0, -1.0)
        x = (rng.random((k, b, t, n_in)) < 0.01) * sign
        spikes = (rng.random((k, b, t)) < 0.01).astype(np.float32)
        soma = rng.standard_normal((k, b, t)).astype(np.float32)
        return jnp.asarray(x, jnp.float32), jnp.asarray(spikes), jnp.asarray(soma)
    x = rng.poisson(0.05, (k, b, t, n_in))
    labels = rng.integers(0, shape.config.num_output, (k, b))
    return jnp.asarray(x, jnp.float32), jnp.asarray(labels, jnp.int32)


class Members:
    """K freshly initialised members as stacked arrays plus per-member copies for ``seq``."""

    def __init__(self, shape: Shape, k: int, tx: optax.GradientTransformation) -> None:
        models = [elm.ELM(shape.config, rngs=nnx.Rngs(seed)) for seed in range(k)]
        self.graphdef, self.params, self.rest = stack_models(models)
        self.opt = jax.vmap(tx.init)(self.params)
        self.alive = jnp.ones(k, bool)
        self.single = [
            [jax.tree.map(lambda x, i=i: x[i], tree) for tree in (self.params, self.rest,
                                                                 self.opt)]
            for i in range(k)
        ]


def step_pair(shape: Shape, k: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """``(vmapped_round, sequential_round)``: each advances all K members by one step."""
    tx = make_optimizer(TrainSettings(batches_per_epoch=10_000, learning_rate=LEARNING_RATE))
    loss_fn = make_loss(shape)
    m = Members(shape, k, tx)
    batch = make_batches(shape, k)
    per_member = [jax.tree.map(lambda x, i=i: x[i], batch) for i in range(k)]
    ens = make_ensemble_step(m.graphdef, loss_fn, tx, max_loss=1e6)
    one = jax.jit(make_guarded_step(m.graphdef, loss_fn, tx, 1e6), donate_argnums=(0, 1, 2))
    alive = jnp.asarray(True)

    def vmapped() -> None:
        loss, m.params, m.rest, m.opt, m.alive = ens(m.params, m.rest, m.opt, m.alive, batch)
        jax.block_until_ready(loss)

    def sequential() -> None:
        losses = []
        for i, (params, rest, opt) in enumerate(m.single):
            loss, *m.single[i], _ = one(params, rest, opt, alive, per_member[i])
            losses.append(loss)
        jax.block_until_ready(losses)

    return vmapped, sequential


def time_interleaved(rounds: dict[str, Callable[[], None]], repeats: int, budget_s: float
                     ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall-clock and CPU seconds per call of each round, after one untimed warm-up (compile).

    The two variants alternate, so a busy spell on this shared machine slows both alike and
    the ratio stays honest; timing stops after ``repeats`` rounds, or once ``budget_s`` is spent
    and at least :data:`MIN_REPEATS` are timed. CPU seconds (this process, all threads) hardly
    grow when other processes take the cores, so their ratio is the steadier one on a busy
    machine, though it cannot show a gain from using more cores at once.
    """
    for fn in rounds.values():
        fn()
    wall: dict[str, list[float]] = {name: [] for name in rounds}
    cpu: dict[str, list[float]] = {name: [] for name in rounds}
    start = time.perf_counter()
    for done in range(repeats):
        if done >= MIN_REPEATS and time.perf_counter() - start > budget_s:
            break
        for name, fn in rounds.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu


def bench(shape: Shape, k: int, repeats: int, budget_s: float) -> dict:
    """One row: median step times of both variants and the derived throughputs."""
    t0 = time.perf_counter()
    vmapped, sequential = step_pair(shape, k)
    times, cpu = time_interleaved({"vmap": vmapped, "seq": sequential}, repeats, budget_s)
    t_vmap, t_seq = (statistics.median(times[n]) for n in ("vmap", "seq"))
    return {
        "shape": shape.name, "K": k, "batch": shape.batch, "seq_len": shape.seq_len,
        "vmap_ms": 1e3 * t_vmap, "seq_ms": 1e3 * t_seq,
        "vmap_samples_per_s": k * shape.batch / t_vmap,
        "seq_samples_per_s": k * shape.batch / t_seq,
        "vmap_member_steps_per_s": k / t_vmap, "seq_member_steps_per_s": k / t_seq,
        "speedup": t_seq / t_vmap, "repeats": len(times["vmap"]),
        "speedup_of_min": min(times["seq"]) / min(times["vmap"]),
        "speedup_cpu_time": statistics.median(cpu["seq"]) / statistics.median(cpu["vmap"]),
        "load_avg_1min": os.getloadavg()[0],
        "vmap_ms_all": [1e3 * t for t in times["vmap"]],
        "seq_ms_all": [1e3 * t for t in times["seq"]],
        "vmap_cpu_ms_all": [1e3 * t for t in cpu["vmap"]],
        "seq_cpu_ms_all": [1e3 * t for t in cpu["seq"]],
        "wall_s": time.perf_counter() - t0,
    }


def machine() -> dict:
    """What the numbers were measured on: recurrence.py's record plus the accelerator."""
    return {**recurrence_machine(), "device_kind": jax.devices()[0].device_kind,
            "devices": len(jax.devices())}


def print_report(info: dict, rows: list[dict]) -> None:
    """Header, one table per shape, and what the columns mean."""
    print(f"ELM ensemble benchmark  (K members, forward + backward + Adam, float32, "
          f"lr {LEARNING_RATE}, each member its own batch)")
    print(f"device: {info['device_kind']} x{info['devices']} ({info['jax_backend']}) | "
          f"CPU: {info['cpu']}, {info['cores']} cores | python {info['python']}, "
          f"jax {info['jax']}, flax {info['flax']}, optax {info['optax']}")
    print(f"1-min load average: {info['load_avg_1min_start']:.2f} at start, "
          f"{info['load_avg_1min_end']:.2f} at end")
    print("times: median ms per step of all K members (warm-up excluded); "
          "speedup = t_seq / t_vmap of the medians, (min) of the fastest rounds, (cpu) of the "
          "median CPU seconds;\nload = 1-min load average after the row\n")
    print("\n".join(ensemble_lines(rows)))
    print("\nsmp/s = training samples per second over all members (K x B per step); "
          "st/s = member steps per second (K per step)")
    for name in dict.fromkeys(r["shape"] for r in rows):
        print(f"  {name}: {SHAPES[name].about}; loss {SHAPES[name].loss}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", default="neuronio,small,tiny",
                        help="comma-separated subset of " + ",".join(SHAPES))
    parser.add_argument("--ks", default="1,2,4,8,16", help="ensemble sizes K")
    parser.add_argument("--repeats", type=int, default=9,
                        help="timed rounds (one step of each variant) per K, at most")
    parser.add_argument("--budget-s", type=float, default=6.0,
                        help=f"stop timing a K after this many seconds once {MIN_REPEATS} rounds "
                             "are timed")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.shapes = parse_shapes(parser, args.shapes, SHAPES)
    args.ks = [int(k) for k in args.ks.split(",") if k.strip()]
    if not args.ks or min(args.ks) < 1:
        parser.error("--ks needs positive integers")
    if args.repeats < MIN_REPEATS:
        parser.error(f"--repeats must be >= {MIN_REPEATS}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = machine()
    rows = []
    for name in args.shapes:
        for k in args.ks:
            print(f"[{name} K={k}] timing ...", file=sys.stderr, flush=True)
            rows.append(bench(SHAPES[name], k, args.repeats, args.budget_s))
    info["load_avg_1min_end"] = os.getloadavg()[0]
    print_report(info, rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "results": rows}, f, indent=2)


if __name__ == "__main__":
    main()
