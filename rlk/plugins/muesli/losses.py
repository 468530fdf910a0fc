"""Muesli's losses (Hessel et al. 2021, "Muesli: Combining Improvements in Policy Optimization", arXiv:2104.06159).

Each loss is a factory ``make(config) -> Loss`` (``rlk.core.losses``) over a documented input type:
``muesli_pg`` reads the shared ``PolicyInputs`` (so it composes onto any agent producing them, and
actor-critic's ``entropy`` composes onto Muesli); ``muesli_cmpo``, ``muesli_model`` and ``muesli_value`` read
``MuesliInputs``, which only Muesli produces. The targets (CMPO policies, Retrace returns, normalised
advantages) are built by the agent with its target network and carry no gradient. The cross-entropies against
a CMPO target are computed by the agent for its policy family (categorical: exact over all actions or the
sampled estimator; Gaussian: the sampled estimator), with the functions of this module.

Shapes: ``N`` sequences of ``T`` steps (targets for the ``T - 1`` first), ``K`` model steps, ``A`` actions.
"""

from __future__ import annotations

from typing import Optional

import chex
import jax
import jax.numpy as jnp

from rlk.core.config import PluginConfig
from rlk.core.losses import Loss, PolicyInputs, stateless
from rlk.nn.masking import masked_mean
from rlk.nn.value_transforms import cross_entropy
from rlk.plugins.muesli.config import MuesliInputs, ValueWeightConfig


# -- CMPO targets and cross-entropies (used by the agent to fill MuesliInputs) ---------------------------------
def cmpo_policy(prior_logits: jax.Array, advantage: jax.Array, clip: float) -> jax.Array:
    """pi_cmpo(a|s) proportional to pi_prior(a|s) exp(clip(adv(s, a), -c, c)) (Muesli eq. 11).

    ``advantage`` is already normalised by the moving scale sigma; returns probabilities ``[..., A]``.
    """
    return jax.nn.softmax(prior_logits + jnp.clip(advantage, -clip, clip), axis=-1)


def sampled_cmpo_cross_entropy(key: jax.Array, prior_logits: jax.Array, advantage: jax.Array, logits: jax.Array,
                               clip: float, num_samples: int, z_init: float) -> jax.Array:
    """Sampled estimate of ``-sum_a pi_cmpo(a) log pi(a)`` for one state, categorical actions (section 4.3).

    ``N`` actions are drawn from the prior; each gets weight ``w = exp(clip(adv))`` divided by a
    leave-one-out normaliser ``z_j = (z_init + sum_{k != j} w_k) / N``, an estimate of
    ``E_prior[w]``; the estimate converges to the exact cross-entropy as ``N`` grows.
    """
    chex.assert_rank([prior_logits, advantage, logits], 1)
    actions = jax.random.categorical(key, prior_logits, shape=(num_samples,))
    w = jnp.exp(jnp.clip(advantage[actions], -clip, clip))
    z = (z_init + jnp.sum(w) - w) / num_samples
    log_pi = jax.nn.log_softmax(logits)[actions]
    return -jnp.mean(jax.lax.stop_gradient(w / z) * log_pi)


def sampled_cmpo_weights(adv: jax.Array, clip: float, z_init: float) -> jax.Array:
    """``[..., S]`` normalised advantages of S prior samples -> weights ``w_i / z_i`` (section 4.3), with
    ``w_i = exp(clip(adv_i, -c, c))`` and ``z_i = (z_init + sum_{l != i} w_l) / S``."""
    S = adv.shape[-1]
    w = jnp.exp(jnp.clip(adv, -clip, clip))
    z = (z_init + jnp.sum(w, axis=-1, keepdims=True) - w) / S
    return w / z


def weighted_sample_cross_entropy(weights: jax.Array, log_prob: jax.Array) -> jax.Array:
    """``-mean_i (w_i / z_i) log pi(a_i|s)`` over the last (sample) axis: the sampled CMPO cross-entropy from
    ``sampled_cmpo_weights`` and the policy's log-probabilities of the same samples, both ``[..., S]``."""
    chex.assert_equal_shape([weights, log_prob])
    return -jnp.mean(weights * log_prob, -1)


# -- the losses --------------------------------------------------------------------------------------------
def clipped_pg(log_prob: jax.Array, behaviour_log_prob: jax.Array, advantage: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Policy gradient with clipped importance weights, -E_mu[min(rho, 1) adv log pi(a|s)] (eq. 10, first term).

    ``[N]`` each; ``advantage`` normalised and without gradient. Returns the loss and the mean of ``rho``."""
    chex.assert_rank([log_prob, behaviour_log_prob, advantage], 1)
    chex.assert_equal_shape([log_prob, behaviour_log_prob, advantage])
    rho = jnp.minimum(jnp.exp(jax.lax.stop_gradient(log_prob) - behaviour_log_prob), 1.0)
    return -jnp.mean(rho * advantage * log_prob), jnp.mean(rho)


def cmpo_regulariser(cmpo_ce: jax.Array) -> jax.Array:
    """KL(pi_cmpo || pi) up to a constant (eq. 10, second term): the mean cross-entropy ``cmpo_ce [T-1, N]``."""
    chex.assert_rank(cmpo_ce, 2)
    return jnp.mean(cmpo_ce)


def value_loss(value_logits: jax.Array, value_target: jax.Array, value_loss_weight: float) -> jax.Array:
    """Weighted value cross-entropy of the value head against two-hot Retrace returns, ``[T-1, N, atoms]`` each."""
    chex.assert_rank(value_logits, 3)
    chex.assert_equal_shape([value_logits, value_target])
    return value_loss_weight * jnp.mean(cross_entropy(value_logits, value_target))


def model_loss(x: MuesliInputs, value_loss_weight: float) -> tuple[jax.Array, dict]:
    """The model's K-step losses (section 4.4): CMPO policy cross-entropy, reward and weighted value
    cross-entropies against the targets at j + k, each a mean over its valid entries."""
    chex.assert_rank([x.model_policy_ce, x.model_reward_logits, x.model_value_logits], [3, 4, 4])
    chex.assert_equal_shape([x.model_policy_ce, x.model_policy_mask, x.model_reward_mask, x.model_value_mask])
    chex.assert_equal_shape([x.model_reward_logits, x.model_reward_target])
    chex.assert_equal_shape([x.model_value_logits, x.model_value_target])
    pol = masked_mean(x.model_policy_ce, x.model_policy_mask)
    rew = masked_mean(cross_entropy(x.model_reward_logits, x.model_reward_target), x.model_reward_mask)
    val = masked_mean(cross_entropy(x.model_value_logits, x.model_value_target), x.model_value_mask)
    return pol + rew + value_loss_weight * val, {"policy": pol, "reward": rew, "value": val}


def make_pg(config: Optional[PluginConfig] = None) -> Loss:
    def fn(x: PolicyInputs):
        loss, rho = clipped_pg(x.log_prob, x.behaviour_log_prob, x.advantage)
        return loss, {"rho": rho}

    return stateless(PolicyInputs, fn)


def make_cmpo(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuesliInputs, lambda x: (cmpo_regulariser(x.cmpo_ce), {}))


def make_model(config: ValueWeightConfig) -> Loss:
    return stateless(MuesliInputs, lambda x: model_loss(x, config.value_loss_weight))


def make_value(config: ValueWeightConfig) -> Loss:
    return stateless(MuesliInputs, lambda x: (value_loss(x.value_logits, x.value_target, config.value_loss_weight), {}))
