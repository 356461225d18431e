"""Offline generators for the two synthetic LRA tasks, writing the release's on-disk formats.

ListOps follows LRA's recipe (``lra_benchmarks/data/listops.py``): random prefix trees of MIN,
MAX, MED (floor of the median) and SM (sum mod 10) over digits, an operator node with
probability 0.25 below the depth limit (10), 2..max_args arguments, kept when the length (2 per
operator, 1 per digit, parentheses not counted) lies strictly inside ``(min_len, max_len)``,
no duplicates, written with LRA's parenthesised syntax to ``basic_{train,val,test}.tsv`` under
the header ``Source\\tTarget``. Unlike LRA, labels are balanced: a tree is kept only while its
label is below its quota (a tenth of all examples), because LRA's raw label distribution is
skewed toward the extremes of MIN and MAX.

Pathfinder (Linsley et al. 2018) is drawn with numpy, in the layout of the release (see
:mod:`elm.data.lra_pathfinder`); ``generate_pathfinder`` writes PNGs and metadata.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable
from pathlib import Path

from elm.data import paths
from elm.data.lra_common import generated_record, mark_generated
from elm.data.lra_pathfinder import draw_pathfinder, generate_pathfinder
from elm.data.lra_text import LISTOPS_FILES, OPERATORS, apply_operator

P_OPERATOR = 0.25  # LRA: a node is a digit with probability 1 - VALUE_P = 0.75


# --------------------------------------------------------------------------------------------
# ListOps


class _TooLong(Exception):
    """A tree outgrew the length band: LRA would reject it, so stop building it."""


def _tree(rng: random.Random, depth: int, max_depth: int, max_args: int,
          budget: int) -> tuple[list[str], int, int]:
    """A random expression: (tokens in LRA's parenthesised syntax, value, LRA length).

    Raises `_TooLong` as soon as the length reaches `budget` (LRA builds such trees to the end
    and then drops them; stopping early draws the same kept trees, faster).
    """
    if depth >= max_depth or rng.random() >= P_OPERATOR:
        digit = rng.randrange(10)
        return [str(digit)], digit, 1
    n_args = rng.randint(2, max_args)
    children = []
    length = 2
    for _ in range(n_args):
        child = _tree(rng, depth + 1, max_depth, max_args, budget - length)
        children.append(child)
        length += child[2]
        if length >= budget:
            raise _TooLong
    op = rng.choice(OPERATORS)
    values = [c[1] for c in children]
    # LRA's to_string of ((((op, a1), a2), ...), ']'): one '(' per argument plus one up front
    tokens = ["("] * (n_args + 1) + [op]
    for child in children:
        tokens += child[0]
        tokens.append(")")
    tokens += ["]", ")"]
    return tokens, apply_operator(op, values), length


def generate_listops_examples(n: int, seed: int = 0, max_depth: int = 10, max_args: int = 10,
                              min_len: int = 500, max_len: int = 2000, balanced: bool = True
                              ) -> list[tuple[str, int]]:
    """`n` distinct (expression, value) pairs, deterministic from `seed`."""
    if min_len >= max_len - 1:
        raise ValueError(f"empty length band ({min_len}, {max_len})")
    rng = random.Random(seed)
    quota = -(-n // 10) if balanced else n
    counts = [0] * 10
    seen: set[str] = set()
    out: list[tuple[str, int]] = []
    while len(out) < n:
        try:
            tokens, value, length = _tree(rng, 1, max_depth, max_args, max_len)
        except _TooLong:
            continue
        if not min_len < length < max_len or counts[value] >= quota:
            continue
        source = " ".join(tokens)
        if source in seen:
            continue
        seen.add(source)
        counts[value] += 1
        out.append((source, value))
    rng.shuffle(out)
    return out


def write_listops_tsv(path: str | Path, rows: list[tuple[str, int]]) -> None:
    """The LRA file format: header ``Source<TAB>Target``, one expression and label per line."""
    with open(path, "w", encoding="ascii") as f:
        f.write("Source\tTarget\n")
        f.writelines(f"{src}\t{label}\n" for src, label in rows)


def generate_listops(out_dir: str | Path, n_train: int = 20_000, n_valid: int = 2_000,
                     n_test: int = 2_000, seed: int = 0, **tree_kw: int) -> Path:
    """Write ``basic_{train,val,test}.tsv`` (LRA: 96k/2k/2k) into `out_dir`; returns it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = generate_listops_examples(n_train + n_valid + n_test, seed, **tree_kw)
    parts = {"train": rows[:n_train], "valid": rows[n_train:n_train + n_valid],
             "test": rows[n_train + n_valid:]}
    for split, name in LISTOPS_FILES.items():
        write_listops_tsv(out_dir / name, parts[split])
    mark_generated(out_dir, "elm.data.lra_generate.generate_listops",
                   {"n_train": n_train, "n_valid": n_valid, "n_test": n_test, "seed": seed,
                    **tree_kw})
    return out_dir


# --------------------------------------------------------------------------------------------
# stand-ins in the cache

STAND_INS: dict[str, tuple[str, Callable[..., Path], dict]] = {
    "listops": ("listops-1000", generate_listops, {"n_train": 20_000, "n_valid": 2_000,
                                                   "n_test": 2_000, "seed": 0}),
    "pathfinder": ("pathfinder32", generate_pathfinder, {"n_images": 20_000, "resolution": 32,
                                                         "seed": 0}),
    "pathfinder_x": ("pathfinder128", generate_pathfinder, {"n_images": 5_000,
                                                            "resolution": 128, "seed": 0}),
}


def stand_in_dir(task: str, cache_dir: str | Path | None = None) -> Path:
    """Where the generated stand-in of `task` lives: ``<cache>/lra/<release folder name>``."""
    if task not in STAND_INS:
        raise KeyError(f"no generator for {task!r}; generated stand-ins: {sorted(STAND_INS)}")
    root = Path(cache_dir) if cache_dir is not None else paths.cache_dir()
    return root / "lra" / STAND_INS[task][0]


def ensure_stand_in(task: str, cache_dir: str | Path | None = None, **params: object) -> Path:
    """Generate `task`'s stand-in into the cache unless it is already there with the same
    parameters (as recorded in its ``GENERATED.json``); returns its folder."""
    folder = stand_in_dir(task, cache_dir)
    _, generator, defaults = STAND_INS[task]
    params = {**defaults, **params}
    record = generated_record(folder)
    if record is not None and {k: record.get(k) for k in params} == params:
        return folder
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    generator(tmp, **params)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


__all__ = [
    "draw_pathfinder",
    "ensure_stand_in",
    "generate_listops",
    "generate_listops_examples",
    "generate_pathfinder",
    "stand_in_dir",
    "write_listops_tsv",
]
