"""Muesli's losses (Hessel et al. 2021, "Muesli: Combining Improvements in Policy Optimization").

Each term is a named pure loss ``(outputs, batch, config) -> (scalar, metrics)`` so other agents can
add it by name. The targets (CMPO policies, Retrace returns, advantages) are built by the agent with
the target network and arrive in ``batch`` without gradients. Shapes: ``N`` sequences, ``T`` steps,
``A`` actions, ``K`` model steps.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rlk.nn.masking import masked_mean
from rlk.nn.value_transforms import cross_entropy


def cmpo_policy(prior_logits: jax.Array, advantage: jax.Array, clip: float) -> jax.Array:
    """pi_cmpo(a|s) proportional to pi_prior(a|s) exp(clip(adv(s, a), -c, c)) (Muesli eq. 11).

    ``advantage`` is already normalised by the moving scale sigma; returns probabilities ``[..., A]``.
    """
    return jax.nn.softmax(prior_logits + jnp.clip(advantage, -clip, clip), axis=-1)


def sampled_cmpo_cross_entropy(key: jax.Array, prior_logits: jax.Array, advantage: jax.Array, logits: jax.Array,
                               clip: float, num_samples: int, z_init: float) -> jax.Array:
    """Sampled estimate of ``-sum_a pi_cmpo(a) log pi(a)`` for one state (Muesli, section 4.3).

    ``N`` actions are drawn from the prior; each gets weight ``w = exp(clip(adv))`` divided by a
    leave-one-out normaliser ``z_j = (z_init + sum_{k != j} w_k) / N``, an estimate of
    ``E_prior[w]``; the estimate converges to the exact cross-entropy as ``N`` grows.
    """
    actions = jax.random.categorical(key, prior_logits, shape=(num_samples,))
    w = jnp.exp(jnp.clip(advantage[actions], -clip, clip))
    z = (z_init + jnp.sum(w) - w) / num_samples
    log_pi = jax.nn.log_softmax(logits)[actions]
    return -jnp.mean(jax.lax.stop_gradient(w / z) * log_pi)


def muesli_pg_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Policy gradient with clipped importance weights: -E_mu[min(rho, 1) adv/sigma log pi(a|s)] (eq. 10, first term)."""
    if "log_prob" in outputs:  # continuous actions: log pi(a|s) computed by the agent
        log_pi = outputs["log_prob"]
    else:
        log_pi = jnp.take_along_axis(jax.nn.log_softmax(outputs["logits"]), batch["action"][..., None], -1)[..., 0]
    rho = jnp.minimum(jnp.exp(jax.lax.stop_gradient(log_pi) - batch["behaviour_log_prob"]), 1.0)
    loss = -masked_mean(rho * batch["pg_advantage"] * log_pi, batch["pg_mask"])
    return loss, {"rho": masked_mean(rho, batch["pg_mask"])}


def muesli_cmpo_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """CMPO regulariser KL(pi_cmpo || pi) up to a constant: the cross-entropy ``batch['cmpo_ce']``'s form.

    Exact: ``-sum_a pi_cmpo(a) log pi(a)`` over all actions; the agent may instead pass per-state
    sampled estimates in ``outputs['cmpo_ce_sampled']`` (used when present).
    """
    if "cmpo_ce_sampled" in outputs:
        ce = outputs["cmpo_ce_sampled"]
    else:
        ce = cross_entropy(outputs["logits"], batch["cmpo_probs"])
    return masked_mean(ce, batch["state_mask"]), {}


def muesli_model_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """The model's K-step losses: CMPO policy KL, reward and value cross-entropies (section 4.4).

    ``outputs['model_*']`` are ``[K, N, T, ...]`` predictions after k = 1..K model steps from s_t;
    ``batch['model_*']`` the targets at t + k and their masks (episode ends and sequence ends masked).
    """
    if "model_policy_ce" in outputs:  # sampled CMPO cross-entropies (continuous actions), [K, T, N]
        pol_ce = outputs["model_policy_ce"]
    else:
        pol_ce = cross_entropy(outputs["model_logits"], batch["model_policy"])
    pol = masked_mean(pol_ce, batch["model_policy_mask"])
    rew = masked_mean(cross_entropy(outputs["model_reward_logits"], batch["model_reward"]), batch["model_reward_mask"])
    val = masked_mean(cross_entropy(outputs["model_value_logits"], batch["model_value"]), batch["model_value_mask"])
    total = pol + rew + config.value_loss_weight * val
    return total, {"policy": pol, "reward": rew, "value": val}


def muesli_value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Value cross-entropy of the representation's value head against two-hot Retrace targets."""
    ce = cross_entropy(outputs["value_logits"], batch["value_target"])
    return config.value_loss_weight * masked_mean(ce, batch["value_mask"]), {}


LOSSES = {
    "muesli_pg": muesli_pg_loss,
    "muesli_cmpo": muesli_cmpo_loss,
    "muesli_model": muesli_model_loss,
    "muesli_value": muesli_value_loss,
}
