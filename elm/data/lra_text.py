"""LRA text tasks: ListOps (evaluator, TSV reader), IMDB byte-level Text, AAN byte-level Retrieval.

ListOps files (LRA release ``listops-1000/basic_{train,val,test}.tsv``, header
``Source\\tTarget``; the original Nangia & Bowman files have ``Target\\tSource``) hold prefix
expressions in a parenthesised syntax, ``( ( ( [MAX 2 ) 9 ) ] )`` for ``[MAX 2 9 ]``. The
parentheses only repeat what the operator brackets already say, and LRA's length bound (< 2000)
counts tokens without them (``lra_benchmarks/data/listops.py``: 2 per operator, 1 per value;
with parentheses a line is ~3x longer), so the reader drops them, as the S4 pipeline does. The
15 remaining types are the digits, ``[MIN [MAX [MED [SM`` and ``]``.

Text (IMDB, ``aclImdb/{train,test}/{pos,neg}/*.txt``) and Retrieval (AAN, LRA release
``tsv_data/new_aan_pairs.{train,eval,test}.tsv``, columns ``label id1 id2 text1 text2``, no
header) are byte-level, as LRA's ``ByteTextEncoder``: one token per UTF-8 byte, documents cut at
4096 (Text) / 4000 (Retrieval) bytes. The vocabulary is the training split's byte types, most
frequent first, as ``fairseq-preprocess`` builds it (see :mod:`elm.data.lra_common`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from elm.data.lra_common import (
    SPECIALS,
    Split,
    Vocab,
    byte_counts,
    encode_bytes,
    fail,
    pack,
)

# --------------------------------------------------------------------------------------------
# ListOps

LISTOPS_FILES = {"train": "basic_train.tsv", "valid": "basic_val.tsv", "test": "basic_test.tsv"}
OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
CLOSE = "]"
DIGITS = tuple(str(d) for d in range(10))
LISTOPS_TYPES: tuple[str, ...] = (*DIGITS, *OPERATORS, CLOSE)
LISTOPS_VOCAB = Vocab.from_types(LISTOPS_TYPES)  # 4 specials + 15 -> 24 (padded) + <CLS> = 25
PARENS = ("(", ")")
_ALLOWED = frozenset(LISTOPS_TYPES) | frozenset(PARENS)
# every type as one character, so a whole line maps to ids with str.translate + numpy
_ONE_CHAR = {"[MIN": "m", "[MAX": "M", "[MED": "d", "[SM": "s"}
_DROP = str.maketrans("", "", " \t()")
_CHAR_ID = np.full(128, 255, dtype=np.uint8)
for _t in LISTOPS_TYPES:
    _CHAR_ID[ord(_ONE_CHAR.get(_t, _t))] = LISTOPS_VOCAB.id_of(_t)
_SPLIT_CLOSE = re.compile(r"([()\]])")


def apply_operator(op: str, args: list[int]) -> int:
    """One ListOps operator on its arguments (Nangia & Bowman 2018; LRA's ``to_value``)."""
    if op == "[MIN":
        return min(args)
    if op == "[MAX":
        return max(args)
    if op == "[SM":
        return sum(args) % 10
    ordered = sorted(args)  # [MED: int(np.median(args)), i.e. the floor of the mean of the two
    mid = len(ordered) // 2  # middle values when the count is even
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2


def listops_tokens(expr: str) -> list[str]:
    """Whitespace tokens of an expression, with brackets split off digits (``9]`` -> ``9 ]``)."""
    return _SPLIT_CLOSE.sub(r" \1 ", expr).split()


def listops_value(expr: str) -> int:
    """Value of one ListOps expression, e.g. ``[MAX 2 9 [MIN 4 7 ] 0 ]`` -> 9.

    Accepts the bare syntax and the parenthesised one of the LRA and Nangia-Bowman files
    (parentheses are ignored: the ``[OP`` ... ``]`` brackets carry the structure). ``[MED`` is
    the floor of the median, ``[SM`` the sum modulo 10. Raises ``ValueError`` on unknown
    tokens, unbalanced brackets, an operator without arguments or several top-level values.
    """
    stack: list[tuple[str, list[int]]] = []
    result: int | None = None
    for pos, tok in enumerate(listops_tokens(expr)):
        value: int | None = None
        if tok in OPERATORS:
            stack.append((tok, []))
        elif tok == CLOSE:
            if not stack:
                raise ValueError(f"token {pos} ']': closes nothing")
            op, args = stack.pop()
            if not args:
                raise ValueError(f"token {pos} ']': operator {op} has no arguments")
            value = apply_operator(op, args)
        elif tok in DIGITS:
            value = int(tok)
        elif tok not in PARENS:
            raise ValueError(f"token {pos} {tok!r}: unknown; ListOps tokens are "
                             f"{' '.join(LISTOPS_TYPES)} and parentheses")
        if value is None:
            continue
        if stack:
            stack[-1][1].append(value)
        elif result is None:
            result = value
        else:
            raise ValueError(f"token {pos} {tok!r}: a second top-level value; an expression "
                             "has one root")
    if stack:
        raise ValueError(f"{len(stack)} operator(s) never closed with ']'")
    if result is None:
        raise ValueError("empty expression")
    return result


def encode_listops(source: str) -> np.ndarray:
    """Token ids of one (validated) expression, parentheses dropped."""
    for name, char in _ONE_CHAR.items():
        source = source.replace(name, char)
    return _CHAR_ID[np.frombuffer(source.translate(_DROP).encode("ascii"), dtype=np.uint8)]


def _tsv_lines(path: Path) -> list[bytes]:
    if not path.is_file():
        raise fail(path, "no such file", "Check the folder, or generate the data")
    lines = path.read_bytes().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_listops_tsv(path: str | Path, check_labels: bool = False) -> tuple[list[str], np.ndarray]:
    """Sources and labels of a ListOps TSV; the header names the ``Source``/``Target`` columns.

    Every row is validated (field count, label 0..9, tokens); with `check_labels` each label is
    also recomputed with :func:`listops_value`. Errors name the file and line.
    """
    path = Path(path)
    lines = _tsv_lines(path)
    header = lines[0].decode("utf-8", "replace").strip().split("\t") if lines else []
    if "Source" not in header or "Target" not in header:
        raise fail(f"{path}:1", f"header {header} lacks the columns 'Source' and 'Target'",
                   "ListOps TSVs start with the line 'Source<TAB>Target'")
    i_src, i_tgt = header.index("Source"), header.index("Target")
    sources: list[str] = []
    labels = np.zeros(len(lines) - 1, dtype=np.int64)
    for n, raw in enumerate(lines[1:]):
        where = f"{path}:{n + 2}"
        fields = raw.decode("ascii", "replace").rstrip("\r").split("\t")
        if len(fields) != len(header):
            raise fail(where, f"{len(fields)} tab-separated fields, the header has "
                       f"{len(header)}", "Each row is '<expression><TAB><label>'; fix or drop "
                       "the row")
        src, tgt = fields[i_src], fields[i_tgt].strip()
        if tgt not in DIGITS:
            raise fail(where, f"label {tgt!r} is not a digit 0-9", "Fix or drop the row")
        unknown = set(src.split()) - _ALLOWED
        if unknown:
            raise fail(where, f"unknown token(s) {sorted(unknown)}; ListOps tokens are "
                       f"{' '.join(LISTOPS_TYPES)} ( )", "Tokens are separated by spaces")
        if check_labels:
            try:
                value = listops_value(src)
            except ValueError as err:
                raise fail(where, f"malformed expression ({err})", "Fix or drop the row") \
                    from err
            if value != int(tgt):
                raise fail(where, f"label {tgt} but the expression evaluates to {value}",
                           "The file is corrupt or uses other operator rules")
        sources.append(src)
        labels[n] = int(tgt)
    return sources, labels


def read_listops(path: str | Path, max_len: int = 2000, check_labels: bool = False) -> Split:
    """One ListOps TSV as a :class:`Split` of ids (LISTOPS_VOCAB, ``</s>``-terminated, padded)."""
    sources, labels = read_listops_tsv(path, check_labels)
    x, lengths = pack([encode_listops(s) for s in sources], max_len)
    return Split(x, labels, lengths)


# --------------------------------------------------------------------------------------------
# Text (IMDB) and Retrieval (AAN)

IMDB_CLASSES = ("neg", "pos")  # label 0 = negative, 1 = positive (tfds imdb_reviews)
_REVIEW_NAME = re.compile(r"^(\d+)_(\d+)\.txt$")


def _review_key(path: Path) -> tuple[int, str]:
    match = _REVIEW_NAME.match(path.name)
    return (int(match.group(1)) if match else -1, path.name)


def read_imdb_folder(split_dir: str | Path) -> tuple[list[bytes], np.ndarray]:
    """Raw reviews (bytes) and labels of one ``aclImdb/<split>`` folder, ``neg`` then ``pos``,
    each ordered by review id."""
    split_dir = Path(split_dir)
    docs: list[bytes] = []
    labels: list[int] = []
    for label, name in enumerate(IMDB_CLASSES):
        folder = split_dir / name
        if not folder.is_dir():
            raise fail(folder, "no such folder", "The IMDB layout is aclImdb/{train,test}/"
                       "{pos,neg}/<id>_<rating>.txt, as unpacked from aclImdb_v1.tar.gz")
        files = sorted(folder.glob("*.txt"), key=_review_key)
        if not files:
            raise fail(folder, "no .txt reviews", "Unpack the full aclImdb archive here")
        docs.extend(f.read_bytes() for f in files)
        labels.extend([label] * len(files))
    return docs, np.asarray(labels, dtype=np.int64)


def read_aan_tsv(path: str | Path) -> tuple[list[bytes], list[bytes], np.ndarray]:
    """An LRA AAN file: ``label<TAB>id1<TAB>id2<TAB>text1<TAB>text2`` per line, no header
    (LRA reads it with ``use_quote_delim=False``, so fields are split on every tab)."""
    path = Path(path)
    docs1: list[bytes] = []
    docs2: list[bytes] = []
    lines = _tsv_lines(path)
    labels = np.zeros(len(lines), dtype=np.int64)
    for n, raw in enumerate(lines):
        where = f"{path}:{n + 1}"
        fields = raw.rstrip(b"\r").split(b"\t")
        if len(fields) != 5:
            raise fail(where, f"{len(fields)} tab-separated fields, expected 5 (label, id1, "
                       "id2, text1, text2)", "Fix or drop the row")
        try:
            label = float(fields[0])
        except ValueError:
            label = -1.0
        if label not in (0.0, 1.0):
            raise fail(where, f"label {fields[0][:20]!r} is not 0 or 1", "Fix or drop the row")
        labels[n] = int(label)
        docs1.append(fields[3])
        docs2.append(fields[4])
    return docs1, docs2, labels


def byte_vocab(train_docs: Sequence[bytes], size: int) -> Vocab:
    """The fairseq-layout vocabulary of a training split's byte types."""
    return Vocab.from_counts(byte_counts(train_docs), size)


def text_split(docs: Sequence[bytes], labels: np.ndarray, vocab: Vocab, max_len: int) -> Split:
    x, lengths = encode_bytes(docs, vocab, max_len)
    return Split(x, labels, lengths)


def pair_split(docs1: Sequence[bytes], docs2: Sequence[bytes], labels: np.ndarray,
               vocab: Vocab, max_len: int) -> Split:
    x1, len1 = encode_bytes(docs1, vocab, max_len)
    x2, len2 = encode_bytes(docs2, vocab, max_len)
    return Split(x1, labels, len1, x2, len2)


__all__ = [
    "IMDB_CLASSES",
    "LISTOPS_FILES",
    "LISTOPS_TYPES",
    "LISTOPS_VOCAB",
    "OPERATORS",
    "SPECIALS",
    "apply_operator",
    "byte_vocab",
    "encode_listops",
    "listops_tokens",
    "listops_value",
    "pair_split",
    "read_aan_tsv",
    "read_imdb_folder",
    "read_listops",
    "read_listops_tsv",
    "text_split",
]
