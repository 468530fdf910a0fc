"""Fast start: plugins register light entries (no jax until a plugin is used), lazy factories fail in one line,
and ``rlk train`` fills JAX's persistent compilation cache in the user's cache folder unless switched off."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from rlk.core import compile_cache
from rlk.core.errors import RlkError
from rlk.core.hookspecs import LazyFactory, hookimpl, lazy
from rlk.core.registry import Registry, default_registry

# No plugin imports jax when it registers (envs included: its configs live in envs/config.py).
NO_JAX = """
import sys
import rlk.cli
registry = rlk.cli._registry()
registry.call_commands(rlk.cli.app)
assert registry.plugins and not registry.broken, registry.broken
heavy = sorted(m for m in ("jax", "jaxlib", "optax", "rlax", "distrax", "equinox", "numpy") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_cli_and_registry_import_no_jax():
    proc = subprocess.run([sys.executable, "-c", NO_JAX], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "none"


def _lazy_target(factory) -> LazyFactory | None:
    inner = factory.__wrapped__  # the registry's guard wraps every factory
    while isinstance(inner, functools.partial):
        inner = inner.func
    return inner if isinstance(inner, LazyFactory) else None


def test_every_lazy_builtin_factory_resolves_to_a_callable():
    lazies = {(p.kind, p.name): _lazy_target(p.factory) for p in default_registry().plugins.values() if p.package == "rlk"}
    lazies = {k: v for k, v in lazies.items() if v is not None}
    assert ("agent", "ppo") in lazies and ("backend", "cpu") in lazies and ("loss", "himo") in lazies
    for key, factory in lazies.items():
        assert callable(factory.resolve()), key


def _registry_with(register_agents) -> Registry:
    module = types.ModuleType("fake_plugin")
    module.rlk_register_agents = hookimpl(register_agents)
    registry = Registry()
    registry.load_module("fake", lambda: module, "fake-pkg", "1.0")
    return registry


def test_a_lazy_factory_that_cannot_import_is_one_line_naming_plugin_and_package():
    registry = _registry_with(lambda register: (register("ghost", lazy("no_such_pkg.agent:make"), description="d"),
                                                register("typo", lazy("rlk.core.errors:no_such_factory"))))
    assert not registry.broken
    assert registry.get("agent", "ghost").description == "d"
    assert registry.get("agent", "typo").description == ""  # not LazyFactory's own docstring
    with pytest.raises(RlkError, match=r"^agent 'ghost' \(package 'fake-pkg'\) failed to build: ImportError: "
                                       r"cannot import no_such_pkg\.agent:make \(ModuleNotFoundError"):
        registry.get("agent", "ghost").factory(None, None, None)
    with pytest.raises(RlkError, match=r"^agent 'typo' \(package 'fake-pkg'\) failed to build: .*no_such_factory"):
        registry.get("agent", "typo").factory(None, None, None)


def test_a_malformed_lazy_target_marks_the_plugin_broken():
    registry = _registry_with(lambda register: register("bad", lazy("no_colon_here")))
    assert [b.error for b in registry.broken] == ["ValueError: lazy factory 'no_colon_here' must read 'package.module:attribute'"]


def test_cache_folder_follows_xdg_and_switches_off():
    assert compile_cache.cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/rlk/jax")
    assert compile_cache.cache_dir({}) == Path.home() / ".cache" / "rlk" / "jax"
    assert compile_cache.cache_dir({"XDG_CACHE_HOME": "/x", "RLK_COMPILATION_CACHE": "0"}) is None
    assert compile_cache.cache_dir({"JAX_COMPILATION_CACHE_DIR": "/y"}) is None  # JAX's own variable wins
    assert compile_cache.enable(False) is None  # train --no-compile-cache


def test_train_fills_the_user_cache_folder(tmp_path):
    """One tiny run (no shared test cache: it compiles from scratch) writes its programs under $XDG_CACHE_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_COMPILATION_CACHE", "XLA_FLAGS"))}
    env.update(JAX_PLATFORMS="cpu", XDG_CACHE_HOME=str(tmp_path / "cache"))
    args = ("train", "--steps", "512", "-q", "-o", "agent.num_envs=4", "-o", "agent.unroll_length=8",
            "-o", "log_every_steps=256", "-o", "eval_episodes=4", "--run-dir", str(tmp_path / "run"))
    proc = subprocess.run([sys.executable, "-m", "rlk.cli", *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert any((tmp_path / "cache" / "rlk" / "jax").iterdir())
