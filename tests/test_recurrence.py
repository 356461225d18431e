"""The fast recurrence equals the per-step reference, and both equal equation (1).

The independent reference is a NumPy loop written from the equations in the paper and the
released code (``numpy_elm`` below), sharing no code with ``elm.recurrence``. Comparisons set
the matmul precision to "highest" explicitly, so they mean the same on accelerators whose
default is lower (TF32).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import elm
from elm import recurrence

CONFIGS = {
    "vanilla": {"num_input": 12, "d_m": 5},
    "neuronio": {"num_input": 12, "d_m": 5, "routing": "neuronio", "d_tree": 3, "d_brch": 6},
    "random": {"num_input": 12, "d_m": 5, "routing": "random", "d_tree": 4, "d_brch": 5},
    "v2": {"num_input": 12, "d_m": 5, "routing": "neuronio", "d_tree": 3, "d_brch": 6,
           "update": "v2"},
    "m_prev_silu_deep": {"num_input": 12, "d_m": 5, "readout": "m_prev", "activation": "silu",
                         "mlp_layers": 2, "d_mlp": 7},
    "linear_mlp_learn_tau": {"num_input": 12, "d_m": 5, "mlp_layers": 0, "learn_tau_m": True,
                             "tau_m_bounds": (0.5, 300.0), "dt": 2.0, "tau_s": 20.0},
    # inputs narrower than the MLP: the trace stays in branch space, projected inside the loop
    "narrow_vanilla": {"num_input": 4, "d_m": 5},
    "narrow_random": {"num_input": 6, "d_m": 5, "routing": "random", "d_tree": 3, "d_brch": 4},
    "narrow_v2_deep": {"num_input": 6, "d_m": 5, "routing": "neuronio", "d_tree": 2,
                       "d_brch": 3, "update": "v2", "mlp_layers": 2, "activation": "silu"},
    # a nonlinearity on each branch's output (Fig S5): no fold into the first layer
    "neuronio_branch_relu": {"num_input": 12, "d_m": 5, "routing": "neuronio", "d_tree": 3,
                             "d_brch": 6, "branch_activation": "relu"},
    "random_branch_tanh": {"num_input": 12, "d_m": 5, "routing": "random", "d_tree": 4,
                           "d_brch": 5, "branch_activation": "tanh"},
    "v2_branch_relu": {"num_input": 12, "d_m": 5, "routing": "neuronio", "d_tree": 3,
                       "d_brch": 6, "update": "v2", "branch_activation": "relu"},
    "narrow_random_branch_relu": {"num_input": 6, "d_m": 5, "routing": "random", "d_tree": 3,
                                  "d_brch": 4, "branch_activation": "relu"},
    "narrow_v2_branch_tanh": {"num_input": 6, "d_m": 5, "routing": "neuronio", "d_tree": 2,
                              "d_brch": 3, "update": "v2", "branch_activation": "tanh"},
}


def make(name: str, dtype=jnp.float64) -> elm.ELM:
    cfg = elm.ELMConfig(num_output=3, **CONFIGS[name])
    model = elm.ELM(cfg, rngs=nnx.Rngs(11), dtype=dtype)
    # random non-trivial synaptic weights, some negative (relu must zero them)
    rng = np.random.default_rng(5)
    model.proto_w_s[...] = jnp.asarray(rng.normal(0.5, 0.5, cfg.num_synapse), dtype)
    return model


def spikes(shape, seed=0, density=0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.random(shape) < density).astype(np.float64)
    x[..., shape[-1] // 2:] *= -1
    return x


def numpy_elm(model: elm.ELM, x: np.ndarray) -> np.ndarray:
    """Equation (1) in plain NumPy, one step at a time, from the model's parameters."""
    c = model.config
    idx = np.asarray(model.synapse_index[...])
    mask = np.asarray(model.synapse_mask[...])
    w_s = np.maximum(np.asarray(model.proto_w_s[...]), 0.0)
    kappa_s = np.exp(-c.dt / float(model.tau_s[...]))
    lo, hi = c.bounds
    tau_m = lo + (hi - lo) / (1 + np.exp(-np.asarray(model.proto_tau_m[...])))
    kappa_m = np.exp(-c.dt / tau_m)
    gain = (c.lambda_value * (1 - kappa_m) if c.update == "v1"
            else 1 - np.exp(-c.dt * c.lambda_value / tau_m))
    layers = [(np.asarray(ly.kernel[...]), np.asarray(ly.bias[...])) for ly in model.mlp]
    act = (lambda v: np.maximum(v, 0)) if c.activation == "relu" else (
        lambda v: v / (1 + np.exp(-v)))
    branch_act = {"none": lambda v: v, "relu": lambda v: np.maximum(v, 0),
                  "tanh": np.tanh}[c.branch_activation]
    w_y, b_y = np.asarray(model.w_y.kernel[...]), np.asarray(model.w_y.bias[...])
    batch, steps, _ = x.shape
    n_state = c.num_synapse if c.update == "v1" else c.branches
    s, m = np.zeros((batch, n_state)), np.zeros((batch, c.d_m))
    ys = []
    for t in range(steps):
        x_syn = x[:, t, idx] * mask
        if c.update == "v1":
            s = kappa_s * s + w_s * x_syn
            branch = s.reshape(batch, c.branches, c.d_brch).sum(-1)
        else:
            s = kappa_s * s + (w_s * x_syn).reshape(batch, c.branches, c.d_brch).sum(-1)
            branch = s
        branch = branch_act(branch)
        h = np.concatenate([branch, kappa_m * m], axis=-1)
        for i, (w, b) in enumerate(layers):
            h = h @ w + b
            if i < len(layers) - 1:
                h = act(h)
        m_new = kappa_m * m + gain * 1.7159 * np.tanh(2.0 / 3.0 * h)
        ys.append((m_new if c.readout == "m_t" else m) @ w_y + b_y)
        m = m_new
    return np.stack(ys, axis=1)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fast_and_reference_equal_equation_1_in_x64(name):
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        model = make(name)
        x = spikes((3, 40, model.config.num_input))
        expected = numpy_elm(model, x)
        fast = np.asarray(model(jnp.asarray(x)))
        ref = np.asarray(model(jnp.asarray(x), reference=True))
        scale = np.abs(expected).max()
        assert np.abs(ref - expected).max() <= 1e-12 * scale
        assert np.abs(fast - expected).max() <= 1e-9 * scale


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fast_and_reference_gradients_agree_in_x64(name):
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        model = make(name)
        x = jnp.asarray(spikes((3, 40, model.config.num_input), seed=1))
        target = jnp.asarray(np.random.default_rng(2).normal(size=(3, 40, 3)))

        def loss(m, reference):
            return jnp.mean((m(x, reference=reference) - target) ** 2)

        g_fast = nnx.grad(lambda m: loss(m, False))(model)
        g_ref = nnx.grad(lambda m: loss(m, True))(model)
        leaves_fast, leaves_ref = jax.tree.leaves(g_fast), jax.tree.leaves(g_ref)
        assert len(leaves_fast) == len(leaves_ref) > 0
        for a, b in zip(leaves_fast, leaves_ref, strict=True):
            a, b = np.asarray(a), np.asarray(b)
            assert np.abs(a - b).max() <= 1e-9 * max(np.abs(b).max(), 1e-30)
        # the gradient is not trivially zero: every parameter group receives signal
        assert all(np.abs(np.asarray(leaf)).max() > 0 for leaf in leaves_ref)


