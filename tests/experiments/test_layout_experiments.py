"""Experiments stay out of the library: no result file (PNG, CSV, JSON, GIF, Markdown table) under the installed
``rlk/``, and no module of ``rlk`` imports ``experiments``."""

from __future__ import annotations

import ast
from pathlib import Path

import rlk

RLK = Path(rlk.__file__).parent
RESULT_SUFFIXES = {".png", ".csv", ".json", ".gif", ".jpg", ".svg", ".npz"}


def imported_modules(source: str) -> set[str]:
    """Top-level names of every module ``source`` imports (``import a.b`` and ``from a.b import c``: ``a``)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_imported_modules_are_found():
    src = "import experiments.muzero.go_margins\nfrom experiments import x\nfrom . import y\nimport jax, numpy as np\n"
    assert imported_modules(src) == {"experiments", "jax", "numpy"}


def test_no_result_file_in_the_package():
    results = [p.relative_to(RLK).as_posix() for p in RLK.rglob("*")
               if p.suffix.lower() in RESULT_SUFFIXES or (p.suffix == ".md" and p.name != "README.md")]
    assert not results, f"results belong in experiments/<paper>/: {results}"


def test_rlk_imports_nothing_from_experiments():
    offenders = [p.relative_to(RLK).as_posix() for p in sorted(RLK.rglob("*.py"))
                 if "experiments" in imported_modules(p.read_text())]
    assert not offenders, offenders


def test_no_plugin_module_is_a_script():
    """A plugin holds what its paper defines; scripts with a ``__main__`` block belong in experiments/<paper>/."""
    scripts = [p.relative_to(RLK).as_posix() for p in sorted((RLK / "plugins").rglob("*.py")) if "__main__" in p.read_text()]
    assert not scripts, scripts


def test_every_experiment_script_imports():
    """Every script under experiments/ imports (a moved or renamed rlk name fails here, not at the next figure)."""
    import importlib

    root = Path(__file__).resolve().parents[2] / "experiments"
    modules = sorted(".".join(p.relative_to(root.parent).with_suffix("").parts) for p in root.rglob("*.py")
                     if p.name != "__init__.py")
    assert len(modules) >= 17, modules
    for name in modules:
        importlib.import_module(name)
