"""Ensembles and data parallelism: the same numbers as separate single-device runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import elm
from elm.experiments import configs
from elm.experiments.ensemble import (
    build_elm_members,
    build_members,
    check_stackable,
    shard_batch,
    stack_streams,
    train_ensemble,
)
from elm.experiments.tasks import last_step_cross_entropy
from elm.experiments.training import TrainSettings, train

CFG = elm.ELMConfig(num_input=20, num_output=2, d_m=4)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stream(seed: int, batch: int = 4, nan_at: int | None = None):
    """A deterministic ``batches(start)`` per seed; ``nan_at``: that step's inputs are NaN."""

    def batches(start: int):
        step = start
        while True:
            rng = np.random.default_rng([seed, step])
            x = (rng.random((batch, 15, CFG.num_input)) < 0.2).astype(np.float32)
            if step == nan_at:
                x[:] = np.nan
            yield jnp.asarray(x), jnp.asarray(rng.integers(0, CFG.num_output, batch))
            step += 1

    return batches


def loss_fn(model: nnx.Module, batch) -> jax.Array:
    x, labels = batch
    return last_step_cross_entropy(model(x), labels)


def assert_same_state(a: nnx.Module, b: nnx.Module, rtol: float, atol: float) -> None:
    leaves_a, leaves_b = jax.tree.leaves(nnx.state(a)), jax.tree.leaves(nnx.state(b))
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def separate_run(model: nnx.Module, batches, config: TrainSettings):
    return train(model, loss_fn, batches, config, progress=False)


def test_ensemble_equals_separate_runs_per_seed_in_x64():
    """Member k ends where train() with seed k and stream k ends (float64: to rounding)."""
    seeds, config = [0, 1, 2], TrainSettings(batches_per_epoch=6, learning_rate=1e-2)
    with jax.enable_x64(True):
        build = lambda rngs: elm.ELM(CFG, rngs=rngs, dtype=jnp.float64)  # noqa: E731
        members = build_members(build, seeds)
        result = train_ensemble(members, loss_fn, stack_streams([stream(s) for s in seeds]),
                                config, progress=False)
        assert result.losses.shape == (3, 6) and not result.diverged.any()
        for k, seed in enumerate(seeds):
            single = build(nnx.Rngs(seed))
            expected = separate_run(single, stream(seed), config)
            np.testing.assert_allclose(result.losses[k], expected.losses, rtol=1e-12)
            assert result.member(k).losses == pytest.approx(expected.losses, rel=1e-12)
            assert_same_state(members[k], single, rtol=1e-10, atol=1e-14)
    assert members[0].w_y.kernel[...].dtype == jnp.float64
    assert not np.allclose(result.losses[0], result.losses[1])  # members really differ


def test_shared_batch_and_value_only_configs_equal_separate_runs():
    """Two tau_s values (array values only) on one shared stream, float32 tolerance."""
    sweep = [CFG.replace(tau_s=t) for t in (2.0, 20.0)]
    config = TrainSettings(batches_per_epoch=5, learning_rate=1e-2, optimizer="adamax")
    members = build_elm_members(sweep, seed=3)
    result = train_ensemble(members, loss_fn, stream(7), config, shared_batch=True,
                            progress=False)
    for k, cfg in enumerate(sweep):
        single = elm.ELM(cfg, rngs=nnx.Rngs(3))
        expected = separate_run(single, stream(7), config)
        np.testing.assert_allclose(result.losses[k], expected.losses, rtol=1e-5)
        assert_same_state(members[k], single, rtol=1e-5, atol=1e-6)
        assert members[k].config.tau_s == cfg.tau_s  # each keeps its own config
        assert float(members[k].tau_s[...]) == cfg.tau_s


def test_static_config_differences_are_refused():
    with pytest.raises(ValueError, match="lambda_value"):
        build_elm_members([CFG, CFG.replace(lambda_value=10.0)])
    with pytest.raises(ValueError, match="different structure"):
        check_stackable([elm.ELM(CFG, rngs=nnx.Rngs(0)),
                         configs.get("neuronio/lstm-15/paper").build(nnx.Rngs(0))])


