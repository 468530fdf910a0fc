"""MuZero's loss (Schrittwieser et al. 2020, "Mastering Atari, Go, chess and shogi by planning with a
learned model", https://arxiv.org/abs/1911.08265), eq. 1, as three composable terms.

Eq. 1: ``l_t(theta) = sum_{k=0}^K l^r(u_{t+k}, r_t^k) + l^v(z_{t+k}, v_t^k) + l^p(pi_{t+k}, p_t^k) + c ||theta||^2``,
every ``l`` a cross-entropy against a categorical target (Appendix F: values and rewards as two-hot
distributions over a support, after the invertible transform ``h``). Each term reads ``MuZeroInputs``
(the predictions of the model unrolled K steps from every state of a batch of sequences, the targets and
their masks), is a factory ``make(config) -> Loss`` registered by name (``muzero_policy``, ``muzero_value``,
``muzero_reward``), and is weighted in ``agent.loss_weights`` (the value term 0.25, MuZero Reanalyse,
Appendix H). The L2 term is the optimiser's (``agent.weight_decay``).

``muzero_policy_gradient`` replaces the search's policy targets in the planning study's arms without search
for learning (``policy_targets='policy_gradient'``): an advantage actor-critic loss (Mnih et al. 2016,
https://arxiv.org/abs/1602.01783, the A3C update with an entropy bonus) on the prior,
``-rho (z - v) log pi(a) - c H(pi)``, the advantage from the same n-step returns the value learns from, and
``rho = min(1, pi(a) / mu(a))`` IMPALA's truncated importance weight (Espeholt et al. 2018,
https://arxiv.org/abs/1802.01561), for the several gradient steps an update takes on one batch.
"""

from __future__ import annotations

from typing import Optional

import chex
import jax
import jax.numpy as jnp

from rlk.core.config import PluginConfig
from rlk.core.losses import Loss, stateless
from rlk.nn.masking import masked_mean
from rlk.nn.value_transforms import cross_entropy
from rlk.plugins.muzero.config import MuZeroInputs, MuZeroPolicyGradientInputs, PolicyGradientConfig


def masked_cross_entropy(logits: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """One term ``l(target, prediction)`` of eq. 1 averaged over the entries where ``mask`` is 1.

    Args:
      logits: ``[..., C]`` predicted logits; target: ``[..., C]`` target probabilities; mask: ``[...]``.
    """
    chex.assert_equal_shape([logits, target])
    chex.assert_equal_shape_prefix([logits, mask], mask.ndim)
    chex.assert_rank(logits, mask.ndim + 1)
    return masked_mean(cross_entropy(logits, target), mask)


def unrolled_cross_entropy(logits_0: jax.Array, target_0: jax.Array, mask_0: jax.Array, logits_k: jax.Array,
                           target_k: jax.Array, mask_k: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Eq. 1's sum over k = 0..K of one prediction's cross-entropy: the mean at k = 0 plus the mean over
    k = 1..K. Returns ``(loss, k0)``, ``k0`` the k = 0 part.

    Args:
      logits_0, target_0: ``[T, N, C]``; mask_0: ``[T, N]``; logits_k, target_k: ``[K, T, N, C]``; mask_k: ``[K, T, N]``.
    """
    chex.assert_rank([logits_0, mask_0, logits_k, mask_k], [3, 2, 4, 3])
    k0 = masked_cross_entropy(logits_0, target_0, mask_0)
    return k0 + masked_cross_entropy(logits_k, target_k, mask_k), k0


def policy_loss(inputs: MuZeroInputs) -> tuple[jax.Array, dict]:
    """``sum_k l^p(pi_{t+k}, p_t^k)``: the policy against the search's visit distribution."""
    x = inputs
    loss, k0 = unrolled_cross_entropy(x.policy_logits, x.policy_target, x.policy_mask, x.model_policy_logits,
                                      x.model_policy_target, x.model_policy_mask)
    return loss, {"k0": k0}


def value_loss(inputs: MuZeroInputs) -> tuple[jax.Array, dict]:
    """``sum_k l^v(z_{t+k}, v_t^k)``: the value against two-hot n-step returns."""
    x = inputs
    loss, _ = unrolled_cross_entropy(x.value_logits, x.value_target, x.value_mask, x.model_value_logits,
                                     x.model_value_target, x.model_value_mask)
    return loss, {}


def reward_loss(inputs: MuZeroInputs) -> tuple[jax.Array, dict]:
    """``sum_{k>=1} l^r(u_{t+k}, r_t^k)``: the model's reward against two-hot observed rewards."""
    chex.assert_rank(inputs.model_reward_logits, 4)
    return masked_cross_entropy(inputs.model_reward_logits, inputs.model_reward_target, inputs.model_reward_mask), {}


def policy_gradient(logits: jax.Array, action: jax.Array, advantage: jax.Array, behaviour_log_prob: jax.Array,
                    mask: jax.Array, entropy_cost: float, clip_rho: float) -> jax.Array:
    """``-min(rho_bar, pi(a) / mu(a)) A log pi(a) - c H(pi)`` averaged over the entries where ``mask`` is 1: A3C's
    policy loss with IMPALA's truncated importance weight (Espeholt et al. 2018, sec. 4.2's policy gradient), so the
    repeated gradient steps on one batch, on data the current prior no longer acts by, stay corrected.

    Args:
      logits: ``[..., A]``; action, advantage, behaviour_log_prob (log mu(a)), mask: ``[...]``; the advantage and
      the importance weight carry no gradient.
    """
    chex.assert_equal_shape([action, advantage, behaviour_log_prob, mask])
    chex.assert_rank(logits, action.ndim + 1)
    log_pi = jax.nn.log_softmax(logits)
    log_pi_a = jnp.take_along_axis(log_pi, action[..., None].astype(jnp.int32), -1)[..., 0]
    rho = jnp.minimum(clip_rho, jnp.exp(log_pi_a - behaviour_log_prob))
    entropy = -jnp.sum(jnp.exp(log_pi) * log_pi, -1)
    return masked_mean(-jax.lax.stop_gradient(rho * advantage) * log_pi_a - entropy_cost * entropy, mask)


def policy_gradient_loss(inputs: MuZeroPolicyGradientInputs, entropy_cost: float, clip_rho: float) -> tuple[jax.Array, dict]:
    """The model-free policy loss of the prior (k = 0)."""
    x = inputs
    return policy_gradient(x.policy_logits, x.action, x.advantage, x.behaviour_log_prob, x.mask, entropy_cost, clip_rho), {}


def make_policy(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuZeroInputs, policy_loss)


def make_value(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuZeroInputs, value_loss)


def make_reward(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuZeroInputs, reward_loss)


def make_policy_gradient(config: Optional[PolicyGradientConfig] = None) -> Loss:
    c = config or PolicyGradientConfig()
    return stateless(MuZeroPolicyGradientInputs, lambda x: policy_gradient_loss(x, c.entropy_cost, c.clip_rho))
