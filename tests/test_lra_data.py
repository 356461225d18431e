"""The LRA data layer: ListOps evaluator, readers of the real formats, encodings, generators.

Real samples (read from the shared data folder, skipped when absent): the original ListOps test
set of Nangia & Bowman (every row's label is recomputed), CIFAR-10 test JPEGs and a subset of
aclImdb. Format errors are checked on tiny fixtures written here in each real layout.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from PIL import Image
from scipy import ndimage

from elm.data import lra, lra_generate
from elm.data.lra import LRADataError, listops_value
from elm.data.lra_common import EOS, PAD, UNK, Vocab, fairseq_dim
from elm.data.lra_generate import ensure_stand_in, generate_listops, generate_listops_examples
from elm.data.lra_image import CIFAR10_CLASSES, read_image_folder, rgb_to_gray, to_levels
from elm.data.lra_pathfinder import draw_pathfinder, generate_pathfinder, marker_distance
from elm.data.lra_text import LISTOPS_VOCAB, encode_listops, read_listops, read_listops_tsv

NB_FILE = ("listops-nangia-bowman", "test_d20s.tsv")


# --------------------------------------------------------------------------------------------
# input dimensions (Table S2)


def test_input_dims_match_table_s2():
    from elm.experiments.configs import LRA_TABLES

    assert {t: v[0] for t, v in LRA_TABLES.items()} == lra.INPUT_DIMS
    # fairseq dictionary (4 specials + types, padded to a multiple of 8) + Mega's <CLS>
    assert LISTOPS_VOCAB.size == fairseq_dim(15) == 25
    assert fairseq_dim(164) == 169 and fairseq_dim(157) == 169 and fairseq_dim(165) > 169
    assert fairseq_dim(100) == 105 and fairseq_dim(93) == 105 and fairseq_dim(101) > 105


# --------------------------------------------------------------------------------------------
# ListOps evaluator


@pytest.mark.parametrize(("expr", "value"), [
    ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),
    ("( ( ( [MAX 2 ) 9 ) ] )", 9),
    ("( ( ( ( ( [SM 6 ) 5 ) 9 ) 0 ) ] )", 0),
    ("[MIN 4 7 ]", 4),
    ("[MED 3 8 1 6 ]", 4),  # even count: floor((3 + 6) / 2), as int(np.median(...))
    ("[MED 1 2 ]", 1),
    ("[MED 9 1 5 ]", 5),
    ("[SM 5 7 9 ]", 1),
    ("[SM [MAX 9 9] [MIN 8 3]]", 2),  # brackets glued to digits
    ("7", 7),
])
def test_listops_value(expr, value):
    assert listops_value(expr) == value


@pytest.mark.parametrize(("expr", "message"), [
    ("[MAX 2 10 ]", "unknown"),
    ("[FOO 1 2 ]", "unknown"),
    ("[MAX 2 9", "never closed"),
    ("[MAX 2 9 ] ]", "closes nothing"),
    ("[MAX ]", "no arguments"),
    ("[MAX 1 2 ] 3", "second top-level"),
    ("( )", "empty"),
])
def test_listops_value_rejects_bad_expressions(expr, message):
    with pytest.raises(ValueError, match=message):
        listops_value(expr)


def test_listops_value_agrees_with_every_nangia_bowman_label():
    sources, labels = read_listops_tsv(shared_path(*NB_FILE))  # header Target<TAB>Source
    assert len(sources) == 10_000
    wrong = [i for i, (s, y) in enumerate(zip(sources, labels, strict=True))
             if listops_value(s) != y]
    assert wrong == []


# --------------------------------------------------------------------------------------------
# ListOps reader


def _tsv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_listops_reader_encodes_lra_rows(tmp_path):
    path = _tsv(tmp_path / "basic_test.tsv",
                "Source\tTarget\n( ( ( [MAX 2 ) 9 ) ] )\t9\n[SM 1 [MED 3 4 ] ]\t4\n")
    split = read_listops(path, max_len=12)
    v = LISTOPS_VOCAB.id_of
    first = [v("[MAX"), v("2"), v("9"), v("]"), EOS]
    assert split.x[0].tolist() == first + [PAD] * 7  # parentheses dropped, </s>, right padding
    assert split.lengths.tolist() == [5, 8]
    assert split.y.tolist() == [9, 4]
    assert split.x.dtype == np.uint8 and split.x.max() < 25
    assert sorted({v(t) for t in LISTOPS_VOCAB.types}) == list(range(4, 19))


def test_listops_reader_truncates_like_lra():
    path = shared_path(*NB_FILE)
    assert read_listops(path).lengths.max() == 940  # 2815 tokens with parentheses
    split = read_listops(path, max_len=500)
    assert split.x.shape == (10_000, 500) and split.lengths.max() == 500
    cut = split.lengths == 500
    assert cut.any() and (split.x[~cut, split.lengths[~cut] - 1] == EOS).all()
    assert (split.x[cut, -1] != EOS).any()  # a truncated document loses its </s>
    assert np.array_equal(encode_listops("( ( ( [MAX 2 ) 9 ) ] )"),
                          encode_listops("[MAX 2 9 ]"))


@pytest.mark.parametrize(("text", "line", "message"), [
    ("Source\tTarget\n[MAX 2 9 ]\t9\n[MIN 1 2 ]\n", 3, "1 tab-separated fields"),
    ("Source\tTarget\n[MAX 2 9 ]\t9\n[MAX 2 x ]\t9\n", 3, r"unknown token\(s\) \['x'\]"),
    ("Source\tTarget\n[MAX 2 9 ]\tnine\n", 2, "not a digit"),
    ("Input\tLabel\n[MAX 2 9 ]\t9\n", 1, "lacks the columns"),
])
def test_listops_reader_errors_name_file_and_line(tmp_path, text, line, message):
    path = _tsv(tmp_path / "bad.tsv", text)
    with pytest.raises(LRADataError, match=message) as err:
        read_listops(path)
    assert f"{path}:{line}" in str(err.value)
    assert "data/README.md" in str(err.value)


def test_listops_reader_checks_labels_on_request(tmp_path):
    path = _tsv(tmp_path / "bad.tsv", "Source\tTarget\n[MAX 2 9 ]\t9\n[MAX 2 9 ]\t2\n")
    read_listops(path)
    with pytest.raises(LRADataError, match=r"bad.tsv:3: label 2 but the expression evaluates"):
        read_listops(path, check_labels=True)


def test_missing_files_and_folders_are_named(tmp_path):
    with pytest.raises(LRADataError, match="no such file"):
        read_listops(tmp_path / "basic_train.tsv")
    with pytest.raises(LRADataError, match="holds no listops data"):
        lra.load_listops(tmp_path)
    with pytest.raises(LRADataError, match=r"neg: no such folder"):
        (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
        lra.load_text(tmp_path)


def test_tasks_without_generator_say_where_to_get_data(monkeypatch):
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    with pytest.raises(LRADataError, match=r"cs\.toronto\.edu"):
        lra.load_image()
    with pytest.raises(LRADataError, match="aclImdb"):
        lra.load_text()
    with pytest.raises(LRADataError, match="long-range-arena"):
        lra.load_retrieval()


# --------------------------------------------------------------------------------------------
# Text (real aclImdb subset) and Retrieval


def test_text_reader_on_real_imdb_subset():
    folder = shared_path("imdb-subset")
    data = lra.load_text(folder)
    train, valid, test = data
    assert data.input_dim == 169 and data.n_classes == 2 and data.seq_len == 4096
    assert "real data" in data.provenance
    assert len(train) + len(valid) == 2000 and len(test) == 2000
    assert np.bincount(test.y).tolist() == [1000, 1000]
    assert abs(np.mean(np.concatenate([train.y, valid.y])) - 0.5) < 1e-9
    for split in data:
        assert split.lengths.max() <= 4096 and split.x.max() < 169
        assert (split.x[np.arange(len(split)), split.lengths - 1] == EOS).sum() \
            == (split.lengths < 4096).sum()
    # byte-level: the ids spell the review (the lowest id of test/neg is the first document)
    first = min((folder / "test" / "neg").glob("*.txt"), key=lambda p: int(p.stem.split("_")[0]))
    review = first.read_bytes()
    ids = test.x[0, :test.lengths[0] - 1]
    symbols = {4 + i: t for i, t in enumerate(data.vocab.types)}
    assert bytes(symbols[i] for i in ids) == review[:4096]
    assert data.vocab.types[0] == ord(" ")  # the most frequent byte comes first


def _aan_line(label: str, a: str, b: str) -> str:
    return f"{label}\tid/{a[:3]}\tid/{b[:3]}\t{a}\t{b}\n"


def test_retrieval_reader_two_towers(tmp_path):
    folder = tmp_path / "lra_release" / "tsv_data"
    folder.mkdir(parents=True)
    rows = [("1.0", "graph neural nets", "message passing"), ("0.0", "café", "x" * 50)]
    for split in ("train", "eval", "test"):
        (folder / f"new_aan_pairs.{split}.tsv").write_text(
            "".join(_aan_line(*r) for r in rows), encoding="utf-8")
    data = lra.load_retrieval(tmp_path, max_len=40)
    assert data.input_dim == 105 and data.train.x2 is not None
    assert data.train.y.tolist() == [1, 0]
    assert data.train.lengths.tolist() == [18, 6]  # 17 bytes + </s>; 'café' is 5 bytes
    assert data.train.lengths2.tolist() == [16, 40]  # the 50-byte document is cut at 40
    assert data.test.x2.shape == (2, 40)


def test_byte_vocabulary_is_capped_to_the_table_s2_size():
    docs = [bytes(range(200)) * 2, b"aaaa"]
    vocab = Vocab.from_counts({b: c for b, c in enumerate(np.bincount(
        np.frombuffer(b"".join(docs), np.uint8), minlength=256)) if c}, 105)
    assert vocab.size == 105 and len(vocab.types) == 100
    table = vocab.byte_table()
    assert table[ord("a")] == 4  # most frequent first
    assert (table == UNK).sum() == 256 - 100


@pytest.mark.parametrize(("line", "message"), [
    ("1\tid1\tid2\tonly four\n", "4 tab-separated fields"),
    ("yes\tid1\tid2\ta\tb\n", "not 0 or 1"),
])
def test_retrieval_reader_errors(tmp_path, line, message):
    path = tmp_path / "new_aan_pairs.train.tsv"
    path.write_text(_aan_line("1", "a", "b") + line)
    with pytest.raises(LRADataError, match=message) as err:
        lra.read_aan_tsv(path)
    assert f"{path}:2" in str(err.value)


# --------------------------------------------------------------------------------------------
# Image


def test_grayscale_formulas_and_levels():
    rgb = np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0]], dtype=np.uint8)
    assert rgb_to_gray(rgb, "lra").tolist() == [255, 0, 76, 149]  # tf: floor(w . x/255 * 255.5)
    assert rgb_to_gray(rgb, "pil").tolist() == [255, 0, 76, 150]  # PIL/torchvision luma
    assert to_levels(np.array([0, 15, 16, 255]), 16).tolist() == [0, 0, 1, 15]
    assert to_levels(np.array([31, 32, 255]), 8).tolist() == [0, 1, 7]
    with pytest.raises(ValueError, match="divide 256"):
        to_levels(np.zeros(2), 10)


def _cifar_batch(path: Path, n: int, red: bool = False) -> None:
    data = np.zeros((n, 3072), dtype=np.uint8)
    if red:
        data[:, :1024] = 255  # the R plane comes first
    pickle.dump({b"data": data, b"labels": list(range(n))}, open(path, "wb"), protocol=2)


def test_image_reader_on_cifar_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        _cifar_batch(folder / f"data_batch_{i}", 10, red=i == 1)
    _cifar_batch(folder / "test_batch", 10)
    data = lra.load_image(tmp_path)
    assert data.input_dim == 16 and data.seq_len == 1024
    assert len(data.train) == 45 and len(data.valid) == 5 and len(data.test) == 10
    assert set(np.unique(np.concatenate([data.train.x, data.valid.x]))) == {0, 4}  # red -> 76


def test_cifar_reader_refuses_code(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(os.system, protocol=2))
    with pytest.raises(LRADataError, match="refused to load"):
        lra.read_cifar_batch(path)


def test_image_reader_on_real_cifar_jpegs():
    folder = shared_path("cifar10-test-jpg", "test")
    rgb, labels, names = read_image_folder(folder, limit_per_class=150)
    assert tuple(names) == CIFAR10_CLASSES
    assert np.bincount(labels).tolist() == [150] * 10
    x = lra.image_sequences(rgb, 16)
    assert x.shape == (1500, 1024) and x.dtype == np.uint8
    assert x.min() == 0 and x.max() == 15
    assert 6 < x.mean() < 8.5  # CIFAR-10's mean grey is about 120 of 255
    assert (np.bincount(x.ravel(), minlength=16) > 0).all()


def test_image_reader_errors(tmp_path):
    cls = tmp_path / "test" / "cat"
    cls.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(cls / "0.png")
    Image.new("RGB", (30, 32)).save(cls / "1.png")
    with pytest.raises(LRADataError, match=r"1.png: image is 30x32, expected 32x32"):
        read_image_folder(tmp_path / "test")
    (cls / "1.png").write_bytes(b"not a png")
    with pytest.raises(LRADataError, match=r"1.png: not a readable image"):
        read_image_folder(tmp_path / "test")
    with pytest.raises(LRADataError, match="no such folder"):
        read_image_folder(tmp_path / "train")


# --------------------------------------------------------------------------------------------
# Pathfinder reader


def _pathfinder_fixture(root: Path, size: int = 32) -> Path:
    diff = root / "pathfinder32" / "curv_baseline"
    (diff / "imgs" / "0").mkdir(parents=True)
    (diff / "metadata").mkdir()
    lines = []
    for i in range(4):
        img = np.zeros((size, size), dtype=np.uint8)
        img[i, :] = 255
        Image.fromarray(img).save(diff / "imgs" / "0" / f"sample_{i}.png")
        lines.append(f"imgs/0 sample_{i}.png {i} {i % 2} 1.0 6 2 2 0.5 1 1")
    (diff / "metadata" / "0.npy").write_text("\n".join(lines) + "\n")
    return diff


def test_pathfinder_reader(tmp_path):
    diff = _pathfinder_fixture(tmp_path)
    paths, labels = lra.pathfinder_index(diff)
    assert [p.name for p in paths] == [f"sample_{i}.png" for i in range(4)]
    assert labels.tolist() == [0, 1, 0, 1]
    x = lra.read_pathfinder_images(paths, 32, 16)
    assert x.shape == (4, 1024) and x[2].reshape(32, 32)[2].tolist() == [15] * 32
    data = lra.load_pathfinder(tmp_path, difficulty="curv_baseline")
    assert data.input_dim == 16 and sum(len(s) for s in data) == 4


def test_pathfinder_reader_errors(tmp_path):
    diff = _pathfinder_fixture(tmp_path)
    meta = diff / "metadata" / "0.npy"
    (diff / "imgs" / "0" / "sample_3.png").unlink()
    with pytest.raises(LRADataError, match=r"0.npy:4: lists .*sample_3.png, which does not"):
        lra.pathfinder_index(diff)
    meta.write_text("imgs/0 sample_0.png 0\n")
    with pytest.raises(LRADataError, match=r"0.npy:1: expected 'imgs/<batch>"):
        lra.pathfinder_index(diff)
    meta.write_text("imgs/0 sample_0.png 0 1\nimgs/0 sample_1.png 1 0\n")
    (diff / "imgs" / "0" / "sample_1.png").write_bytes(b"")
    with pytest.warns(UserWarning, match="empty file skipped"):
        paths, _ = lra.pathfinder_index(diff)
    assert len(paths) == 1
    with pytest.raises(LRADataError, match="image is 32x32, expected 128x128"):
        lra.read_pathfinder_images(paths, 128, 8)
    with pytest.raises(LRADataError, match=r"metadata: no such folder"):
        lra.pathfinder_index(tmp_path / "pathfinder32" / "curv_contour_length_14")


# --------------------------------------------------------------------------------------------
# ListOps generator


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_listops_generator_writes_readable_correct_balanced_files(tmp_path):
    kw = {"n_train": 200, "n_valid": 50, "n_test": 50, "min_len": 20, "max_len": 300}
    generate_listops(tmp_path / "a", seed=3, **kw)
    generate_listops(tmp_path / "b", seed=3, **kw)
    generate_listops(tmp_path / "c", seed=4, **kw)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b") != _digest(tmp_path / "c")
    assert (tmp_path / "a" / "basic_train.tsv").read_text().startswith("Source\tTarget\n")
    data = lra.load_listops(tmp_path / "a", check_labels=True)  # every label recomputed
    assert [len(s) for s in data] == [200, 50, 50]
    assert data.input_dim == 25 and "generated data" in data.provenance
    labels = np.concatenate([s.y for s in data])
    assert np.bincount(labels).tolist() == [30] * 10
    sources = [s for s, _ in generate_listops_examples(300, seed=3, min_len=20, max_len=300)]
    assert len(set(sources)) == 300 and all(s.startswith("(") for s in sources[:20])


def test_listops_generator_lra_band_fits_lra_length():
    rows = generate_listops_examples(20, seed=0)  # LRA's band: 500 < length < 2000
    for source, value in rows:
        ids = encode_listops(source)
        assert 500 < len(ids) < 2000 and listops_value(source) == value
        depth = np.cumsum([1 if t.startswith("[") else -1 if t == "]" else 0
                           for t in source.split()])
        assert depth.max() <= 9  # operators at depth 1..9, digits down to 10


# --------------------------------------------------------------------------------------------
# Pathfinder generator


def _markers_connected(clean: np.ndarray) -> bool:
    comp, _ = ndimage.label(clean > 0, structure=np.ones((3, 3)))
    return len(set(comp[clean == 255].tolist())) == 1


@pytest.mark.parametrize(("resolution", "n"), [(32, 400), (128, 60)])
def test_pathfinder_labels_match_connectivity_and_are_not_in_pixel_counts(resolution, n):
    rng = np.random.default_rng(11)
    labels = np.arange(n) % 2
    images, cleans = draw_pathfinder(rng, labels, resolution, 14)
    assert images.shape == (n, resolution, resolution)
    assert [_markers_connected(c) for c in cleans] == labels.astype(bool).tolist()
    for image in images[:20]:
        assert ndimage.label(image == 255)[1] == 2  # two separate markers
    lit = (images > 0).sum(axis=(1, 2))
    diff = abs(lit[labels == 1].mean() - lit[labels == 0].mean())
    assert diff < 3 * lit.std() / np.sqrt(n / 2)  # the label is not in the pixel count
    assert ((images > 0) <= (cleans > 0)).all()  # dashes lie on the clean paths


def test_marker_distance_measures_between_marker_centres():
    levels = np.zeros((3, 32, 32), dtype=np.uint8)
    levels[:, 10:13, 4:7] = 15  # a 3x3 marker centred on (11, 5)
    levels[0, 11, 20] = 15  # one-pixel marker at (11, 20): 15 px to the right
    levels[1, 18:21, 1:4] = 15  # a second 3x3 marker centred on (19, 2)
    levels[:, 2, :] = 9  # paths are darker than markers
    got = marker_distance(levels.reshape(3, -1), 32)
    np.testing.assert_allclose(got, [15.0, np.hypot(8, 3), 0.0])  # image 2: one marker only


def test_short_contours_let_marker_distance_give_the_label_away():
    """Short paths put connected markers closer together; at the release's 14 dashes the
    markers' distance carries (almost) no label information."""
    rng = np.random.default_rng(3)
    labels = np.arange(600) % 2
    for contour, lo, hi in [(2, 0.8, 1.0), (14, 0.0, 0.6)]:
        images, _ = draw_pathfinder(rng, labels, 32, contour)
        d = marker_distance(images.reshape(len(images), -1), 32)
        best = max(((d < t) == labels).mean() for t in np.unique(d))
        assert lo < best < hi, (contour, best)