def test_a_diverging_member_is_frozen_and_the_others_go_on():
    """NaN inputs for member 1 at step 2: it keeps its step-2 state, the others are untouched."""
    seeds, nan_member, nan_step = [0, 1, 2], 1, 2
    config = TrainSettings(batches_per_epoch=5, learning_rate=1e-2, schedule="constant")
    streams = [stream(s, nan_at=nan_step if k == nan_member else None)
               for k, s in enumerate(seeds)]
    members = build_members(lambda rngs: elm.ELM(CFG, rngs=rngs), seeds)
    result = train_ensemble(members, loss_fn, stack_streams(streams), config, progress=False)
    assert result.diverged.tolist() == [False, True, False]
    assert result.diverged_at == [None, nan_step, None]
    assert np.isnan(result.losses[nan_member, nan_step:]).all()
    frozen = result.member(nan_member)
    assert frozen.diverged and frozen.steps_done == nan_step and len(frozen.losses) == nan_step
    for k, seed in enumerate(seeds):
        single = elm.ELM(CFG, rngs=nnx.Rngs(seed))
        if k == nan_member:  # constant schedule: a 2-step run is the state before the bad step
            expected = separate_run(single, stream(seed), TrainSettings(
                batches_per_epoch=nan_step, learning_rate=1e-2, schedule="constant"))
        else:
            expected = separate_run(single, streams[k], config)
        np.testing.assert_allclose(result.member(k).losses, expected.losses, rtol=1e-5)
        assert_same_state(members[k], single, rtol=1e-5, atol=1e-6)
    for leaf in jax.tree.leaves(nnx.state(members[nan_member])):
        assert np.isfinite(np.asarray(leaf)).all()


def test_exploding_member_counts_as_diverged():
    """``max_loss`` applies per member: a member above it stops, the rest finish."""
    members = build_members(lambda rngs: elm.ELM(CFG, rngs=rngs), [0, 1])

    def scaled_loss(model, batch):  # a per-member loss scale, carried in the batch
        x, labels, scale = batch
        return scale * loss_fn(model, (x, labels))

    def scaled(start):  # member 1's loss is 1000x too large
        for (x0, y0), (x1, y1) in zip(stream(0)(start), stream(1)(start), strict=False):
            yield jnp.stack([x0, x1]), jnp.stack([y0, y1]), jnp.array([1.0, 1e3])

    result = train_ensemble(members, scaled_loss, scaled, TrainSettings(batches_per_epoch=3),
                            max_loss=20.0, progress=False)
    assert result.diverged.tolist() == [False, True] and result.diverged_at[1] == 0
    assert result.steps_done == 3 and np.isfinite(result.losses[0]).all()


