"""MuZero's loss terms (Schrittwieser et al. 2020, eq. 1), each a named pure loss.

``outputs`` hold predictions at s_t (``logits``, ``value_logits`` ``[T, N, ...]``) and after k model
steps (``model_*`` ``[K, T, N, ...]``); ``batch`` the targets (search visit distributions, two-hot
n-step values and rewards) with masks from ``rlk.nn.unroll_targets.model_targets``.
"""

from __future__ import annotations

from typing import Any

import jax

from rlk.nn.masking import masked_mean
from rlk.nn.value_transforms import cross_entropy


def muzero_policy_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Cross-entropy of the policy at k = 0..K against the search's visit distribution."""
    k0 = masked_mean(cross_entropy(outputs["logits"], batch["policy"]), batch["policy_mask"])
    kk = masked_mean(cross_entropy(outputs["model_logits"], batch["model_policy"]), batch["model_policy_mask"])
    return k0 + kk, {"k0": k0}


def muzero_value_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Cross-entropy of the value at k = 0..K against two-hot n-step returns, weighted (MuZero: 0.25)."""
    k0 = masked_mean(cross_entropy(outputs["value_logits"], batch["value"]), batch["value_mask"])
    kk = masked_mean(cross_entropy(outputs["model_value_logits"], batch["model_value"]), batch["model_value_mask"])
    return config.value_loss_weight * (k0 + kk), {}


def muzero_reward_loss(outputs: dict, batch: dict, config: Any) -> tuple[jax.Array, dict]:
    """Cross-entropy of the model's reward at k = 1..K against the two-hot observed rewards."""
    return masked_mean(cross_entropy(outputs["model_reward_logits"], batch["model_reward"]), batch["model_reward_mask"]), {}


LOSSES = {"muzero_policy": muzero_policy_loss, "muzero_value": muzero_value_loss, "muzero_reward": muzero_reward_loss}
