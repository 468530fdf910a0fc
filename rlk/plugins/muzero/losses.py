"""MuZero's loss (Schrittwieser et al. 2020, "Mastering Atari, Go, chess and shogi by planning with a
learned model", https://arxiv.org/abs/1911.08265), eq. 1, as three composable terms.

Eq. 1: ``l_t(theta) = sum_{k=0}^K l^r(u_{t+k}, r_t^k) + l^v(z_{t+k}, v_t^k) + l^p(pi_{t+k}, p_t^k) + c ||theta||^2``,
every ``l`` a cross-entropy against a categorical target (Appendix F: values and rewards as two-hot
distributions over a support, after the invertible transform ``h``). Each term reads ``MuZeroInputs``
(the predictions of the model unrolled K steps from every state of a batch of sequences, the targets and
their masks), is a factory ``make(config) -> Loss`` registered by name (``muzero_policy``, ``muzero_value``,
``muzero_reward``), and is weighted in ``agent.loss_weights`` (the value term 0.25, MuZero Reanalyse,
Appendix H). The L2 term is the optimiser's (``agent.weight_decay``).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import chex
import jax

from rlk.core.config import PluginConfig
from rlk.core.losses import Loss, stateless
from rlk.nn.masking import masked_mean
from rlk.nn.value_transforms import cross_entropy


class MuZeroInputs(NamedTuple):
    """What MuZero's losses read: predictions at ``s_t`` (k = 0) and after k = 1..K model steps, with targets.

    ``T`` steps of ``N`` sequences, ``K`` model steps, ``A`` actions, ``M`` atoms of the value/reward support.
    Targets carry no gradient; masks are 0/1 (0 where a target does not exist: past the sequence, past an
    episode's end for the policy, no policy learning).

    Attributes:
      policy_logits: ``[T, N, A]`` p_t^0, the prediction on the representation of ``o_t``.
      policy_target: ``[T, N, A]`` pi_t, the search's visit distribution.
      policy_mask: ``[T, N]``.
      value_logits: ``[T, N, M]`` v_t^0.
      value_target: ``[T, N, M]`` two-hot of z_t, the n-step return (eq. 3).
      value_mask: ``[T, N]``.
      model_policy_logits: ``[K, T, N, A]`` p_t^k after k steps of the dynamics with a_{t..t+k-1}.
      model_policy_target: ``[K, T, N, A]`` pi_{t+k}.
      model_policy_mask: ``[K, T, N]``.
      model_value_logits: ``[K, T, N, M]`` v_t^k.
      model_value_target: ``[K, T, N, M]`` two-hot of z_{t+k} (of 0 past an episode's end: absorbing state).
      model_value_mask: ``[K, T, N]``.
      model_reward_logits: ``[K, T, N, M]`` r_t^k, the reward of the k-th model step.
      model_reward_target: ``[K, T, N, M]`` two-hot of u_{t+k}, the observed reward of a_{t+k-1}.
      model_reward_mask: ``[K, T, N]``.
    """

    policy_logits: jax.Array
    policy_target: jax.Array
    policy_mask: jax.Array
    value_logits: jax.Array
    value_target: jax.Array
    value_mask: jax.Array
    model_policy_logits: jax.Array
    model_policy_target: jax.Array
    model_policy_mask: jax.Array
    model_value_logits: jax.Array
    model_value_target: jax.Array
    model_value_mask: jax.Array
    model_reward_logits: jax.Array
    model_reward_target: jax.Array
    model_reward_mask: jax.Array


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


def make_policy(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuZeroInputs, policy_loss)


def make_value(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuZeroInputs, value_loss)


def make_reward(config: Optional[PluginConfig] = None) -> Loss:
    return stateless(MuZeroInputs, reward_loss)


# name -> (factory, config class or None, description)
LOSSES = {
    "muzero_policy": (make_policy, None, "MuZero policy cross-entropy against search visits, k = 0..K (eq. 1; MuZeroInputs)"),
    "muzero_value": (make_value, None, "MuZero two-hot value cross-entropy against n-step returns, k = 0..K (eq. 1; MuZeroInputs)"),
    "muzero_reward": (make_reward, None, "MuZero two-hot reward cross-entropy of the model, k = 1..K (eq. 1; MuZeroInputs)"),
}
