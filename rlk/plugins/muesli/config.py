"""Muesli's registration data, light (no jax): its options (shared by the categorical ``agent.py`` and Gaussian
``continuous.py`` variants), ``MuesliInputs`` (the loss input type it produces) and the losses by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, Optional

from pydantic import Field

from rlk.core.config import HiddenSizes, PluginConfig
from rlk.core.hookspecs import lazy
from rlk.core.losses import PolicyInputs
from rlk.learn.optim import OptimConfig

if TYPE_CHECKING:
    import jax


class MuesliConfig(OptimConfig):
    """Muesli's options and its optimiser's (``rlk.learn.OptimConfig``: Adam, global-norm clip). Defaults: a toy
    setting that trains Catch, CartPole and MinAtar on a CPU in CI; each description gives the paper's Atari
    value where it differs ("paper": the appendix tables as cited by cleanrl's Muesli script, second-hand;
    "Fig. 1": the paper's own caption). The paper's values together: ``configs/atari_paper.yaml``
    (``rlk train --config ...``). The value-loss weight inside the value and model losses is theirs
    (``-o losses.muesli_value.value_loss_weight=...``)."""

    # Acting and data. Paper (Table 5, Atari): sequences of 30 steps, batch 96 of which 3/4 replayed.
    num_envs: int = Field(64, gt=0, description="parallel environments (online sequences per update; paper, Table 5: 24, "
                                                "i.e. a batch of 96 sequences with 3/4 replayed)")
    unroll_length: int = Field(16, gt=0, description="sequence length T (paper, Table 5: 30)")
    replay_fraction: float = Field(0.75, ge=0.0, lt=1.0, description="replay: fraction of each batch from the buffer (paper: 0.75; 0.95 large setting)")
    replay_capacity: int = Field(4096, gt=0, description="replay: sequences kept in the buffer (paper, Table 5: 6M frames, "
                                                         "~50k sequences of 30 agent steps at frameskip 4)")
    # Model.
    model_unroll: int = Field(5, ge=1, description="unroll: model steps K (paper: 5)")
    latent_size: int = Field(64, gt=0, description="model latent size (paper: an IMPALA network with an LSTM; size not in the sources read)")
    hidden_sizes: HiddenSizes = Field((128,), description="MLP hidden sizes of every model part (paper: LSTM dynamics; "
                                                              "sizes not in the sources read)")
    torso: Literal["auto", "mlp", "board", "dqn", "nature", "impala", "minatar"] = Field("mlp", description="representation torso: mlp, board (board games such as go_9x9: rlk.nn.muzero_model.BoardTorso), or for pixels dqn, nature, impala (the paper's Atari torso, Fig. 1: "
                                          "IMPALA's residual network), minatar (rlk.nn.conv); auto: nature for images of 32+ pixels, else mlp")
    num_atoms: int = Field(81, ge=3, description="categorical value/reward atoms (paper, Atari: MuZero's 601)")
    support_max: float = Field(20.0, gt=0, description="atoms span [-support_max, support_max] in h-space (paper, Atari: MuZero's 300)")
    # CMPO. Paper (section 4.2): clip c = 1, sampled KL with N = 16 samples and z_init = 1.
    cmpo_clip: float = Field(1.0, gt=0, description="cmpo: advantage clip c (paper: 1)")
    cmpo_exact: bool = Field(True, description="cmpo: exact KL over all actions (False: sampled estimator; paper, Table 5, Atari: sampled, 16 samples)")
    cmpo_samples: int = Field(16, ge=1, description="cmpo: samples N of the sampled estimator (paper: 16)")
    cmpo_z_init: float = Field(1.0, gt=0, description="cmpo: z_init of the sampled estimator (paper: 1)")
    adv_scale_decay: float = Field(0.99, gt=0, lt=1, description="decay of the moving advantage-variance estimate (sigma) "
                                                                  "(paper, Table 5: beta_var 0.99)")
    # Returns and optimisation.
    gamma: float = Field(0.99, ge=0, le=1, description="discount (paper, Table 5: 0.995)")
    retrace_lambda: float = Field(0.95, ge=0, le=1, description="Retrace lambda (paper: 0.95)")
    target_ema: float = Field(0.1, gt=0, le=1, description="target network step size alpha (EMA; paper, Table 5: 0.1)")
    learning_rate: float = Field(3e-3, gt=0, description="Adam step size (toy setting; tuned on Catch; paper, Table 5: 3e-4, "
                                                         "decayed linearly to 0 in cleanrl's reproduction: -o agent.lr_schedule=linear)")
    max_grad_norm: Optional[float] = Field(1.0, gt=0, description="global gradient-norm clip (paper, Supplement F.1 per cleanrl: "
                                                                  "the Adam update is clipped elementwise at 1 instead)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"muesli_pg": 1.0, "muesli_cmpo": 1.0, "muesli_model": 1.0, "muesli_value": 1.0},
        description="named losses and weights (ablations: set muesli_cmpo or muesli_model to 0; paper: CMPO weight 1; "
                    "cleanrl weights the policy gradient 3, citing Table 9, not checked; any loss reading PolicyInputs, "
                    "e.g. entropy, composes too)",
    )


class MuesliInputs(NamedTuple):
    """What Muesli's regulariser, model and value losses read (gradients flow where noted).

    Attributes:
      cmpo_ce: ``[T-1, N]`` cross-entropy ``-sum_a pi_cmpo(a|s_j) log pi(a|s_j)`` of the online policy against
        the CMPO target at s_j, exact or sampled (section 4.3); gradients flow through pi.
      value_logits: ``[T-1, N, atoms]`` the value head at s_j (gradients flow).
      value_target: ``[T-1, N, atoms]`` two-hot Retrace returns G_j.
      model_policy_ce: ``[K, T, N]`` the cross-entropy of the model's policy after k steps from s_j against
        pi_cmpo(s_{j+k}) (gradients flow).
      model_policy_mask: ``[K, T, N]`` 1 where that target exists (no episode end in (j, j+k], j + k <= T).
      model_reward_logits: ``[K, T, N, atoms]`` the reward head after k steps (gradients flow).
      model_reward_target: ``[K, T, N, atoms]`` two-hot reward of a_{j+k-1}; model_reward_mask: ``[K, T, N]``.
      model_value_logits: ``[K, T, N, atoms]`` the value head after k steps (gradients flow).
      model_value_target: ``[K, T, N, atoms]`` two-hot G_{j+k}; model_value_mask: ``[K, T, N]``.
    """

    cmpo_ce: jax.Array
    value_logits: jax.Array
    value_target: jax.Array
    model_policy_ce: jax.Array
    model_policy_mask: jax.Array
    model_reward_logits: jax.Array
    model_reward_target: jax.Array
    model_reward_mask: jax.Array
    model_value_logits: jax.Array
    model_value_target: jax.Array
    model_value_mask: jax.Array


INPUTS = (PolicyInputs, MuesliInputs)


class ValueWeightConfig(PluginConfig):
    value_loss_weight: float = Field(0.25, ge=0, description="weight of the value cross-entropies "
                                                              "(paper, Table 5: 0.25, as MuZero)")


# name -> (factory, config class or None, description)
LOSSES = {
    "muesli_pg": (lazy("rlk.plugins.muesli.losses:make_pg"), None, "Muesli policy gradient, importance weights clipped at 1, eq. 10 (PolicyInputs)"),
    "muesli_cmpo": (lazy("rlk.plugins.muesli.losses:make_cmpo"), None, "Muesli CMPO regulariser KL(pi_cmpo || pi), eq. 10 (MuesliInputs)"),
    "muesli_model": (lazy("rlk.plugins.muesli.losses:make_model"), ValueWeightConfig, "Muesli model loss: K-step policy, reward and value (MuesliInputs)"),
    "muesli_value": (lazy("rlk.plugins.muesli.losses:make_value"), ValueWeightConfig, "Muesli value cross-entropy on Retrace returns (MuesliInputs)"),
}
