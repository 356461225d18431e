"""The LRA task: deterministic, resumable batches; padding that never reaches the prediction;
the two-tower model; and whole runs on a tiny generated ListOps and on real IMDB reviews."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import shared_path
from flax import nnx
from scipy.special import logsumexp

import elm
from elm.baselines.two_tower import TwoTower, last_output, two_tower
from elm.data.lra_common import PAD, LRADataError, Split
from elm.experiments import configs
from elm.experiments.run import run
from elm.experiments.tasks import lra as lra_task
from elm.experiments.tasks import make_task

TINY_LISTOPS = {"data.standin_n_train": 64, "data.standin_n_valid": 16, "data.standin_n_test": 16,
                "data.standin_min_len": 4, "data.standin_max_len": 24,
                "data.standin_max_depth": 3, "data.max_len": 24}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Generated stand-ins go to a temporary cache; no real LRA data is visible."""
    monkeypatch.setenv("ELM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    return tmp_path / "cache"


def padded_split(n: int = 10, width: int = 30, seed: int = 0) -> Split:
    """Random token sequences of lengths 1..width, right-padded with <pad>."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, width + 1, n).astype(np.int32)
    x = np.full((n, width), PAD, dtype=np.uint8)
    for i, length in enumerate(lengths):
        x[i, :length] = rng.integers(4, 25, length)
    return Split(x, rng.integers(0, 10, n), lengths)


def small_elm(num_input: int = 25, num_output: int = 10) -> elm.ELM:
    return elm.ELM(elm.ELMConfig(num_input=num_input, num_output=num_output, d_m=6,
                                 tau_m_init=(1.0, 50.0)), rngs=nnx.Rngs(1))


# --------------------------------------------------------------------------------------------
# batches


def test_batches_are_deterministic_and_resume_exactly():
    split = padded_split(n=10)
    first = [b for _, b in zip(range(7), lra_task.training_batches(split, 4, seed=3),
                               strict=False)]
    again = [b for _, b in zip(range(7), lra_task.training_batches(split, 4, seed=3),
                               strict=False)]
    resumed = [b for _, b in zip(range(3), lra_task.training_batches(split, 4, seed=3, start=4),
                                 strict=False)]
    for a, b in zip(first, again, strict=True):
        assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True) if u is not None)
    for a, b in zip(first[4:], resumed, strict=True):
        assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    other = next(lra_task.training_batches(split, 4, seed=4))
    assert not np.array_equal(other.lengths, first[0].lengths)


def test_every_pass_visits_every_example_once_in_a_new_order():
    n, batch = 12, 5
    seen = np.concatenate([lra_task.batch_indices(n, batch, 0, s) for s in range(12)])
    passes = seen.reshape(5, n)  # 60 examples = 5 passes
    assert all(sorted(p) == list(range(n)) for p in passes)
    assert not np.array_equal(passes[0], passes[1])


def test_batch_width_is_cut_to_a_bucket_that_holds_the_longest_sequence():
    assert lra_task.bucket_width(700, 4096) == 1024  # buckets of 512
    assert lra_task.bucket_width(4096, 4096) == 4096
    assert lra_task.bucket_width(3, 24) == 24  # short data: one shape
    split = padded_split(n=6, width=600)
    batch = lra_task.make_batch(split, np.arange(6))
    assert batch.x.shape[1] >= batch.lengths.max() and batch.x.shape[1] % 256 == 0


# --------------------------------------------------------------------------------------------
# one-hot and padding


def test_prediction_depends_only_on_the_real_tokens():
    model = small_elm()
    split = padded_split(n=8, width=30)
    batch = lra_task.make_batch(split, np.arange(8))
    logits = np.asarray(lra_task.logits(model, batch, 25))
    # other padding (any ids, any amount) after the real tokens changes nothing
    rng = np.random.default_rng(1)
    x = np.concatenate([batch.x, rng.integers(0, 25, (8, 17)).astype(np.uint8)], axis=1)
    x[np.arange(x.shape[1])[None] >= batch.lengths[:, None]] = rng.integers(0, 25, 1)[0]
    noisy = np.asarray(lra_task.logits(model, batch._replace(x=x), 25))
    np.testing.assert_allclose(noisy, logits, rtol=1e-5, atol=1e-6)
    # and each equals the last output of the sequence fed alone, unpadded
    for i in range(3):
        alone = lra_task.one_hot(batch.x[i:i + 1, :batch.lengths[i]], 25)
        np.testing.assert_allclose(np.asarray(model(alone))[0, -1], logits[i], rtol=1e-5,
                                   atol=1e-6)


class EchoLastToken(nnx.Module):
    """Answers ``token id % n_classes`` for the token just read: its answer at a sequence's last
    real step is ``x[i, length - 1] % n_classes``, different across examples."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.one_hot(jnp.argmax(x, axis=-1) % self.n_classes, self.n_classes)


@pytest.mark.parametrize("limit", [None, 50])
def test_accuracy_is_known_for_a_model_with_a_known_answer(limit):
    """The evaluation sorts examples by length and batches them (150 > EVAL_BATCH = 64): the
    accuracy of an input-dependent answer, restated in NumPy, catches any example scored
    against another's label, a padded repeat scored, or the wrong subset."""
    split = padded_split(n=150, width=30, seed=4)
    split = Split(split.x, np.where(np.arange(150) % 3 == 0, split.x[np.arange(150),
                                    split.lengths - 1] % 10, split.y), split.lengths)
    answers = split.x[np.arange(150), split.lengths - 1] % 10
    idx = (np.arange(150) if limit is None
           else np.sort(np.random.default_rng(0).permutation(150)[:limit]))  # fixed subset
    expected = np.mean(answers[idx] == split.y[idx])
    assert 0.3 < expected < 0.5  # a third of the labels made right by construction, plus luck
    acc, n, majority = lra_task.accuracy(EchoLastToken(10), split, limit, 25)
    assert n == len(idx) and acc == pytest.approx(expected, abs=1e-12)
    assert majority == pytest.approx(np.bincount(split.y[idx]).max() / len(idx), abs=1e-12)


def test_one_hot_encoding_and_loss():
    x = np.array([[0, 3, 24], [1, 1, 2]], dtype=np.uint8)
    h = np.asarray(lra_task.one_hot(x, 25))
    assert h.shape == (2, 3, 25) and h.dtype == np.float32
    assert np.array_equal(h.argmax(-1), x) and np.all(h.sum(-1) == 1)
    model = small_elm()
    batch = lra_task.Batch(x, np.array([2, 3], np.int32), np.array([4, 7], np.int32))
    loss = lra_task.make_loss(25)(model, batch)
    y = lra_task.logits(model, batch, 25)
    expected = -jnp.mean(jax.nn.log_softmax(y)[jnp.arange(2), batch.y])
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)


