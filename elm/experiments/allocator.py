"""Keep a large training step's buffers from one step to the next (glibc only).

Why: on a CPU, JAX's runtime allocates a compiled step's temporary buffers when the step starts
and frees them when it ends. A ListOps training step at the paper's scale (batch 384, 2,000 time
steps) keeps gigabytes of per-step intermediates for its backward pass
(``compiled.memory_analysis()``). glibc's ``malloc`` serves a request that large with a fresh
``mmap`` from the thread's arena and returns it with ``munmap`` when freed, so every step makes
the kernel hand out, and zero, every page of it again, in system time the step waits for.

Three glibc tunables make ``malloc`` keep that memory instead: one arena for every thread
(``arena_max=1``), whose heap grows with ``brk`` (``mmap_max=0``: no ``mmap`` for large blocks)
and is never trimmed back to the system (a ``trim_threshold`` of 1 TiB). The process then holds
its peak memory from one step to the next. Results do not change, only the time.

They are not for every run: with one arena the runtime's threads share one ``malloc`` lock,
and small steps, which allocate little but often (NeuronIO, SHD: milliseconds per step), lose
speed to it. So only the runs that :func:`for_run` names get them: the Long Range Arena at the
paper's scale (batches of 384-768 sequences of 1,000-16,384 steps).
``benchmarks/recurrence.py`` times each shape the way its runs train.

glibc reads its tunables when a process starts, so they are set on the processes this package
starts (:func:`environment`: ``elm.sweep``'s runs) and ``python -m elm.run`` restarts itself once
with them (:func:`reexec`). ``ELM_MALLOC=system`` turns this off; tunables already set in
``GLIBC_TUNABLES`` win over these. Elsewhere (macOS, musl, Windows) nothing changes.
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping

#: The glibc tunables, ``GLIBC_TUNABLES`` syntax ``name=value:name=value``.
TUNABLES: dict[str, str] = {
    "glibc.malloc.arena_max": "1",
    "glibc.malloc.mmap_max": "0",
    "glibc.malloc.trim_threshold": str(1 << 40),
}
OPT_OUT = "ELM_MALLOC"  # "system": leave glibc's allocator as it is


def _parse(text: str) -> dict[str, str]:
    pairs = (item.partition("=") for item in text.split(":") if item)
    return {name: value for name, _, value in pairs}


def _glibc() -> bool:
    """Whether this is a Linux with glibc, the only ``malloc`` that reads these tunables."""
    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def applies(env: Mapping[str, str] | None = None) -> bool:
    """Whether the tunables are used here: a glibc Linux and no ``ELM_MALLOC=system``."""
    env = os.environ if env is None else env
    return _glibc() and env.get(OPT_OUT, "").lower() != "system"


def for_run(experiment: str, scale: str) -> bool:
    """Whether a run of ``experiment`` at ``scale`` keeps its buffers: the LRA at ``paper``."""
    return scale == "paper" and experiment.startswith("lra/")


def environment(env: Mapping[str, str] | None = None, keep: bool = True) -> dict[str, str]:
    """``env`` (default: this process's) with :data:`TUNABLES` added to ``GLIBC_TUNABLES``.

    Tunables that ``env`` already sets keep their values. Unchanged when ``keep`` is false or
    :func:`applies` is.
    """
    env = dict(os.environ if env is None else env)
    if keep and applies(env):
        tunables = {**TUNABLES, **_parse(env.get("GLIBC_TUNABLES", ""))}
        env["GLIBC_TUNABLES"] = ":".join(f"{k}={v}" for k, v in tunables.items())
    return env


def active(env: Mapping[str, str] | None = None) -> bool:
    """Whether ``env``'s ``GLIBC_TUNABLES`` names every tunable of :data:`TUNABLES`."""
    env = os.environ if env is None else env
    return TUNABLES.keys() <= _parse(env.get("GLIBC_TUNABLES", "")).keys()


def describe() -> str:
    """How this process's ``malloc`` runs: "kept buffers (glibc tunables)" or "system".

    Says what glibc read at start, whoever set it: tunables set by hand count even under
    ``ELM_MALLOC=system``, which only stops this package from adding them.
    """
    return "kept buffers (glibc tunables)" if _glibc() and active() else "system"


def reexec() -> None:
    """Restart this command line with the tunables, unless it has them or they do not apply.

    For command lines only: the process is replaced, with the same interpreter and arguments
    (``sys.orig_argv``), before it has done any work.
    """
    if applies() and not active():
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environment())
