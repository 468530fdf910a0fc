"""An example third-party rlk plugin: registers the ``example-chain`` env and ``example_entropy_target`` loss.

rlk finds this module through the entry point ``example = "rlk_example_plugin"`` of the group
``rlk`` (see ``pyproject.toml``) and calls the hooks below with a ``register`` callback:
``register(name, factory, *, config=None, description="")``.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk_example_plugin.chain import Chain, ChainConfig
from rlk_example_plugin.losses import EntropyTargetConfig, make_entropy_target

__all__ = ["Chain", "ChainConfig", "EntropyTargetConfig", "make_entropy_target"]


@hookimpl
def rlk_register_envs(register):
    # An env factory is called with the validated config object: Chain(ChainConfig(...)).
    register("example-chain", Chain, config=ChainConfig,
             description="example plugin: 1-D chain, reward 1 at the right end (pure JAX)")


@hookimpl
def rlk_register_losses(register):
    # A loss is registered as a factory (config) -> rlk.core.losses.Loss, with its own options.
    register("example_entropy_target", make_entropy_target, config=EntropyTargetConfig,
             description="example plugin: pulls the policy entropy towards a target (PolicyInputs)")
