"""pluggy hook specifications: one ``rlk_register_*`` hook per plugin kind.

A plugin module (named by an entry point of the group ``rlk``) implements any of these with
``@rlk.core.hookspecs.hookimpl``. Each ``register`` callback takes
``register(name, factory, *, config=None, description="", inputs=(), two_player=False)``:

- ``factory``: agents ``(config, spec, axis_name, losses) -> Agent`` (``losses``: the run's
  ``rlk.core.losses.LossSet``); envs ``(config) -> Environment``; losses ``(config) -> Loss``
  (``rlk.core.losses.Loss``); models ``(config, dataset_spec) -> Model``;
  datasets ``(config) -> Dataset``; backends ``(config) -> Backend``;
  architectures ``(make_agent, env, backend, run_config) -> Program`` where ``make_agent(axis_name)``
  builds the agent; loggers ``(config, run_dir, run_info) -> Logger`` (``rlk.core.logging``; a tracker's
  library is imported by the factory, not at registration); launchers ``(config, out_dir) -> Launcher``
  (``rlk.core.launch``: how ``rlk sweep`` runs its jobs; an engine's library is imported by the factory).
  A factory whose plugin has no ``config`` is called with ``None``.
- ``factory`` may be ``lazy("package.module:attribute")``: the module is imported on the factory's first
  call, not at registration. Built-in plugins register this way so that ``rlk --help`` and
  ``rlk list-plugins`` import no jax: the registering module imports only its light ``config.py``
  (pydantic configs, loss input types). ``functools.partial(lazy(...), arg)`` binds arguments; a plain
  callable works as before. A lazy import that fails is the same one-line error as a failing factory.
- ``config``: a pydantic model class whose defaults are the paper's (``None``: no options).
- ``inputs`` (agents only): the loss input types the agent produces (``rlk.core.losses``), so that a
  loss it cannot feed fails when the run is built. Such an agent's config has ``loss_weights``
  (loss name -> weight), and its factory receives the resolved ``LossSet``.
- ``two_player`` (agents only, default False): the agent plays two-player games
  (``EnvSpec.num_players == 2``, e.g. pgx ``go_9x9``); other agents are refused on them before compiling.

A hook that raises anything, a ``config`` that is not a pydantic model class, or a command whose name
is taken marks the plugin broken (``rlk list-plugins`` shows why); a factory that raises or returns
None is a one-line error naming the plugin and its package.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import pluggy

PROJECT = "rlk"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Register = Callable[..., None]


@dataclasses.dataclass(frozen=True)
class LazyFactory:
    """A factory named by ``target`` (``"package.module:attribute"``), imported when first called."""

    target: str

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def resolve(self) -> Callable[..., Any]:
        """The named callable; an ``ImportError`` naming ``target`` if its module or attribute is missing."""
        module_name, _, attribute = self.target.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ImportError(f"cannot import {self.target} ({type(exc).__name__}: {exc})") from exc


def lazy(target: str) -> LazyFactory:
    """``lazy("rlk.plugins.actor_critic.ppo:make_ppo")``: a factory whose module loads on its first call."""
    module_name, sep, attribute = target.partition(":")
    if not (module_name and sep and attribute):
        raise ValueError(f"lazy factory {target!r} must read 'package.module:attribute'")
    return LazyFactory(target)


KINDS = ("agent", "env", "loss", "model", "dataset", "backend", "architecture", "logger", "launcher")


@hookspec
def rlk_register_agents(register: Register) -> None:
    """Register agent factories ``(config, spec, axis_name) -> Agent``."""


@hookspec
def rlk_register_envs(register: Register) -> None:
    """Register environment factories ``(config) -> Environment | HostEnvironment``."""


@hookspec
def rlk_register_losses(register: Register) -> None:
    """Register loss factories ``(config) -> rlk.core.losses.Loss`` (a config class per loss, its own options)."""


@hookspec
def rlk_register_models(register: Register) -> None:
    """Register model factories ``(config, dataset) -> Model``."""


@hookspec
def rlk_register_datasets(register: Register) -> None:
    """Register dataset factories ``(config) -> Dataset``."""


@hookspec
def rlk_register_backends(register: Register) -> None:
    """Register backend factories ``(config) -> Backend``."""


@hookspec
def rlk_register_architectures(register: Register) -> None:
    """Register architectures ``(make_agent, env, backend, run_config) -> Program``."""


@hookspec
def rlk_register_loggers(register: Register) -> None:
    """Register metric loggers ``(config, run_dir, run_info) -> rlk.core.logging.Logger``."""


@hookspec
def rlk_register_launchers(register: Register) -> None:
    """Register sweep launchers ``(config, out_dir) -> rlk.core.launch.Launcher`` (``rlk sweep --launcher NAME``)."""


@hookspec
def rlk_register_commands(app: Any) -> None:
    """Add commands to the ``rlk`` Typer app."""


HOOK_OF_KIND = {
    "agent": "rlk_register_agents",
    "env": "rlk_register_envs",
    "loss": "rlk_register_losses",
    "model": "rlk_register_models",
    "dataset": "rlk_register_datasets",
    "backend": "rlk_register_backends",
    "architecture": "rlk_register_architectures",
    "logger": "rlk_register_loggers",
    "launcher": "rlk_register_launchers",
}