def test_silent_token_is_fed_as_no_input_at_all():
    x = np.array([[0, 3, 0, 15], [2, 0, 0, 1]], dtype=np.uint8)
    plain = np.asarray(lra_task.one_hot(x, 16))
    silent = np.asarray(lra_task.one_hot(x, 16, silent=0))
    assert silent.shape == plain.shape == (2, 4, 16)
    np.testing.assert_array_equal(silent.sum(-1), (x != 0).astype(np.float32))  # zero rows at 0
    np.testing.assert_array_equal(silent[x != 0], plain[x != 0])
    np.testing.assert_array_equal(silent[..., 0], 0.0)  # channel 0 never fires
    np.testing.assert_array_equal(np.asarray(lra_task.one_hot(x, 16, silent=3))[0, 1], 0.0)
    # the model sees exactly the zeroed inputs, through the loss and the prediction
    model = small_elm(num_input=16, num_output=2)
    batch = lra_task.Batch(x, np.array([4, 4], np.int32), np.array([1, 0], np.int32))
    expected = np.asarray(model(jnp.asarray(silent)))[:, -1]
    np.testing.assert_allclose(lra_task.logits(model, batch, 16, silent=0), expected, rtol=1e-6)
    assert not np.allclose(lra_task.logits(model, batch, 16), expected)


