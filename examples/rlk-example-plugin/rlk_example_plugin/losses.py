"""An auxiliary loss any agent that produces ``PolicyInputs`` can add: ``example_entropy_target``.

A loss plugin registers a factory ``make(config) -> rlk.core.losses.Loss`` and, if it has options,
their pydantic config: ``-o agent.loss_weights.example_entropy_target=0.01`` adds it to PPO,
``-o losses.example_entropy_target.target=0.3`` sets its option.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.core.losses import Loss, PolicyInputs, stateless


class EntropyTargetConfig(PluginConfig):
    target: float = Field(0.5, ge=0, description="the policy entropy (nats) the loss pulls towards")


def entropy_target(entropy: jax.Array, target: float) -> tuple[jax.Array, dict]:
    """``0.5 * (H(pi(.|s)) - target)^2`` averaged over ``N`` steps (``entropy [N]``)."""
    return 0.5 * jnp.mean(jnp.square(entropy - target)), {"mean_entropy": jnp.mean(entropy)}


def make_entropy_target(config: EntropyTargetConfig) -> Loss:
    return stateless(PolicyInputs, lambda x: entropy_target(x.entropy, config.target))
