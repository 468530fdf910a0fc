"""The design's import rules (ARCHITECTURE.md, "Which way imports run"), read from the source with ``ast``:
every ``import`` in every module under ``rlk/``, at module level or inside a function.

- ``rlk.core`` imports no other room of rlk; ``rlk.nn`` imports core; ``rlk.learn`` core and nn.
- A plugin (``rlk.plugins.<p>``) imports core, nn, learn and its own package: never another plugin.
- The application modules (``rlk.__main__``, ``rlk.cli``, ``rlk.bench``, ``rlk.sweep``, ``rlk.api``) import core, nn and learn
  and reach plugins only through the registry; the package ``rlk`` re-exports the Python API (``rlk.api``).
- Nothing imports a private name (``_name``) of another module, and nothing imports ``experiments``.
- No two modules import each other, directly or through others (no cycle).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
from typing import Mapping, NamedTuple, Optional

import rlk

PACKAGE = Path(rlk.__file__).parent
APPS = {"rlk.__main__", "rlk.cli", "rlk.bench", "rlk.sweep", "rlk.api"}
# The rooms each room may import besides itself and libraries.
ALLOWED = {"core": set(), "nn": {"core"}, "learn": {"core", "nn"}, "plugin": {"core", "nn", "learn"},
           "app": {"core", "nn", "learn"}, "root": {"app"}}


class Violation(NamedTuple):
    """``importer`` imports ``imported`` against ``rule``; a cycle lists its modules in ``imported``."""

    importer: str
    imported: str
    rule: str


# Violations not fixed yet, each with its owner. The test fails when one no longer occurs: delete it then,
# so this list only shrinks.
KNOWN_VIOLATIONS: set = set()  # none left; a rule that must bend for a while gets a commented entry here


def module_name(path: Path, root: Path) -> str:
    """``rlk/core/run.py`` -> ``rlk.core.run``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room(module: str) -> tuple[str, Optional[str]]:
    """The room of an rlk module: ``("plugin", name)``, ``("core", None)``, ... (``experiments`` outside rlk)."""
    parts = module.split(".")
    if parts[0] == "experiments":
        return "experiments", None
    if len(parts) >= 3 and parts[1] == "plugins":
        return "plugin", parts[2]
    if len(parts) >= 2 and parts[1] in ("core", "nn", "learn"):
        return parts[1], None
    if module in APPS:
        return "app", None
    return "root", None  # rlk itself, rlk.plugins (the folder of plugins)


def imports(module: str, source: str, is_package: bool, modules: set[str]) -> list[tuple[str, str]]:
    """``(imported module, imported name or "")`` of every import in ``source``; ``from x import y`` where
    ``x.y`` is a module counts as importing ``x.y``."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub, "") if sub in modules else (base, alias.name))
    return found


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def private(importer: str, target: str, name: str) -> bool:
    """Whether ``importer`` reaches a private name of another module: ``name``, or a private module on the
    path of ``target`` outside the importer's own package."""
    parts = target.split(".")
    hidden = any(is_private(p) and not importer.startswith(".".join(parts[:i]) + ".") for i, p in enumerate(parts))
    return target != importer and (is_private(name) or hidden)


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def violations(sources: Mapping[str, tuple[str, bool]]) -> set[Violation]:
    """Every broken rule in ``sources``: module name -> (source, whether it is a package's ``__init__``)."""
    modules = set(sources)
    found = set()
    edges: dict[str, set[str]] = defaultdict(set)
    for module, (source, is_package) in sources.items():
        kind, plugin = room(module)
        for target, name in imports(module, source, is_package, modules):
            top = target.split(".")[0]
            if top == "experiments" and kind != "experiments":
                found.add(Violation(module, target, "imports experiments"))
            if private(module, target, name):
                found.add(Violation(module, f"{target}.{name}" if name else target, "a private name"))
            if top != "rlk":
                continue
            if target in modules and target != module:
                edges[module].add(target)
            target_kind, target_plugin = room(target)
            if kind == "experiments" or (target_kind, target_plugin) == (kind, plugin):
                continue
            if target_kind == "plugin" and kind == "plugin":
                found.add(Violation(module, target, "another plugin"))
            elif target_kind not in ALLOWED[kind] and not (kind == "root" and target_kind == "root"):
                found.add(Violation(module, target, f"{kind} may not import {target_kind}"))
    for component in cycles(edges):
        found.add(Violation(component[0], " ".join(component), "cycle"))
    return found


def package_sources() -> dict[str, tuple[str, bool]]:
    """Every module under ``rlk/`` (and ``experiments/`` beside it, where it exists)."""
    roots = [PACKAGE] + [p for p in [PACKAGE.parent / "experiments"] if p.is_dir()]
    return {module_name(p, root): (p.read_text(), p.name == "__init__.py")
            for root in roots for p in sorted(root.rglob("*.py"))}


def test_the_checker_finds_each_kind_of_violation():
    core = "from rlk.core.types import TimeStep\n"
    sources = {
        "rlk.core.types": ("X = 1\n_hidden = 2\n", False),
        "rlk.core.run": ("def f():\n    from rlk.plugins.a.agent import make\n", False),  # core -> plugin, in a function
        "rlk.nn.torsos": ("import rlk.learn.optim\n", False),  # nn -> learn
        "rlk.learn.optim": (core, False),
        "rlk.cli": ("from rlk.plugins.a import agent\n", False),  # cli -> plugin, not through the registry
        "rlk.plugins.a": ("from . import agent\n", True),
        "rlk.plugins.a.agent": ("from rlk.plugins.b.losses import loss\nfrom rlk.core.types import _hidden\n", False),
        "rlk.plugins.b": ("", True),
        "rlk.plugins.b.losses": ("from .networks import net\nimport experiments.fig\n", False),
        "rlk.plugins.b.networks": ("from rlk.plugins.b.losses import loss\nfrom rlk.nn.torsos import mlp\n", False),
        "experiments.fig": ("from rlk.plugins.a.agent import _private\nfrom rlk.plugins.b.losses import loss\n", False),
    }
    assert violations(sources) == {
        Violation("rlk.core.run", "rlk.plugins.a.agent", "core may not import plugin"),
        Violation("rlk.nn.torsos", "rlk.learn.optim", "nn may not import learn"),
        Violation("rlk.cli", "rlk.plugins.a.agent", "app may not import plugin"),
        Violation("rlk.plugins.a.agent", "rlk.plugins.b.losses", "another plugin"),
        Violation("rlk.plugins.a.agent", "rlk.core.types._hidden", "a private name"),
        Violation("rlk.plugins.b.losses", "experiments.fig", "imports experiments"),
        Violation("experiments.fig", "rlk.plugins.a.agent._private", "a private name"),
        Violation("rlk.plugins.b.losses", "rlk.plugins.b.losses rlk.plugins.b.networks", "cycle"),
    }
    allowed = {"rlk.core.types": ("", False), "rlk.plugins.a.agent": (core + "import jax\nfrom ._x import y\n", False),
               "rlk.plugins.a._x": ("y = 1\n", False)}
    assert violations(allowed) == set()  # a module's own private submodule is not another module's private name


def test_imports_follow_the_rules():
    found = violations(package_sources())
    assert found - KNOWN_VIOLATIONS == set(), sorted(found - KNOWN_VIOLATIONS)
    assert KNOWN_VIOLATIONS - found == set(), f"fixed: delete from KNOWN_VIOLATIONS {sorted(KNOWN_VIOLATIONS - found)}"