@pytest.mark.parametrize("bad", [16, -1, True, "0", 1.0])
def test_bad_silent_token_names_the_setting(cache, bad):
    exp = configs.override(configs.get("lra/pathfinder/elm/paper", scale="smoke"),
                           {"data.standin_n_images": 20, "data.silent_token": bad})
    with pytest.raises(ValueError, match=r"data\.silent_token must be None or a token id in 0\.\.15"
                       ):
        make_task(exp, None, 0)
    assert not (cache / "lra").exists()  # refused before any stand-in is generated


def test_silent_token_reaches_the_run_and_its_record(cache, tmp_path):
    overrides = {"data.standin_n_images": 20, "data.silent_token": 0,
                 "data.difficulty": "curv_contour_length_2"}
    record = run("lra/pathfinder/elm/paper", scale="smoke", out_dir=tmp_path / "results",
                 overrides=overrides, progress=False)
    assert record["status"] == "complete", record.get("error")
    assert record["data"]["settings"]["silent_token"] == 0
    assert record["data"]["settings"]["difficulty"] == "curv_contour_length_2"


def test_last_output_picks_each_sequence_last_real_step():
    y = jnp.arange(2 * 5 * 3, dtype=jnp.float32).reshape(2, 5, 3)
    np.testing.assert_array_equal(last_output(y, jnp.array([2, 5])), np.stack([y[0, 1], y[1, 4]]))
    np.testing.assert_array_equal(last_output(y), y[:, -1])


# --------------------------------------------------------------------------------------------
# two towers


def test_two_tower_shapes_parameters_and_padding():
    exp = configs.get("lra/retrieval/elm/paper")
    assert exp.model == "two-tower" and exp.model_args["latent"] == 75
    model = nnx.eval_shape(lambda: exp.build(nnx.Rngs(0)))
    assert isinstance(model, TwoTower) and model.encoder.config.num_output == 75
    assert exp.elm_config() == model.encoder.config  # what Table S2 describes
    # ELM encoder (105 inputs, d_m 150) + head 300 -> 50 -> 25 -> 2: Table 1's "~150k"
    assert elm.count_params(model) == 149_907
    lstm = nnx.eval_shape(lambda: configs.get("lra/retrieval/chrono-lstm/paper").build(
        nnx.Rngs(0)))
    assert lstm.encoder_kind == "lstm" and lstm.encoder.readout.kernel.shape == (150, 75)

    small = two_tower(encoder="elm", num_output=2, latent=4, head_dim=8, num_input=12, d_m=3,
                      rngs=nnx.Rngs(0))
    x1 = jax.nn.one_hot(jnp.array([[5, 6, 7, 1, 1], [4, 4, 4, 4, 4]]), 12)
    x2 = jax.nn.one_hot(jnp.array([[8, 9, 1], [5, 1, 1]]), 12)
    out = small(x1, x2, jnp.array([3, 5]), jnp.array([2, 1]))
    assert out.shape == (2, 2)
    # the codes are the encoder's outputs at each document's last real token
    z = small.encode(x1[:1, :3])
    np.testing.assert_allclose(small.encode(x1, jnp.array([3, 5]))[0], z[0], rtol=1e-5)
    manual = small.classify(small.encode(x1, jnp.array([3, 5])), small.encode(x2, jnp.array(
        [2, 1])))
    np.testing.assert_allclose(out, manual, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="encoder kind"):
        TwoTower("gru", {"num_input": 3}, rngs=nnx.Rngs(0))


# --------------------------------------------------------------------------------------------
# configs


def test_lra_configs_cite_their_data_settings_and_path_x_tau_s():
    for name in configs.names():
        if not name.startswith("lra/"):
            continue
        exp = configs.get(name)
        assert exp.data, name
        assert {f"data.{k}" for k in exp.data} <= set(exp.sources), name
    assert configs.get("lra/pathfinder_x/elm/paper").elm_config().tau_s == 150.0
    assert configs.get("lra/pathfinder/elm/paper").elm_config().tau_s == 5.0
    with pytest.raises(KeyError, match="no data setting"):
        configs.override(configs.get("lra/text/elm/paper"), {"data.standin_n_train": 3})


