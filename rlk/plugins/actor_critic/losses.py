"""Actor-critic losses as factories ``make(config) -> Loss`` over the inputs of ``rlk.core.losses``.

Each reads one documented input type (``PolicyInputs``, ``ValueInputs``, ``ClippedValueInputs``) on
``N`` steps, so any agent that produces it can use it: ``-o agent.loss_weights.ppo_value=0.5`` on an agent
producing ``ClippedValueInputs``, with ``-o losses.ppo_value.clip_eps=0.1``.
"""

from __future__ import annotations

from typing import Optional

import chex
import jax
import jax.numpy as jnp

from rlk.core.config import PluginConfig
from rlk.core.losses import ClippedValueInputs, Loss, PolicyInputs, ValueInputs, stateless
from rlk.plugins.actor_critic.config import ClipConfig


def ppo_policy(inputs: PolicyInputs, clip_eps: float) -> tuple[jax.Array, dict]:
    """Clipped surrogate objective, Schulman et al. 2017 ("PPO"), eq. (7), negated to minimise."""
    chex.assert_rank([inputs.log_prob, inputs.behaviour_log_prob, inputs.advantage], 1)
    chex.assert_equal_shape([inputs.log_prob, inputs.behaviour_log_prob, inputs.advantage])
    ratio = jnp.exp(inputs.log_prob - inputs.behaviour_log_prob)
    adv = inputs.advantage
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    approx_kl = jnp.mean((ratio - 1.0) - jnp.log(ratio))
    clip_frac = jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32))
    return loss, {"approx_kl": approx_kl, "clip_frac": clip_frac}


def clipped_value(inputs: ClippedValueInputs, clip_eps: float) -> tuple[jax.Array, dict]:
    """Value regression with PPO's value clipping around the behaviour value (as in OpenAI baselines):
    ``0.5 * max((v - G)^2, (v_old + clip(v - v_old, -eps, eps) - G)^2)``, averaged."""
    v, target, v_old = inputs.value, inputs.value_target, inputs.behaviour_value
    chex.assert_rank([v, target, v_old], 1)
    chex.assert_equal_shape([v, target, v_old])
    v_clipped = v_old + jnp.clip(v - v_old, -clip_eps, clip_eps)
    return 0.5 * jnp.mean(jnp.maximum(jnp.square(v - target), jnp.square(v_clipped - target))), {}


def value(inputs: ValueInputs) -> tuple[jax.Array, dict]:
    """Plain value regression ``0.5 * (v - G)^2``, averaged."""
    chex.assert_equal_shape([inputs.value, inputs.value_target])
    return 0.5 * jnp.mean(jnp.square(inputs.value - inputs.value_target)), {}


def entropy(inputs: PolicyInputs) -> tuple[jax.Array, dict]:
    """Negative policy entropy (minimising it encourages exploration), averaged."""
    return -jnp.mean(inputs.entropy), {}


def policy_gradient(inputs: PolicyInputs) -> tuple[jax.Array, dict]:
    """``-log pi(a|s) * A`` with a stopped advantage (IMPALA's policy term, Espeholt et al. 2018, sec. 4.2)."""
    chex.assert_equal_shape([inputs.log_prob, inputs.advantage])
    return -jnp.mean(inputs.log_prob * jax.lax.stop_gradient(inputs.advantage)), {}


def make_ppo_policy(config: ClipConfig) -> Loss:
    return stateless(PolicyInputs, lambda x: ppo_policy(x, config.clip_eps))


def make_ppo_value(config: ClipConfig) -> Loss:
    return stateless(ClippedValueInputs, lambda x: clipped_value(x, config.clip_eps))


def make_value(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(ValueInputs, value)


def make_entropy(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(PolicyInputs, entropy)


def make_policy_gradient(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(PolicyInputs, policy_gradient)