@pytest.mark.parametrize("method", [None, *recurrence.FILTER_METHODS])
def test_linear_filter_is_the_trace_recursion(method):
    with jax.enable_x64(True):
        u = np.random.default_rng(0).normal(size=(37, 2, 3))
        z, expected = np.zeros((2, 3)), []
        for t in range(37):
            z = 0.9 * z + u[t]
            expected.append(z)
        filtered = recurrence.linear_filter(jnp.asarray(u), 0.9, method)
        np.testing.assert_allclose(np.asarray(filtered), np.stack(expected), rtol=1e-12)
        # the gradient: the same filter run backwards in time, for both ways of running it
        weights = np.random.default_rng(1).normal(size=u.shape)
        grad_u, grad_k = jax.grad(lambda u, k: jnp.sum(weights * recurrence.linear_filter(
            u, k, method)), argnums=(0, 1))(jnp.asarray(u), 0.9)
        back, expected_u = np.zeros((2, 3)), []
        for t in range(36, -1, -1):
            back = 0.9 * back + weights[t]
            expected_u.append(back)
        np.testing.assert_allclose(np.asarray(grad_u), np.stack(expected_u[::-1]), rtol=1e-12)
        shifted = np.concatenate([np.zeros((1, 2, 3)), np.stack(expected)[:-1]])
        np.testing.assert_allclose(float(grad_k), np.sum(shifted * np.asarray(grad_u)),
                                   rtol=1e-10)