def test_generator_only_difficulty_reads_where_written_and_errors_where_absent(tmp_path):
    generate_pathfinder(tmp_path / "a" / "pathfinder32", 20, difficulty="curv_baseline")
    with pytest.raises(lra.LRADataError, match="curv_contour_length_2"):
        lra.load_pathfinder(tmp_path / "a", difficulty="curv_contour_length_2")
    generate_pathfinder(tmp_path / "b" / "pathfinder32", 20, difficulty="curv_contour_length_2")
    data = lra.load_pathfinder(tmp_path / "b", difficulty="curv_contour_length_2")
    assert data.train.x.shape[1] == 1024
    with pytest.raises(ValueError, match=r"curv_contour_length_1.*the release has"):
        lra.load_pathfinder(tmp_path, difficulty="curv_contour_length_1")


def test_pathfinder_generator_files(tmp_path):
    generate_pathfinder(tmp_path / "a" / "pathfinder32", 300, per_batch=200, seed=1)
    generate_pathfinder(tmp_path / "b" / "pathfinder32", 300, per_batch=200, seed=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    diff = tmp_path / "a" / "pathfinder32" / "curv_contour_length_14"
    assert sorted(p.name for p in (diff / "metadata").iterdir()) == ["0.npy", "1.npy"]
    data = lra.load_pathfinder(tmp_path / "a")
    assert [len(s) for s in data] == [240, 30, 30]
    assert data.seq_len == 1024 and data.train.x.max() == 15
    labels = np.concatenate([s.y for s in data])
    assert np.bincount(labels).tolist() == [150, 150]
    generate_pathfinder(tmp_path / "x" / "pathfinder128", 10, resolution=128)
    x = lra.load_pathfinder_x(tmp_path / "x")
    assert x.input_dim == 8 and x.seq_len == 16384 and x.train.x.max() == 7


def test_stand_in_is_generated_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ELM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ELM_DATA_DIR", raising=False)
    small = {"n_train": 40, "n_valid": 10, "n_test": 10, "seed": 0, "min_len": 10,
             "max_len": 60}
    name, gen, _ = lra_generate.STAND_INS["listops"]
    monkeypatch.setitem(lra_generate.STAND_INS, "listops", (name, gen, small))
    data = lra.load_listops()
    folder = tmp_path / "cache" / "lra" / "listops-1000"
    assert "generated data" in data.provenance and str(folder) in data.provenance
    stamp = (folder / "basic_train.tsv").stat().st_mtime_ns
    assert ensure_stand_in("listops") == folder
    assert (folder / "basic_train.tsv").stat().st_mtime_ns == stamp  # reused, not redone
    ensure_stand_in("listops", seed=1)  # other parameters: generated again
    assert lra_generate.generated_record(folder)["seed"] == 1
    # ELM_DATA_DIR without the task: warn, then fall back to the stand-in
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path / "empty"))
    with pytest.warns(UserWarning, match="generated stand-in"):
        lra.resolve_task_dir("listops")


def test_real_data_wins_over_stand_in(tmp_path, monkeypatch):
    generate_listops(tmp_path / "lra" / "listops-1000", 20, 5, 5, min_len=10, max_len=60)
    monkeypatch.setenv("ELM_DATA_DIR", str(tmp_path))
    folder, _ = lra.resolve_task_dir("listops")
    assert folder == tmp_path / "lra" / "listops-1000"
    train, valid, test = lra.load_task("listops")
    assert (len(train), len(valid), len(test)) == (20, 5, 5)
