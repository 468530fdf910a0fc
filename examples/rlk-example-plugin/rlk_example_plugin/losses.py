"""An auxiliary loss any agent that composes losses by name can add: ``example_l2_logits``.

Same shape as the losses in ``rlk.plugins.actor_critic.losses``: ``outputs`` holds the network's
``logits [N, A]`` (and ``value [N]``) on a batch of ``N`` steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def l2_logits_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """0.5 * sum_a logits[n, a]^2, averaged over the batch: keeps logits (and the policy) from saturating.

    Logits masked out as illegal (set to the dtype's minimum by agents that honour a
    legal-action mask) are left out, so the penalty stays finite in games such as Go.

    Args:
      outputs: ``{"logits": [N, A], ...}``.
      batch: unused.
      config: the agent's config (unused; the weight comes from ``agent.loss_weights``).

    Returns:
      ``(loss [], {"mean_abs_logit": []})``.
    """
    del batch, config
    logits = outputs["logits"]
    legal = logits > jnp.finfo(logits.dtype).min / 2
    logits = jnp.where(legal, logits, 0.0)
    loss = 0.5 * jnp.mean(jnp.sum(jnp.square(logits), axis=-1))
    mean_abs = jnp.sum(jnp.abs(logits)) / jnp.maximum(jnp.sum(legal), 1)
    return loss, {"mean_abs_logit": mean_abs}