def test_linear_filter_refuses_an_unknown_method():
    with pytest.raises(ValueError, match="sequential"):
        recurrence.linear_filter(jnp.ones((3, 1)), 0.5, "fft")


def test_input_projection_equals_routing_then_first_layer():
    with jax.enable_x64(True):
        model = make("neuronio")
        dyn, c = model.dynamics(), model.config
        routing = np.zeros((c.num_input, c.num_synapse))  # dense input -> synapse map
        routing[np.asarray(dyn.synapse_index), np.arange(c.num_synapse)] = np.asarray(
            dyn.synapse_mask * dyn.w_s)
        branch_sum = np.kron(np.eye(c.branches), np.ones((c.d_brch, 1)))  # synapse -> branch
        w1 = np.asarray(dyn.mlp[0][0])[: c.branches]
        expected = routing @ branch_sum @ w1
        got = np.asarray(recurrence.input_projection(dyn, model.structure, c.num_input))
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
        branch = np.asarray(recurrence.branch_projection(dyn, model.structure, c.num_input))
        np.testing.assert_allclose(branch, routing @ branch_sum, rtol=1e-12, atol=1e-15)


def test_custom_tanh_constants():
    x = jnp.array([0.0, 1.0, -1.0])
    np.testing.assert_allclose(np.asarray(recurrence.custom_tanh(x)),
                               1.7159 * np.tanh(2 / 3 * np.array([0.0, 1.0, -1.0])), rtol=1e-6)
    # LeCun's choice: f(1) ~ 1
    assert abs(float(recurrence.custom_tanh(jnp.array(1.0))) - 1.0) < 2e-3


def test_readout_choice_matters():
    with jax.enable_x64(True):
        x = jnp.asarray(spikes((2, 20, 12)))
        a = make("vanilla")
        b = elm.ELM(a.config.replace(readout="m_prev"), rngs=nnx.Rngs(11), dtype=jnp.float64)
        nnx.update(b, nnx.state(a))
        ya, yb = np.asarray(a(x)), np.asarray(b(x))
        np.testing.assert_allclose(yb[:, 1:], ya[:, :-1], rtol=1e-12)  # m_{t-1} is a shift
        assert not np.allclose(ya, yb)


# ---------------------------------------------------------------------------------------------
# Every formulation of the fast path (loop x kept/recomputed intermediates x dense/sparse input)
# against the NumPy loop (values) and autodiff of the per-step reference (gradients), in x64.

FORMULATIONS = [("hoisted", False), ("hoisted", True), ("trace", False), ("trace", True),
                ("scan", None)]
