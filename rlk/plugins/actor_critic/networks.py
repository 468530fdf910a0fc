"""Separate actor and critic MLPs (PPO's classic-control architecture), for discrete actions."""

from __future__ import annotations

import math
from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp

from rlk.core.types import DiscreteSpec, EnvSpec
from rlk.core.errors import RlkError
from rlk.nn.torsos import MLP


class ActorCritic(eqx.Module):
    actor: MLP
    critic: MLP

    def __call__(self, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One unbatched observation -> (logits [A], value [])."""
        return self.actor(observation), self.critic(observation)[0]


def make_actor_critic(key: jax.Array, spec: EnvSpec, hidden: Sequence[int], agent: str) -> ActorCritic:
    if not isinstance(spec.action, DiscreteSpec):
        raise RlkError(f"agent '{agent}' supports discrete actions only; env '{spec.name}' has {spec.action.kind} actions")
    in_size = math.prod(spec.observation.shape)
    k1, k2 = jax.random.split(key)
    return ActorCritic(
        actor=MLP(k1, in_size, hidden, spec.action.num_values, out_scale=0.01),
        critic=MLP(k2, in_size, hidden, 1, out_scale=1.0),
    )


def apply_batch(net: ActorCritic, observation: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``[N, ...obs]`` -> (logits [N, A], value [N])."""
    return jax.vmap(net)(observation)


def masked_logits(logits: jax.Array, mask) -> jax.Array:
    """Illegal actions get a very low logit where the environment provides a legal-action mask."""
    return logits if mask is None else jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
