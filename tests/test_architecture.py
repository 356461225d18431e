"""The layers import one way (book -> experiments -> data, baselines -> core), and the library
declares every package it imports, so ``pip install <checkout>`` alone gives modules that import.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ELM = REPO / "elm"
#: The stable entry points that re-export the experiments layer under their old names.
SHIMS = {"configs.py", "run.py", "sweep.py"}


def _imports(path: Path) -> set[str]:
    """Absolute module names imported anywhere in ``path`` (also inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _layer_files() -> dict[str, list[Path]]:
    core = [p for p in ELM.glob("*.py") if p.name not in SHIMS]
    return {
        "core": core,
        "baselines": sorted((ELM / "baselines").glob("*.py")),
        "data": sorted((ELM / "data").rglob("*.py")),
        "experiments": sorted((ELM / "experiments").rglob("*.py")),
    }


#: What each layer must not import (prefixes of module names).
FORBIDDEN = {
    "core": ("elm.baselines", "elm.data", "elm.experiments", "elm.configs", "elm.run",
             "elm.sweep", "elmbook"),
    "baselines": ("elm.data", "elm.experiments", "elm.configs", "elmbook"),
    "data": ("elm.experiments", "elm.configs", "elm.baselines", "elmbook"),
    "experiments": ("elmbook",),
}


@pytest.mark.parametrize("layer", list(FORBIDDEN))
def test_layers_import_one_way(layer):
    files = _layer_files()[layer]
    assert files, f"no modules found for layer {layer}"
    bad = [f"{p.relative_to(REPO)} imports {name}" for p in files for name in sorted(_imports(p))
           if name.startswith(FORBIDDEN[layer])]
    assert not bad, "\n".join(bad)


def test_the_check_sees_a_forbidden_import(tmp_path):
    """The scan above must catch a lazy import inside a function too."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from elm.experiments import configs\n    return configs\n")
    assert "elm.experiments" in _imports(module)


#: import name -> distribution name where they differ
DISTRIBUTIONS = {"yaml": "PyYAML", "sklearn": "scikit-learn", "PIL": "pillow",
                 "orbax": "orbax-checkpoint"}
#: optional extras, imported lazily where they are needed
EXTRAS = {"neuron", "ray", "kagglehub"}


def test_every_third_party_import_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {req.split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
                for req in project["dependencies"]}
    optional = {req.split(">")[0].split("=")[0].strip().lower()
                for reqs in project["optional-dependencies"].values() for req in reqs}
    missing = set()
    for path in ELM.rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ("elm", "__future__") or top in sys.stdlib_module_names:
                continue
            dist = DISTRIBUTIONS.get(top, top).lower()
            if dist in declared:
                continue
            if top in EXTRAS and (dist in optional or top == "kagglehub"):
                continue
            missing.add(f"{top} (in {path.relative_to(REPO)})")
    assert not missing, f"imported but not declared in pyproject.toml: {sorted(missing)}"


def test_console_scripts_point_at_main_functions():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert set(scripts) >= {"elm-run", "elm-sweep"}
    for target in scripts.values():
        module, _, func = target.partition(":")
        path = REPO / (module.replace(".", "/") + ".py")
        if not path.exists():  # a console script for a module that is not there yet
            pytest.fail(f"{target}: {path.relative_to(REPO)} does not exist")
        tree = ast.parse(path.read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == func for n in tree.body), target