#: configurations also run with sparse input (all formulations): wide, branched, narrow, Fig S5
SPARSE_CONFIGS = ["vanilla", "neuronio", "narrow_random", "neuronio_branch_relu",
                  "m_prev_silu_deep"]
CASES = [(name, loop, keep, False) for name in CONFIGS for loop, keep in FORMULATIONS] + [
    (name, loop, keep, True) for name in SPARSE_CONFIGS for loop, keep in FORMULATIONS]


def fast_loss(model, x, target, loop, keep):
    y = recurrence.fast_forward(model.dynamics(), model.structure, x, loop, keep)
    return jnp.mean((y - target) ** 2), y


@pytest.mark.parametrize(("name", "loop", "keep", "sparse"), CASES)
def test_every_formulation_equals_reference_in_values_and_gradients(name, loop, keep, sparse):
    with jax.enable_x64(True):
        model = make(name)
        x_np = spikes((3, 40, model.config.num_input), seed=3)
        x = elm.sparse_input(x_np) if sparse else jnp.asarray(x_np)
        target = jnp.asarray(np.random.default_rng(4).normal(size=(3, 40, 3)))
        (_, y), grads = nnx.value_and_grad(fast_loss, has_aux=True)(model, x, target, loop, keep)
        expected = numpy_elm(model, x_np)
        assert np.abs(np.asarray(y) - expected).max() <= 1e-9 * np.abs(expected).max()

        def ref_loss(m):
            return jnp.mean((m(jnp.asarray(x_np), reference=True) - target) ** 2)

        leaves = jax.tree.leaves(grads)
        leaves_ref = jax.tree.leaves(nnx.grad(ref_loss)(model))
        assert len(leaves) == len(leaves_ref) > 0
        for a, b in zip(leaves, leaves_ref, strict=True):
            a, b = np.asarray(a), np.asarray(b)
            assert np.abs(a - b).max() <= 1e-9 * max(np.abs(b).max(), 1e-30)


@pytest.mark.parametrize("sparse", [False, True])
def test_auto_runs_the_reference_loop_for_narrow_inputs(sparse):
    """Where the input is narrower than the MLP, "auto" is the per-step reference itself."""
    model = make("narrow_random", jnp.float32)
    assert recurrence.choose_loop(model.config.num_input, model.config.hidden) == "reference"
    x_np = spikes((2, 30, model.config.num_input), seed=5).astype(np.float32)
    x = elm.sparse_input(x_np) if sparse else jnp.asarray(x_np)
    y = np.asarray(recurrence.fast_forward(model.dynamics(), model.structure, x))
    y_ref = np.asarray(recurrence.reference_forward(model.dynamics(), model.structure,
                                                    jnp.asarray(x_np))[0])
    np.testing.assert_array_equal(y, y_ref)


def test_keep_threshold_and_auto_choice():
    assert recurrence.choose_loop(1278, 40) == "hoisted"  # NeuronIO
    assert recurrence.choose_loop(700, 200) == "hoisted"  # SHD
    assert recurrence.choose_loop(25, 300) == "reference"  # ListOps
    assert recurrence.choose_loop(1, 64) == "reference"  # Pathfinder
    assert not recurrence.keep_intermediates(8, 40)  # NeuronIO: recompute
    assert recurrence.keep_intermediates(8, 200)  # SHD: keep
    assert recurrence.keep_intermediates(384, 300)
    assert recurrence.default_chains(8, 40) == 1
    assert recurrence.default_chains(384, 300) == (2 if jax.default_backend() == "cpu" else 1)
    with pytest.raises(ValueError, match="loop must be one of"):
        make("vanilla", jnp.float32)(jnp.zeros((1, 2, 12)), loop="fastest")