class DropoutRegressor(nnx.Module):
    """A model whose forward pass changes its own state (dropout's RNG counter)."""

    def __init__(self, rngs: nnx.Rngs) -> None:
        self.linear = nnx.Linear(3, 1, rngs=rngs)
        self.dropout = nnx.Dropout(0.5, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(self.dropout(x))[:, 0]


def test_state_changed_by_the_forward_pass_is_kept_per_member():
    def mse(model, batch):
        return jnp.mean((model(batch[0]) - batch[1]) ** 2)

    def batches(start):
        for step in range(start, 10**9):
            rng = np.random.default_rng(step)
            yield (jnp.asarray(rng.random((4, 3)), jnp.float32),
                   jnp.asarray(rng.random(4), jnp.float32))

    config = TrainSettings(batches_per_epoch=4)
    members = build_members(DropoutRegressor, [0, 1])
    result = train_ensemble(members, mse, batches, config, shared_batch=True, progress=False)
    for k in range(2):
        single = DropoutRegressor(nnx.Rngs(k))
        expected = train(single, mse, batches, config, progress=False)
        np.testing.assert_allclose(result.losses[k], expected.losses, rtol=1e-6)
        assert int(members[k].dropout.rngs.count[...]) == 4  # one draw per step, per member


def test_missing_member_axis_is_a_clear_error():
    members = build_members(lambda rngs: elm.ELM(CFG, rngs=rngs), [0, 1, 2])
    with pytest.raises(ValueError, match="shared_batch=True"):
        train_ensemble(members, loss_fn, stream(0), TrainSettings(batches_per_epoch=2),
                       progress=False)


def test_shard_batch_needs_a_divisible_batch():
    mesh = jax.sharding.Mesh(np.asarray(jax.devices()[:1]), ("data",))
    x = shard_batch(np.zeros((3, 2), np.float32), mesh)
    assert x.shape == (3, 2)
    with pytest.raises(ValueError, match="leading batch axis"):
        shard_batch(np.float32(1.0), mesh)


DATA_PARALLEL_SCRIPT = textwrap.dedent("""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    import elm
    from elm.experiments.ensemble import data_mesh, shard_batch, train_data_parallel
    from elm.experiments.tasks import last_step_cross_entropy
    from elm.experiments.training import TrainSettings, train

    cfg = elm.ELMConfig(num_input=20, num_output=2, d_m=4)

    def batches(start):
        step = start
        while True:
            rng = np.random.default_rng([5, step])
            x = (rng.random((8, 15, 20)) < 0.2).astype(np.float32)
            yield jnp.asarray(x), jnp.asarray(rng.integers(0, 2, 8))
            step += 1

    def loss_fn(m, b):
        return last_step_cross_entropy(m(b[0]), b[1])

    config = TrainSettings(batches_per_epoch=5, learning_rate=1e-2)
    devices = jax.devices()
    x = shard_batch(next(batches(0))[0], data_mesh(devices))
    dp = elm.ELM(cfg, rngs=nnx.Rngs(0))
    r_dp = train_data_parallel(dp, loss_fn, batches, config, progress=False)
    ref = elm.ELM(cfg, rngs=nnx.Rngs(0))
    r_ref = train(ref, loss_fn, batches, config, progress=False)

    def max_rel(a, b):
        pairs = zip(jax.tree.leaves(nnx.state(a)), jax.tree.leaves(nnx.state(b)), strict=True)
        return max(float(np.max(np.abs(np.asarray(u, float) - np.asarray(v, float))
                                / (np.abs(np.asarray(v, float)) + 1e-6))) for u, v in pairs)

    kernel = dp.w_y.kernel[...]
    print(json.dumps({
        "devices": len(devices),
        "batch_devices": len(x.devices()),
        "batch_spec": list(x.sharding.spec),
        "shard_shapes": sorted({tuple(s.data.shape) for s in x.addressable_shards}),
        "param_devices": len(kernel.devices()),
        "param_replicated": bool(kernel.sharding.is_fully_replicated),
        "losses_dp": r_dp.losses, "losses_ref": r_ref.losses,
        "param_rel_dp_vs_ref": max_rel(dp, ref),
    }))
""")


def test_data_parallel_on_four_cpu_devices_equals_one_device():
    """Batch split over 4 (fake CPU) devices, params replicated: the run train() does on one.

    XLA reads the device count when jax starts, and this process already started it, so the
    4-device run happens in a fresh interpreter.
    """
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", DATA_PARALLEL_SCRIPT], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4 and out["batch_devices"] == 4
    assert out["batch_spec"] == ["data"]
    assert out["shard_shapes"] == [[2, 15, 20]]  # 8 samples -> 2 per device
    assert out["param_devices"] == 4 and out["param_replicated"]
    assert len(out["losses_dp"]) == 5
    np.testing.assert_allclose(out["losses_dp"], out["losses_ref"], rtol=1e-5)
    assert out["param_rel_dp_vs_ref"] < 1e-4
