"""The two-tower model of LRA's Retrieval task: one encoder reads both documents.

Why two towers: Retrieval asks whether two papers cite one another. LRA (Tay et al. 2021)
encodes each document separately with the same encoder and classifies the pair from the two
codes, so the encoder cannot attend across documents. The paper (App. B, "For the Retrieval task
with a two-tower setup, the latent-dimension was 75 for both models") follows it: the ELM (or
Chrono-LSTM) reads each document and its output at the document's last real token, of
dimension 75 (the encoder's ``num_output``), is the document's code.

The classifier is LRA's ``classifier_head_dual`` with its "NLI" interaction
(``lra_benchmarks/models/layers/common_layers.py``): the codes ``z1``, ``z2`` are combined into
``[z1, z2, z1 * z2, z1 - z2]`` and passed through ``Dense(head_dim), relu,
Dense(head_dim // 2), relu, Dense(num_classes)``. The paper does not give the head's width;
``head_dim`` is ours (see ``elm.experiments.configs``).

``last_output`` is also what the single-tower LRA tasks use (:mod:`elm.experiments.tasks.lra`): text
sequences are right-padded, so the output that classifies a sequence is the one at its last
real token, which a causal model computes from the real tokens only.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
from flax import nnx

from elm.baselines.lstm import LSTM
from elm.model import ELM, ELMConfig

Array = jax.Array
ENCODERS = ("elm", "lstm")


def last_output(y: Array, lengths: Array | None = None) -> Array:
    """``y[b, lengths[b] - 1]`` for every sequence ``b`` of ``y`` ``(batch, time, features)``.

    ``lengths`` counts each sequence's real steps (padding follows them); None takes the last
    step of every sequence. Lengths of 0 (never produced by the LRA readers) take step 0.
    """
    if lengths is None:
        return y[:, -1]
    index = jnp.clip(jnp.asarray(lengths, jnp.int32) - 1, 0, y.shape[1] - 1)
    return jnp.take_along_axis(y, index[:, None, None], axis=1)[:, 0]


def build_encoder(kind: Literal["elm", "lstm"], args: Mapping[str, Any], num_output: int, *,
                  rngs: nnx.Rngs) -> nnx.Module:
    """An ELM (``ELMConfig(**args)``) or an LSTM (``LSTM(**args)``) with ``num_output`` outputs."""
    args = {**args, "num_output": num_output}
    if kind == "elm":
        return ELM(ELMConfig(**args), rngs=rngs)
    if kind == "lstm":
        return LSTM(**args, rngs=rngs)
    raise ValueError(f"unknown encoder kind {kind!r}; one of {ENCODERS}")


def _pad_time(x: Array, width: int) -> Array:
    return jnp.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)))


class TwoTower(nnx.Module):
    """One encoder applied to two sequences, then LRA's dual classifier head.

    ``model(x1, x2, lengths1, lengths2)`` takes two batches ``(batch, time, num_input)`` (the
    times may differ) and returns logits ``(batch, num_classes)``. Both documents go through
    the encoder in one call (stacked on the batch axis, the shorter padded with zeros after its
    end, which a causal encoder never reads before the last real step).
    """

    def __init__(self, encoder_kind: Literal["elm", "lstm"], encoder_args: Mapping[str, Any],
                 latent: int = 75, num_classes: int = 2, head_dim: int = 50, *,
                 rngs: nnx.Rngs) -> None:
        if min(latent, num_classes, head_dim // 2) < 1:
            raise ValueError(f"TwoTower sizes must be >= 1 (head_dim >= 2), got latent={latent}, "
                             f"num_classes={num_classes}, head_dim={head_dim}")
        self.encoder_kind = encoder_kind
        self.latent = latent
        self.encoder = build_encoder(encoder_kind, encoder_args, latent, rngs=rngs)
        sizes = (4 * latent, head_dim, head_dim // 2, num_classes)
        self.head = nnx.List([nnx.Linear(a, b, rngs=rngs) for a, b in itertools.pairwise(sizes)])

    def encode(self, x: Array, lengths: Array | None = None) -> Array:
        """The code of each sequence: the encoder's output at its last real step."""
        return last_output(self.encoder(x), lengths)

    def classify(self, z1: Array, z2: Array) -> Array:
        """LRA's NLI interaction ``[z1, z2, z1 z2, z1 - z2]`` and the MLP head."""
        h = jnp.concatenate([z1, z2, z1 * z2, z1 - z2], axis=-1)
        for layer in self.head[:-1]:
            h = jax.nn.relu(layer(h))
        return self.head[-1](h)

    def __call__(self, x1: Array, x2: Array, lengths1: Array | None = None,
                 lengths2: Array | None = None) -> Array:
        x1, x2 = jnp.asarray(x1), jnp.asarray(x2)
        batch, width = x1.shape[0], max(x1.shape[1], x2.shape[1])
        last1 = jnp.full((batch,), x1.shape[1]) if lengths1 is None else lengths1
        last2 = jnp.full((batch,), x2.shape[1]) if lengths2 is None else lengths2
        both = jnp.concatenate([_pad_time(x1, width), _pad_time(x2, width)], axis=0)
        z = self.encode(both, jnp.concatenate([jnp.asarray(last1), jnp.asarray(last2)]))
        return self.classify(z[:batch], z[batch:])


def two_tower(*, encoder: Literal["elm", "lstm"], num_output: int, latent: int = 75,
              head_dim: int = 50, rngs: nnx.Rngs, **encoder_args: Any) -> TwoTower:
    """:class:`TwoTower` from flat settings, as the experiment configs store them: ``encoder`` picks
    the encoder, ``num_output`` is the number of classes, every other keyword is the encoder's
    (so an override such as ``tau_s`` or ``d_m`` reaches the encoder)."""
    return TwoTower(encoder, encoder_args, latent=latent, num_classes=num_output,
                    head_dim=head_dim, rngs=rngs)


__all__ = ["ENCODERS", "TwoTower", "build_encoder", "last_output", "two_tower"]
