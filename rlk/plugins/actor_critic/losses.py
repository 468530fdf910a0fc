"""Actor-critic losses, each a named pure function ``(outputs, batch, config) -> (scalar, metrics)``.

``outputs`` holds, on a batch of ``N`` steps, the network's ``value [N]`` and its policy either as
``log_prob [N]`` (of ``batch['action']`` under the current policy) and ``entropy [N]``, which any
action type provides (``networks.Categorical`` / ``networks.Gaussian`` compute them), or as
discrete ``logits [N, A]``, from which the losses compute both. ``batch`` holds what the loss needs
from the data (``action``, ``behaviour_log_prob``, ``advantage``, ``value_target``, ``behaviour_value``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def _log_prob(logits: jax.Array, action: jax.Array) -> jax.Array:
    return jnp.take_along_axis(jax.nn.log_softmax(logits), action[..., None].astype(jnp.int32), -1)[..., 0]


def policy_log_prob(outputs: dict, batch: dict) -> jax.Array:
    """``log pi(a|s) [N]``: ``outputs['log_prob']`` if given, else from discrete ``outputs['logits']``."""
    if "log_prob" in outputs:
        return outputs["log_prob"]
    return _log_prob(outputs["logits"], batch["action"])


def policy_entropy(outputs: dict) -> jax.Array:
    """``H(pi(.|s)) [N]``: ``outputs['entropy']`` if given, else from discrete ``outputs['logits']``."""
    if "entropy" in outputs:
        return outputs["entropy"]
    log_p = jax.nn.log_softmax(outputs["logits"])
    return -jnp.sum(jnp.exp(log_p) * log_p, axis=-1)


def ppo_policy_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Clipped surrogate objective, Schulman et al. 2017 ("PPO"), eq. (7), negated to minimise.

    ``config.clip_eps`` is epsilon; ``batch['advantage']`` is already normalised if desired.
    """
    log_prob = policy_log_prob(outputs, batch)
    ratio = jnp.exp(log_prob - batch["behaviour_log_prob"])
    adv = batch["advantage"]
    clipped = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
    loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
    approx_kl = jnp.mean((ratio - 1.0) - jnp.log(ratio))
    clip_frac = jnp.mean((jnp.abs(ratio - 1.0) > config.clip_eps).astype(jnp.float32))
    return loss, {"approx_kl": approx_kl, "clip_frac": clip_frac}


def clipped_value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Value regression with PPO's value clipping around the behaviour value (as in OpenAI baselines).

    0.5 * max((v - G)^2, (v_old + clip(v - v_old, -eps, eps) - G)^2), averaged.
    """
    v, target, v_old = outputs["value"], batch["value_target"], batch["behaviour_value"]
    v_clipped = v_old + jnp.clip(v - v_old, -config.clip_eps, config.clip_eps)
    loss = 0.5 * jnp.mean(jnp.maximum(jnp.square(v - target), jnp.square(v_clipped - target)))
    return loss, {}


def value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Plain value regression 0.5 * (v - G)^2, averaged."""
    del config
    return 0.5 * jnp.mean(jnp.square(outputs["value"] - batch["value_target"])), {}


def entropy_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Negative policy entropy (minimising it encourages exploration), averaged."""
    del batch, config
    return -jnp.mean(policy_entropy(outputs)), {}


def policy_gradient_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Policy gradient -log pi(a|s) * A with a stopped advantage (IMPALA's policy term with V-trace A)."""
    del config
    log_prob = policy_log_prob(outputs, batch)
    return -jnp.mean(log_prob * jax.lax.stop_gradient(batch["advantage"])), {}


LOSSES = {
    "ppo_policy": ppo_policy_loss,
    "ppo_value": clipped_value_loss,
    "value": value_loss,
    "entropy": entropy_loss,
    "policy_gradient": policy_gradient_loss,
}