def test_text_without_data_says_where_to_get_it(cache):
    exp = configs.get("lra/text/elm/paper", scale="smoke")
    with pytest.raises(LRADataError, match="aclImdb"):
        make_task(exp, None, 0)


# --------------------------------------------------------------------------------------------
# whole runs


def test_listops_run_on_a_tiny_generated_stand_in(cache, tmp_path):
    record = run("lra/listops/elm/paper", scale="smoke", out_dir=tmp_path / "results",
                 overrides=TINY_LISTOPS, progress=False)
    assert record["status"] == "complete", record.get("error")
    m = record["metrics"]
    assert m["n_test"] == m["n_valid"] == 16 and m["chance_accuracy"] == 0.1
    for split in ("valid", "test"):  # right answers counted over exactly the 16 examples
        assert m[f"{split}_accuracy"] * 16 == pytest.approx(round(m[f"{split}_accuracy"] * 16))
    data = record["data"]
    assert data["stand_in"] and "NOT the LRA release" in data["description"]
    assert data["sizes"] == {"train": 64, "valid": 16, "test": 16} and data["seq_len"] == 24
    assert record["steps_done"] == configs.REDUCED["smoke"][0] * configs.REDUCED["smoke"][1]


def test_text_run_on_real_imdb_reviews(cache, tmp_path):
    root = tmp_path / "lra"
    root.mkdir()
    (root / "aclImdb").symlink_to(shared_path("imdb-subset"), target_is_directory=True)
    record = run("lra/text/elm/paper", scale="smoke", data_dir=root,
                 out_dir=tmp_path / "results", overrides={"data.max_len": 256}, progress=False)
    assert record["status"] == "complete", record.get("error")
    data = record["data"]
    assert not data["stand_in"] and data["description"].startswith("real data")
    assert data["sizes"] == {"train": 1800, "valid": 200, "test": 2000}
    assert data["input_dim"] == 169 and data["seq_len"] == 256
    m = record["metrics"]
    n = configs.EVALUATION["lra"]["smoke"]["test"]
    assert m["n_test"] == n and m["eval_subset"]
    assert m["test_accuracy"] * n == pytest.approx(round(m["test_accuracy"] * n))  # k of n right


def test_retrieval_task_on_a_tiny_aan_file(tmp_path):
    folder = tmp_path / "tsv_data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    words = [b"graph", b"neural", b"parsing", b"tree", b"model", b"speech"]
    for split, n in (("train", 12), ("eval", 4), ("test", 4)):
        rows = [b"\t".join([str(i % 2).encode(), b"a", b"b",
                            b" ".join(rng.choice(words, rng.integers(3, 9))),
                            b" ".join(rng.choice(words, rng.integers(3, 9)))])
                for i in range(n)]
        (folder / f"new_aan_pairs.{split}.tsv").write_bytes(b"\n".join(rows) + b"\n")
    exp = configs.get("lra/retrieval/elm/paper", scale="smoke")
    exp = dataclasses.replace(exp, model_args={**exp.model_args, "d_m": 4, "latent": 3})
    task = make_task(exp, folder, seed=0)
    batch = next(task.batches(0))
    assert batch.x2 is not None and batch.x.shape[0] == exp.train.batch_size
    model = exp.build(nnx.Rngs(0))
    # the loss is the cross-entropy of the pair logits, restated in NumPy
    z = np.asarray(lra_task.logits(model, batch, exp.model_args["num_input"]), np.float64)
    cross_entropy = np.mean(logsumexp(z, axis=-1) - z[np.arange(len(z)), batch.y])
    assert float(task.loss_fn(model, batch)) == pytest.approx(cross_entropy, rel=1e-5)
    metrics = task.evaluate(model)
    assert metrics["n_test"] == 4 and metrics["chance_accuracy"] == 0.5
