"""The NeuronIO loader's sparse batches equal its dense ones, and train the model alike."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import elm
from elm.data import neuronio


def synthetic_file(seed=0, n_sim=3, n_t=1200, n_in=1278):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_sim, n_t, n_in)) < 0.005).astype(np.uint8)
    spikes = (rng.random((n_sim, n_t)) < 0.01).astype(np.uint8)
    soma = rng.normal(-70, 3, (n_sim, n_t)).astype(np.float32)
    return X, spikes, soma


def test_sparse_window_equals_the_signed_dense_window():
    X = synthetic_file()[0][:2, :300]
    sparse = neuronio.sparse_window(X)
    np.testing.assert_array_equal(np.asarray(sparse.to_dense()), neuronio.transform_inputs(X))
    again = elm.sparse_input(neuronio.transform_inputs(X))
    for field in ("row", "channel", "value"):
        np.testing.assert_array_equal(getattr(sparse, field), getattr(again, field))


def test_file_batches_sparse_equals_dense():
    X, spikes, soma = synthetic_file()
    dense = list(neuronio.file_batches(X, spikes, soma, np.random.default_rng(1), 3, 2, 200, 100))
    sparse = list(neuronio.file_batches(X, spikes, soma, np.random.default_rng(1), 3, 2, 200, 100,
                                        sparse=True))
    for (xd, sd, vd), (xs, ss, vs) in zip(dense, sparse, strict=True):
        assert isinstance(xs, elm.SparseInput)
        np.testing.assert_array_equal(np.asarray(xs.to_dense()), xd)
        np.testing.assert_array_equal(ss, sd)
        np.testing.assert_array_equal(vs, vd)


def test_a_training_step_on_sparse_batches_equals_the_dense_one():
    X, spikes, soma = synthetic_file(n_t=700)
    (xd, sp, so), = neuronio.file_batches(X, spikes, soma, np.random.default_rng(2), 1, 2, 150, 100)
    xs = neuronio.sparse_window(np.asarray(xd != 0, np.uint8))
    config = elm.ELMConfig(1278, 2, d_m=8, routing="neuronio", d_tree=12, d_brch=120)

    def grads(x):
        model = elm.ELM(config, rngs=nnx.Rngs(0))

        def loss(m):
            y = m(x)
            return jnp.mean((y[..., 1] - so) ** 2) + jnp.mean(jax.nn.softplus(-y[..., 0]) * sp)

        return jax.tree.leaves(nnx.grad(loss)(model))

    with jax.default_matmul_precision("highest"):
        for a, b in zip(grads(xs), grads(jnp.asarray(xd)), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4,
                                       atol=2e-6 * float(np.abs(np.asarray(b)).max()))
