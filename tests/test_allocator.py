"""The allocator's tunables: merged into the environment, handed to every run a sweep starts,
restarting a command line once, and doing what they are for (glibc keeps a freed large block)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from elm.experiments import allocator, sweep
from elm.experiments.sweep import expand

GLIBC = allocator.applies({})
needs_glibc = pytest.mark.skipif(not GLIBC, reason="the tunables apply to glibc Linux only")


@needs_glibc
def test_environment_adds_the_tunables_and_keeps_the_users():
    env = allocator.environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.rtld.x=1",
                                 "OTHER": "kept"})
    tunables = dict(item.split("=") for item in env["GLIBC_TUNABLES"].split(":"))
    assert tunables["glibc.malloc.arena_max"] == "4"  # the user's value wins
    assert tunables["glibc.rtld.x"] == "1"
    assert tunables["glibc.malloc.mmap_max"] == "0"
    assert env["OTHER"] == "kept" and allocator.active(env)
    assert not allocator.active({"GLIBC_TUNABLES": "glibc.malloc.arena_max=1"})


def test_opt_out_and_other_c_libraries_leave_the_environment_alone(monkeypatch):
    assert allocator.environment({"ELM_MALLOC": "system"}) == {"ELM_MALLOC": "system"}
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("", ""))
    assert allocator.environment({}) == {} and allocator.describe() == "system"


@needs_glibc
def test_the_record_names_tunables_set_by_hand_even_under_the_opt_out(monkeypatch):
    monkeypatch.setenv("ELM_MALLOC", "system")
    monkeypatch.setenv("GLIBC_TUNABLES", allocator.environment({})["GLIBC_TUNABLES"])
    assert allocator.describe() == "kept buffers (glibc tunables)"
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=1")
    assert allocator.describe() == "system"


def test_only_the_lra_at_paper_scale_keeps_buffers():
    assert allocator.for_run("lra/listops/elm/paper", "paper")
    assert allocator.for_run("lra/pathfinder_x/chrono-lstm/paper", "paper")
    assert not allocator.for_run("lra/listops/elm/paper", "demo")
    assert not allocator.for_run("neuronio/elm/paper", "paper")
    assert allocator.environment({"A": "1"}, keep=False) == {"A": "1"}


@needs_glibc
@pytest.mark.parametrize(("experiment", "scale", "keeps"), [
    ("lra/listops/elm/paper", "paper", True), ("neuronio/elm/paper", "paper", False),
    ("lra/listops/elm/paper", "smoke", False)])
def test_a_sweep_hands_the_tunables_to_the_runs_that_keep_buffers(experiment, scale, keeps,
                                                                  tmp_path, monkeypatch):
    seen = {}

    def fake_run(cmd, env, **kwargs):
        seen.update(env)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setattr(sweep.subprocess, "run", fake_run)
    run = expand({"experiment": experiment, "scale": scale})[0]
    assert sweep.execute(run, str(tmp_path), None, 0)[0] == 0
    assert allocator.active(seen) == keeps and "JAX_COMPILATION_CACHE_DIR" in seen


CHILD = textwrap.dedent("""
    import ctypes, os, resource, sys, threading
    from elm.experiments import allocator
    allocator.reexec()
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    SIZE = 256 << 20  # above glibc's largest mmap threshold (32 MiB)
    faults = []

    def step():  # what a compiled step does with its temporary buffer, from a worker thread
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        block = libc.malloc(SIZE)
        ctypes.memset(block, 1, SIZE)
        libc.free(block)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)

    for _ in range(2):
        worker = threading.Thread(target=step)
        worker.start()
        worker.join()
    print(allocator.describe(), faults[1])
""")


@needs_glibc
@pytest.mark.parametrize("opt_out", [False, True])
def test_reexec_restarts_once_and_glibc_then_keeps_a_freed_block(opt_out, monkeypatch):
    """The second step reuses the first one's block: no new pages, where the system allocator
    maps and faults in all 65,536 pages of 4 KiB again."""
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    if opt_out:
        monkeypatch.setenv("ELM_MALLOC", "system")
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True).stdout.split()
    how, faults = " ".join(out[:-1]), int(out[-1])
    if opt_out:
        assert how == "system" and faults > 30_000
    else:
        assert how == "kept buffers (glibc tunables)" and faults < 1_000


def test_readme_gives_the_same_tunables():
    """The README's ``export`` line for one's own scripts is the one the runs use."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    line = ":".join(f"{k}={v}" for k, v in allocator.TUNABLES.items())
    assert f"export GLIBC_TUNABLES={line}`" in readme


@pytest.mark.parametrize(("experiment", "restarts"), [("lra/listops/elm/paper", True),
                                                      ("neuronio/elm/paper", False)])
def test_the_run_command_restarts_itself_only_for_runs_that_keep_buffers(experiment, restarts,
                                                                          monkeypatch):
    from elm.experiments import run as run_module

    calls = []
    monkeypatch.setattr(sys, "argv", ["elm-run", experiment, "--scale", "paper"])
    monkeypatch.setattr(run_module.allocator, "reexec", lambda: calls.append(experiment))
    monkeypatch.setattr(run_module, "run", lambda *a, **k: {"status": "complete"})
    assert run_module.main() == 0
    assert calls == ([experiment] if restarts else [])
