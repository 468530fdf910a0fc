"""The design's placement contract, read from the source: plugins other than the backends hold no device
placement (the backend places parameters, environments and batches, which is what lets ``--backend gpu``
run every agent unchanged), and nothing uses ``pmap`` (meshes with ``shard_map``/``jit`` shardings)."""

from __future__ import annotations

import ast
from pathlib import Path

import rlk

PLUGINS = Path(rlk.__file__).parent / "plugins"
PLACING = {"device_put", "devices", "local_devices", "default_device", "pmap"}
# Only the backends place (``backends/jax_host.py`` among them: it runs a JAX env from Sebulba's actor threads
# on the device the backend hands it); experiment scripts (experiments/muesli/throughput.py) live outside rlk.
ALLOWED: set[str] = set()


def placing_calls(source: str) -> list[tuple[int, str]]:
    """(line, name) of every ``jax.<name>(...)`` / ``<name>(...)`` call placing on devices in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name in PLACING:
                found.append((node.lineno, name))
    return found


def test_placing_calls_are_found():
    src = "import jax\nx = jax.device_put(1, jax.devices()[0])\nwith jax.default_device(d):\n    y = jax.pmap(f)(x)\n"
    assert sorted(n for _, n in placing_calls(src)) == ["default_device", "device_put", "devices", "pmap"]
    assert placing_calls("import jax\ny = jax.jit(f)(x)\nz = jax.vmap(f)(x)\n") == []


def test_no_plugin_but_the_backends_places_on_devices():
    offenders = []
    for path in sorted(PLUGINS.rglob("*.py")):
        rel = path.relative_to(PLUGINS).as_posix()
        if rel.startswith("backends/") or rel in ALLOWED:
            continue
        offenders += [f"{rel}:{line} {name}" for line, name in placing_calls(path.read_text())]
    assert not offenders, offenders
    assert all((PLUGINS / a).is_file() for a in ALLOWED)  # the allow-list names files that exist


def test_nothing_uses_pmap():
    uses = [f"{p.relative_to(PLUGINS.parent).as_posix()}:{line}" for p in sorted(PLUGINS.parent.rglob("*.py"))
            for line, name in placing_calls(p.read_text()) if name == "pmap"]
    assert not uses, uses
