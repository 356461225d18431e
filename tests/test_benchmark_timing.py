"""The benchmark's timing loop: each timed step runs settled, as in a training loop.

Behaviour only (which calls are timed and how many run untimed), never speed.
"""

from __future__ import annotations

import time

import pytest


@pytest.fixture
def bench(load_benchmark):
    return load_benchmark("recurrence")


class Counted:
    """A fake step of a given length that counts its calls and records when each began."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.starts = seconds, []

    def __call__(self) -> None:
        self.starts.append(time.perf_counter())
        time.sleep(self.seconds)


def test_short_steps_run_settled_before_each_timed_step(bench, monkeypatch):
    monkeypatch.setattr(bench, "SETTLE_S", 0.2)
    short, warm = Counted(0.001), Counted(0.0)
    times = bench.time_interleaved({"short": (warm, short)}, repeats=3, budget_s=60)
    assert len(warm.starts) == 1 and len(times["short"]) == 3
    # one untimed probe after the warm-up, then per round settling steps for SETTLE_S + 1 timed
    per_round = (len(short.starts) - 1) / 3
    assert per_round >= 10, f"only {per_round} calls per round: no settling"
    assert all(t < 0.2 for t in times["short"]), "a timed sample includes the settling steps"


def test_long_steps_are_timed_without_settling(bench, monkeypatch):
    monkeypatch.setattr(bench, "SETTLE_BELOW_S", 0.005)
    long = Counted(0.01)
    times = bench.time_interleaved({"long": (Counted(0.0), long)}, repeats=3, budget_s=60)
    assert len(long.starts) == 1 + 3  # the untimed probe and the three timed steps
    assert len(times["long"]) == 3


def test_rounds_rotate_and_interleave_the_implementations(bench, monkeypatch):
    monkeypatch.setattr(bench, "SETTLE_BELOW_S", 0.0)  # one call per round each: easy to order
    a, b = Counted(0.0), Counted(0.0)
    bench.time_interleaved({"a": (Counted(0.0), a), "b": (Counted(0.0), b)}, repeats=4,
                           budget_s=60)
    calls = sorted([(t, "a") for t in a.starts[1:]] + [(t, "b") for t in b.starts[1:]])
    assert "".join(name for _, name in calls) == "abbaabba"
