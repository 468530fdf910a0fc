"""The plugin registry: loads every entry point of the group ``rlk`` and indexes what they register.

Built-in plugins come through the same door as third-party ones. Each entry point is loaded and
each of its hooks called under a guard: a plugin that raises anything (``SystemExit`` and
``KeyboardInterrupt`` included), registers a config that is not a pydantic model class, or adds a
command that clashes with a built-in one is listed as broken, with its reason, and the others still
work. A factory that raises or returns None is a one-line ``RlkError`` naming the plugin and its
package. ``RLK_LOAD_PLUGINS`` / ``RLK_DISABLE_PLUGINS`` (comma-separated entry-point names) choose
which entry points load.

Registration is light: built-in plugins register ``lazy("module:attr")`` factories (``rlk.core.hookspecs``)
with configs from jax-free ``config.py`` modules, so the heavy module of a plugin imports when its factory is
first called; a lazy import that fails is the same one-line ``RlkError`` as a failing factory.
"""

from __future__ import annotations

import dataclasses
import difflib
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
    two_player: bool = False  # agents: plays two-player games (``EnvSpec.num_players == 2``)

    def check_players(self, spec: Any) -> None:
        """A one-line ``RlkError`` if this agent cannot play the env of ``spec`` (an ``EnvSpec``)."""
        players = getattr(spec, "num_players", 1)
        if players == 2 and not self.two_player:
            raise RlkError(f"agent '{self.name}' does not play two-player games; env '{spec.name}' has 2 players "
                           "(use an agent registered with two_player=True, e.g. muzero)")


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
        self.origins: dict[Any, tuple[str, str, str]] = {}  # plugin module -> (package, version, entry point)
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
        try:  # SystemExit and KeyboardInterrupt too: a plugin's import never ends rlk
            module = loader()
        except BaseException as exc:  # noqa: BLE001 - a plugin's import may raise anything
            self.broken.append(BrokenPlugin("plugin", ep_name, package, version, _one_line(exc), ep_name))
            return
        try:  # pluggy rejects a taken name, a module registered twice, a hook the spec lacks
            self.manager.register(module, name=f"{package}:{ep_name}")
        except BaseException as exc:  # noqa: BLE001
            self.broken.append(BrokenPlugin("plugin", ep_name, package, version, _one_line(exc), ep_name))
            return
        self.origins[module] = (package, version, ep_name)
        for kind, hook_name in hookspecs.HOOK_OF_KIND.items():
            hook = getattr(self.manager.hook, hook_name)
            for impl in hook.get_hookimpls():
                if impl.plugin is not module:
                    continue
                register = functools.partial(self._register, kind, package, version, ep_name)
                try:
                    impl.function(register=register)
                except BaseException as exc:  # noqa: BLE001 - SystemExit in a hook is the plugin's fault too
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
        two_player: bool = False,
    ) -> None:
        def broken(error: str) -> None:
            self.broken.append(BrokenPlugin(kind, str(name), package, version, error, ep_name))

        if not isinstance(name, str) or not name:
            return broken(f"{kind} name must be a non-empty string, not {name!r}")
        if not callable(factory):
            return broken(f"{kind} '{name}': factory {factory!r} is not callable")
        if config is not None and not (isinstance(config, type) and issubclass(config, BaseModel)):
            return broken(f"{kind} '{name}': config {config!r} is not a pydantic model class")
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
        doc = description or ("" if isinstance(factory, hookspecs.LazyFactory) else
                              (factory.__doc__ or "").strip().split("\n")[0])
        self.plugins[(kind, name)] = Plugin(kind, name, _guarded(kind, name, package, factory), config, doc, package,
                                            version, ep_name, tuple(inputs), bool(two_player))

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
            raise RlkError(unknown_name(kind, name, self.names(kind))) from None

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
        """Let plugins add CLI commands. A plugin whose hook raises (anything) or whose command takes a
        name already taken (a built-in's or an earlier plugin's) is recorded as broken, and every command
        it added is removed again: a plugin never replaces or disables a built-in command."""
        builtin = {_command_name(c) for c in app.registered_commands} | {g.name for g in app.registered_groups}
        taken = set(builtin)
        for impl in self.manager.hook.rlk_register_commands.get_hookimpls():
            package, version, ep_name = self.origins.get(impl.plugin, ("?", "?", self.manager.get_name(impl.plugin) or "?"))
            commands, groups = list(app.registered_commands), list(app.registered_groups)
            try:
                impl.function(app=app)
                error = None
            except BaseException as exc:  # noqa: BLE001 - SystemExit in a plugin's hook must not end rlk
                error = _one_line(exc)
            added = [_command_name(c) for c in app.registered_commands[len(commands):]]
            added += [g.name for g in app.registered_groups[len(groups):]]
            clash = next((n for n in added if n in taken), None)
            if error is None and clash is not None:
                error = f"command '{clash}' clashes with " + ("a built-in" if clash in builtin else "another plugin's")
            if error is not None:
                app.registered_commands[:], app.registered_groups[:] = commands, groups
                self.broken.append(BrokenPlugin("command", ep_name, package, version, error, ep_name))
                continue
            taken |= set(added)


def _command_name(info: Any) -> str:
    """The name Typer gives a registered command (its ``name``, else its function's, dashed)."""
    return info.name or info.callback.__name__.lower().replace("_", "-")


def unknown_name(kind: str, name: str, known: list[str]) -> str:
    """``unknown env 'catc'; did you mean 'catch'?``; without a close name, the known ones when they are
    few, else their count and where to see them."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[k] for k in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)]
    if close:
        return f"unknown {kind} '{name}'; did you mean " + " or ".join(f"'{c}'" for c in close) + "?"
    if len(known) <= 12:
        return f"unknown {kind} '{name}' (known: {', '.join(known) or 'none'})"
    return f"unknown {kind} '{name}' ({len(known)} known; `rlk list-plugins` lists them)"


def _guarded(kind: str, name: str, package: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """``factory`` whose failure (an exception, or None returned) is a one-line ``RlkError`` naming the
    plugin and its package; an ``RlkError`` it raises itself already names the culprit and passes."""

    @functools.wraps(factory)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            out = factory(*args, **kwargs)
        except RlkError:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's factory may raise anything
            raise RlkError(f"{kind} '{name}' (package '{package}') failed to build: {_one_line(exc)}") from exc
        if out is None:
            raise RlkError(f"{kind} '{name}' (package '{package}'): its factory returned None")
        return out

    return call


def _dist_name(ep: metadata.EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else "?"


def _dist_version(ep: metadata.EntryPoint) -> str:
    return ep.dist.version if ep.dist is not None else "?"


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The process-wide registry, loaded once from the installed entry points."""
    return Registry().load_entry_points()