def test_kappa_s_gradient_of_the_trace_loop():
    """tau_s is a Buffer in the model, so the model tests never see d/d kappa_s: check it here."""
    with jax.enable_x64(True):
        model = make("narrow_random_branch_relu")
        dyn, structure = model.dynamics(), model.structure
        x = jnp.asarray(spikes((2, 30, 6), seed=5))

        def loss(kappa_s, loop, keep):
            y = recurrence.fast_forward(dyn._replace(kappa_s=kappa_s), structure, x, loop, keep)
            return jnp.sum(jnp.sin(y))

        expected = jax.grad(lambda k: jnp.sum(jnp.sin(recurrence.reference_forward(
            dyn._replace(kappa_s=k), structure, x)[0])))(dyn.kappa_s)
        for loop, keep in FORMULATIONS:
            got = jax.grad(loss)(dyn.kappa_s, loop, keep)
            np.testing.assert_allclose(got, expected, rtol=1e-10)


# ---------------------------------------------------------------------------------------------
# SparseInput: the non-zero entries of a batch, made on the host


def test_sparse_input_round_trip_and_order():
    x = spikes((3, 17, 9), seed=6) * np.random.default_rng(7).uniform(0.5, 2.0, (3, 17, 9))
    sp = elm.sparse_input(x)
    nnz = int(np.count_nonzero(x))
    assert sp.shape == (3, 17, 9) and sp.capacity == recurrence.sparse_capacity(nnz) >= nnz
    row = np.asarray(sp.row)
    assert np.all(np.diff(row) >= 0)  # ascending, padding on the last row
    assert np.all(np.asarray(sp.value)[nnz:] == 0) and np.all(row[nnz:] == 3 * 17 - 1)
    np.testing.assert_array_equal(np.asarray(sp.to_dense()), x.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda s: s.to_dense())(sp)),
                                  x.astype(np.float32))
    # from coordinates in any order, repeated positions add up
    b, t, c = np.nonzero(x)
    perm = np.random.default_rng(8).permutation(b.size)
    again = elm.SparseInput.from_coordinates(
        np.r_[b[perm], 0], np.r_[t[perm], 0], np.r_[c[perm], 0], np.r_[x[b, t, c][perm], 1.5],
        x.shape, capacity=4096)
    expected = x.copy()
    expected[0, 0, 0] += 1.5
    assert again.capacity == 4096
    np.testing.assert_allclose(np.asarray(again.to_dense()), expected, rtol=1e-6)


def test_sparse_capacity_buckets():
    assert recurrence.sparse_capacity(0) == recurrence.sparse_capacity(1024) == 1024
    assert [recurrence.sparse_capacity(n) for n in (1025, 1281, 2049, 49_152, 51_000)] == [
        1280, 1536, 2560, 49_152, 57_344]
    for n in range(1, 70_000, 997):
        cap = recurrence.sparse_capacity(n)
        assert n <= cap and (cap <= 1024 or cap < 1.25 * n + 1)


def test_sparse_input_errors():
    with pytest.raises(ValueError, match="exceed capacity"):
        elm.sparse_input(np.ones((1, 2, 3)), capacity=5)
    with pytest.raises(ValueError, match="channel index outside"):
        elm.SparseInput.from_coordinates([0], [0], [3], [1.0], (1, 2, 3))
    with pytest.raises(ValueError, match="batch, time, inputs"):
        elm.sparse_input(np.ones((2, 3)))
    with pytest.raises(ValueError, match="ELM expects inputs"):
        make("vanilla", jnp.float32)(elm.sparse_input(np.ones((1, 2, 5))))


def test_sparse_input_through_the_model_and_reference():
    model = make("neuronio", jnp.float32)
    x = spikes((2, 30, 12), seed=9).astype(np.float32)
    sp = elm.sparse_input(x)
    with jax.default_matmul_precision("highest"):
        dense = np.asarray(model(x))
        np.testing.assert_allclose(np.asarray(model(sp)), dense, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(model(sp, reference=True)), dense, rtol=1e-5,
                                   atol=1e-6)
        _, states = model(sp, return_states=True)
        assert states.m.shape == (2, 30, model.config.d_m)
