"""The plugin registry: loads every entry point of the group ``rlk`` and indexes what they register.

Built-in plugins come through the same door as third-party ones. Each entry point is loaded and
each of its hooks called under a guard: a plugin that raises is listed as broken, with its error,
and the others still work. ``RLK_LOAD_PLUGINS`` / ``RLK_DISABLE_PLUGINS`` (comma-separated
entry-point names) choose which entry points load.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from importlib import metadata
from typing import Any, Callable, Optional

import pluggy
from pydantic import BaseModel

from rlk.core import hookspecs
from rlk.core.errors import RlkError

GROUP = "rlk"


@dataclasses.dataclass(frozen=True)
class Plugin:
    """One registered thing: an agent, env, loss, model, dataset, backend or architecture."""

    kind: str
    name: str
    factory: Callable[..., Any]
    config: Optional[type[BaseModel]]
    description: str
    package: str
    version: str
    entry_point: str
    inputs: tuple[type, ...] = ()  # agents: the loss input types they produce (``rlk.core.losses``)


@dataclasses.dataclass(frozen=True)
class BrokenPlugin:
    """An entry point (or one registration of it) that failed; ``kind`` is 'plugin' if unknown."""

    kind: str
    name: str
    package: str
    version: str
    error: str
    entry_point: str


def _selected(names: list[str]) -> list[str]:
    load = [n.strip() for n in os.environ.get("RLK_LOAD_PLUGINS", "").split(",") if n.strip()]
    skip = {n.strip() for n in os.environ.get("RLK_DISABLE_PLUGINS", "").split(",") if n.strip()}
    return [n for n in names if (not load or n in load) and n not in skip]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Registry:
    """Plugins by kind and name, plus the broken ones."""

    def __init__(self) -> None:
        self.plugins: dict[tuple[str, str], Plugin] = {}
        self.broken: list[BrokenPlugin] = []
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)

    # -- loading ---------------------------------------------------------------------------
    def load_entry_points(self) -> "Registry":
        eps = list(metadata.entry_points(group=GROUP))
        # Built-ins first (they win name clashes), then third parties, each sorted by name.
        eps.sort(key=lambda ep: (_dist_name(ep) != "rlk", _dist_name(ep), ep.name))
        chosen = set(_selected([ep.name for ep in eps]))
        for ep in eps:
            if ep.name in chosen:
                self.load_module(ep.name, ep.load, _dist_name(ep), _dist_version(ep))
        return self

    def load_module(self, ep_name: str, loader: Callable[[], Any], package: str, version: str) -> None:
        """Import one plugin module and call its register hooks, each under a guard."""
        try:
            module = loader()
        except BaseException as exc:  # noqa: BLE001 - a plugin's import may raise anything
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.broken.append(BrokenPlugin("plugin", ep_name, package, version, _one_line(exc), ep_name))
            return
        try:  # pluggy rejects a taken name, a module registered twice, a hook the spec lacks
            self.manager.register(module, name=f"{package}:{ep_name}")
        except Exception as exc:  # noqa: BLE001
            self.broken.append(BrokenPlugin("plugin", ep_name, package, version, _one_line(exc), ep_name))
            return
        for kind, hook_name in hookspecs.HOOK_OF_KIND.items():
            hook = getattr(self.manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is not module:
                    continue
                register = functools.partial(self._register, kind, package, version, ep_name)
                try:
                    impl.function(register=register)
                except Exception as exc:  # noqa: BLE001
                    self.broken.append(BrokenPlugin(kind, ep_name, package, version, _one_line(exc), ep_name))

    def _register(
        self,
        kind: str,
        package: str,
        version: str,
        ep_name: str,
        name: str,
        factory: Callable[..., Any],
        *,
        config: Optional[type[BaseModel]] = None,
        description: str = "",
        inputs: tuple[type, ...] = (),
    ) -> None:
        if (kind, name) in self.plugins:
            first = self.plugins[(kind, name)]
            self.broken.append(
                BrokenPlugin(
                    kind,
                    name,
                    package,
                    version,
                    f"duplicate {kind} name '{name}': registered by package '{first.package}' "
                    f"and by package '{package}'; keeping '{first.package}'",
                    ep_name,
                )
            )
            return
        doc = description or (factory.__doc__ or "").strip().split("\n")[0]
        self.plugins[(kind, name)] = Plugin(kind, name, factory, config, doc, package, version, ep_name, tuple(inputs))

    # -- lookup ----------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        return sorted(n for (k, n) in self.plugins if k == kind)

    def get(self, kind: str, name: str) -> Plugin:
        try:
            return self.plugins[(kind, name)]
        except KeyError:
            broken = [b for b in self.broken if b.name == name and b.kind in (kind, "plugin")]
            if broken:
                raise RlkError(f"{kind} '{name}' is broken: {broken[0].error}") from None
            known = ", ".join(self.names(kind)) or "none"
            raise RlkError(f"unknown {kind} '{name}' (known: {known})") from None

    def rows(self) -> list[dict[str, str]]:
        """One dict per plugin, for ``rlk list-plugins``."""
        out = [
            dict(name=p.name, kind=p.kind, package=p.package, version=p.version,
                 description=p.description, status="ok")
            for p in sorted(self.plugins.values(), key=lambda p: (p.kind, p.name))
        ]
        out += [
            dict(name=b.name, kind=b.kind, package=b.package, version=b.version,
                 description="", status="broken", error=b.error)
            for b in self.broken
        ]
        return out

    def call_commands(self, app: Any) -> None:
        """Let plugins add CLI commands; a failing plugin is recorded as broken."""
        for impl in self.manager.hook.rlk_register_commands.get_hookimpls():
            try:
                impl.function(app=app)
            except Exception as exc:  # noqa: BLE001
                name = self.manager.get_name(impl.plugin) or "?"
                self.broken.append(BrokenPlugin("plugin", name, "?", "?", _one_line(exc), name))


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


def _dist_version(ep: metadata.EntryPoint) -> str:
    return ep.dist.version if ep.dist is not None else "?"


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry, loaded once from the installed entry points."""
    return Registry().load_entry_points()
