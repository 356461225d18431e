"""The shared training loop: learns, is deterministic, resumes exactly, reports divergence."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import elm
from elm.experiments.tasks import last_step_cross_entropy
from elm.experiments.tasks.neuronio import neuronio_loss
from elm.experiments.training import TrainSettings, train


def toy_batches(start: int, seed: int = 0):
    """Class = which half of the inputs spiked more; deterministic per step."""
    step = start
    while True:
        rng = np.random.default_rng([seed, step])
        labels = rng.integers(0, 2, 8)
        rates = np.where((np.arange(6) // 3)[None, None, :] == labels[:, None, None], 0.4, 0.05)
        x = (rng.random((8, 30, 6)) < rates).astype(np.float32)
        yield jnp.asarray(x), jnp.asarray(labels)
        step += 1


def model_and_loss(seed: int = 0):
    cfg = elm.ELMConfig(6, 2, d_m=4, tau_m_init=(1.0, 30.0))
    model = elm.ELM(cfg, rngs=nnx.Rngs(seed))

    def loss_fn(m, batch):
        x, labels = batch
        return last_step_cross_entropy(m(x), labels)

    return model, loss_fn


def test_training_reduces_the_loss_and_is_deterministic():
    config = TrainSettings(batches_per_epoch=60, learning_rate=2e-2)
    a, loss_fn = model_and_loss()
    ra = train(a, loss_fn, toy_batches, config, progress=False)
    assert np.mean(ra.losses[-10:]) < 0.6 * np.mean(ra.losses[:10])
    b, loss_fn = model_and_loss()
    rb = train(b, loss_fn, toy_batches, config, progress=False)
    assert ra.losses == rb.losses
    assert ra.steps_done == 60 and not ra.diverged


def test_resume_after_a_crash_reaches_the_same_state(tmp_path):
    config = TrainSettings(batches_per_epoch=20, learning_rate=1e-2)
    full, loss_fn = model_and_loss()
    r_full = train(full, loss_fn, toy_batches, config, progress=False)

    def crashing(start):
        for i, batch in enumerate(toy_batches(start)):
            if start + i == 12:
                raise RuntimeError("simulated crash at step 12")
            yield batch

    first, loss_fn = model_and_loss()
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(first, loss_fn, crashing, config, checkpoint_dir=tmp_path, checkpoint_every=5,
              progress=False)
    resumed, loss_fn = model_and_loss(seed=99)  # different init: everything must come from disk
    r_res = train(resumed, loss_fn, toy_batches, config, checkpoint_dir=tmp_path,
                  checkpoint_every=5, progress=False)
    assert r_res.resumed_from == 10
    np.testing.assert_allclose(r_res.losses, r_full.losses, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(nnx.state(full, nnx.Param)),
                    jax.tree.leaves(nnx.state(resumed, nnx.Param)), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


def test_checkpoints_wait_for_their_minimum_interval(tmp_path, monkeypatch):
    """``checkpoint_min_s`` skips due checkpoints written too soon after the last; the final
    one is always written."""
    from elm.experiments import training

    saved = []
    real_save = training._save
    monkeypatch.setattr(training, "_save", lambda manager, step, *a: saved.append(step)
                        or real_save(manager, step, *a))
    config = TrainSettings(batches_per_epoch=20, learning_rate=1e-2)
    model, loss_fn = model_and_loss()
    train(model, loss_fn, toy_batches, config, checkpoint_dir=tmp_path / "every",
          checkpoint_every=5, progress=False)
    assert saved == [5, 10, 15, 20]
    saved.clear()
    model, loss_fn = model_and_loss()
    train(model, loss_fn, toy_batches, config, checkpoint_dir=tmp_path / "spaced",
          checkpoint_every=5, checkpoint_min_s=1e5, progress=False)
    assert saved == [20]  # only the final one


def test_nan_loss_stops_the_run_as_diverged(tmp_path):
    model, base = model_and_loss()

    def batches(start):
        for i, (x, labels) in enumerate(toy_batches(start)):
            yield x * (jnp.nan if start + i == 3 else 1.0), labels

    result = train(model, base, batches, TrainSettings(batches_per_epoch=10),
                   checkpoint_dir=tmp_path, checkpoint_every=1, progress=False)
    assert result.diverged and result.diverged_at == 3
    assert len(result.losses) == 3
    # the refused step left the model as it was after step 3: finite, and equal to the checkpoint
    assert all(np.isfinite(np.asarray(a)).all() for a in jax.tree.leaves(nnx.state(model)))


def test_neuronio_loss_by_hand():
    y = jnp.array([[[0.0, 1.0], [2.0, 0.5], [-1.0, 0.0]]])  # (1, 3, 2)
    spikes, soma = jnp.array([[0.0, 1.0, 0.0]]), jnp.array([[0.0, 0.0, 1.0]])
    # burn-in 1: steps 1 and 2 only
    bce = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2
    mse = (0.5**2 + 1.0**2) / 2
    np.testing.assert_allclose(float(neuronio_loss(y, spikes, soma, 1)), bce + mse, rtol=1e-6)


def test_bad_train_settings():
    with pytest.raises(ValueError, match="batches_per_epoch"):
        TrainSettings(batches_per_epoch=0)
    with pytest.raises(ValueError, match="optimizer"):
        TrainSettings(optimizer="sgd")
    with pytest.raises(ValueError, match="batch_size"):
        TrainSettings(batch_size=0)
