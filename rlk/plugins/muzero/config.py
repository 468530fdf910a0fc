"""MuZero's registration data, light (no jax): the agent's config, ``MuZeroInputs`` (the loss input type
it produces) and the losses by name. The package registers from here; ``agent`` and ``losses`` import when
a run builds them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple, Optional

from pydantic import Field

from rlk.core.config import HiddenSizes, PluginConfig
from rlk.core.hookspecs import lazy
from rlk.learn.optim import OptimConfig

if TYPE_CHECKING:
    import jax


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


class MuZeroPolicyGradientInputs(NamedTuple):
    """What the model-free policy loss reads (``policy_targets='policy_gradient'``): the prior at ``s_t``, the
    actions taken there, their advantages and the probabilities the actor took them with. The prior only (k = 0): on the model's unrolled policies
    (k >= 1) the loss pushed the unscaled latents without bound and diverged (Catch, 10k steps).

    Attributes:
      policy_logits: ``[T, N, A]`` p_t^0.
      action: ``[T, N]`` a_t.
      advantage: ``[T, N]`` z_t - v(s_t): the n-step return (eq. 3) minus the target network's value.
      behaviour_log_prob: ``[T, N]`` log mu(a_t | s_t), the probability the actor took a_t with.
      mask: ``[T, N]`` (0: no policy-gradient learning; the agent counts only the freshest, online sequences).
    """

    policy_logits: jax.Array
    action: jax.Array
    advantage: jax.Array
    behaviour_log_prob: jax.Array
    mask: jax.Array


INPUTS = (MuZeroInputs, MuZeroPolicyGradientInputs)


class PolicyGradientConfig(PluginConfig):
    """The model-free policy loss's options."""

    entropy_cost: float = Field(0.05, ge=0, description="weight of the policy's entropy bonus (A3C on Atari, Mnih et al. "
                                                        "2016: 0.01; toy setting 0.05: at MuZero's step size, 10x A3C's, "
                                                        "0.01 let the prior turn deterministic on a losing action, Catch "
                                                        "1 of 3 seeds)")
    clip_rho: float = Field(1.0, gt=0, description="truncation rho-bar of the importance weight pi(a) / mu(a) (IMPALA, "
                                                   "Espeholt et al. 2018: 1)")


class MuZeroConfig(OptimConfig):
    """MuZero's options; the optimiser's (``rlk.learn.OptimConfig``): Adam, global-norm clip 1, constant step size."""

    num_envs: int = Field(64, gt=0, description="parallel environments (online sequences per update)")
    unroll_length: int = Field(16, gt=0, description="sequence length T")
    # Search. pb_c constants are mctx's (MuZero Appendix B: c1 = 1.25, c2 = 19652).
    search: Literal["muzero", "gumbel"] = Field("muzero", description="mctx policy: muzero_policy or gumbel_muzero_policy")
    num_simulations: int = Field(8, ge=1, description="simulations per search in training (planning study: training budget; "
                                                      "MuZero: 50 Atari, 800 board games; toy setting: 8)")
    eval_simulations: int = Field(8, ge=1, description="simulations per search at evaluation (planning study: evaluation budget; "
                                                       "toy setting: 8)")
    max_depth: Optional[int] = Field(None, ge=1, description="maximum tree depth (planning study: tree depth); None: unlimited")
    rollout_steps: int = Field(0, ge=0, description="Monte-Carlo rollout steps of the model with the prior below the tree (planning study)")
    search_for_acting: bool = Field(True, description="act with search (False: sample the prior policy; planning study: data)")
    policy_targets: Literal["acting", "reanalyse", "policy_gradient", "none"] = Field(
        "acting", description="policy targets from the acting search, a fresh search (Reanalyse), none of search's: "
                              "'policy_gradient' (the prior learns model-free, an actor-critic loss on the online sequences' "
                              "actions with the n-step return minus the value as advantage and a truncated importance "
                              "weight, loss muzero_policy_gradient) or "
                              "'none' (the prior does not learn) (planning study: search for learning or not)")
    search_at_eval: bool = Field(True, description="evaluate with search (False: greedy prior; planning study: evaluation)")
    simulator: Literal["model", "env"] = Field(
        "model", description="what the search simulates: the learned model, or the true environment stepped from a copy of its "
                             "state (planning study: learned vs. true model; JAX envs steppable from a saved state: catch, go_9x9)")
    dirichlet_alpha: float = Field(0.3, gt=0, description="root Dirichlet noise alpha (MuZero Appendix C: 0.25 Atari, 0.3 chess)")
    dirichlet_fraction: float = Field(0.25, ge=0, le=1, description="root noise fraction (MuZero Appendix C: 0.25)")
    temperature: float = Field(1.0, gt=0, description="visit-count temperature when acting in training (MuZero Appendix F: 1.0 "
                                                      "for the first 500k Atari training steps)")
    value_bounds: Optional[tuple[float, float]] = Field(
        None, description="known value bounds for the search's Q normalisation (MuZero pseudocode: KnownBounds, e.g. [-1, 1] "
                          "for board games); None: min-max over the parent and its children (mctx's default)")
    # Model and learning.
    model_unroll: int = Field(5, ge=1, description="unroll: model steps K (MuZero Appendix G: 5)")
    td_steps: int = Field(10, ge=1, description="n of the n-step value targets (MuZero Appendix G, Atari: 10)")
    latent_scaling: Literal["none", "minmax"] = Field(
        "none", description="'minmax': latents scaled to [0, 1] (MuZero Appendix G); toy setting 'none': on Catch's MLP model "
                            "min-max scaling slows learning the action-conditioned reward several-fold")
    dynamics_grad_scale: float = Field(0.5, ge=0, le=1, description="gradient scale into each next dynamics step (MuZero Appendix G: 0.5)")
    latent_size: int = Field(64, gt=0, description="model latent size (toy setting)")
    hidden_sizes: HiddenSizes = Field((128,), description="MLP hidden sizes (toy setting)")
    torso: Literal["auto", "mlp", "board", "dqn", "nature", "impala", "minatar"] = Field("mlp", description="representation torso: mlp, board (board games such as go_9x9: same-padding 3x3 convolutions and a residual block that keep the board's size, rlk.nn.muzero_model.BoardTorso), or for pixels dqn, nature, impala (MuZero's Atari torso is a residual network), minatar (rlk.nn.conv); auto: nature for images of 32+ pixels, else mlp (default mlp: on a CPU a CNN makes Atari training and its greedy evaluation ~10x slower)")
    latent: Literal["vector", "board"] = Field(
        "vector", description="vector: the representation (agent.torso) maps to a latent vector and an MLP dynamics reads "
                              "the action one-hot (MuZero's Atari design in miniature); board (board games such as go_9x9): "
                              "the latent keeps the board's [H, W, channels] shape, residual towers for representation and "
                              "dynamics, the action enters the dynamics as a plane (MuZero Appendix F's board-game "
                              "networks; rlk.nn.board_model); agent.torso and latent_size are then unused")
    board_channels: int = Field(32, gt=0, description="latent='board': planes of the latent (MuZero: 256; toy setting: 32)")
    board_blocks: int = Field(1, ge=0, description="latent='board': residual blocks per tower (MuZero: 16; toy setting: 1)")
    area_shaping: float = Field(0.0, ge=0, description="Go (go_9x9): weight c of potential-based reward shaping with the movers' "
                                                       "area-score margin (muzero/go.py; the game's returns and best play are "
                                                       "unchanged, rewards become dense); 0: off")
    num_atoms: int = Field(81, ge=3, description="categorical atoms (MuZero Appendix F, Atari: 601)")
    support_max: float = Field(20.0, gt=0, description="atoms span [-max, max] in h-space (MuZero Atari: 300)")
    gamma: float = Field(0.99, ge=0, le=1, description="discount (MuZero Atari: 0.997; toy setting: 0.99)")
    learning_rate: float = Field(1e-2, gt=0, description="Adam step size (toy setting, tuned on Catch; MuZero: SGD with momentum, "
                                                         "0.05 Atari, 0.2 board games, decayed)")
    lr_decay_rate: float = Field(0.1, gt=0, le=1, description="lr_schedule=exponential: the step size is multiplied by this "
                                                              "every lr_decay_updates, continuously (MuZero pseudocode: lr_init * "
                                                              "0.1^(step / decay_steps)); default schedule constant (toy setting)")
    lr_decay_updates: int = Field(100_000, gt=0, description="updates of one lr_decay_rate factor; an update is num_sgd_steps "
                                                             "gradient steps (MuZero pseudocode: 400k gradient steps for board "
                                                             "games, 350k Atari; 400k / 4 = 100k updates)")
    max_grad_norm: Optional[float] = Field(1.0, gt=0, description="global gradient-norm clip (toy setting)")
    target_ema: float = Field(0.1, gt=0, le=1, description="target network EMA step (toy setting)")
    replay_fraction: float = Field(0.5, ge=0.0, lt=1.0, description="fraction of each gradient step's batch replayed from the buffer (toy setting)")
    replay_capacity: int = Field(4096, gt=0, description="sequences kept in the replay buffer")
    num_sgd_steps: int = Field(4, ge=1, description="gradient steps per update, each on the online batch and a fresh replay sample "
                                                    "(toy setting: 4; with 1, 150k Catch steps are only ~150 gradient steps, "
                                                    "too few for the model to learn the reward)")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"muzero_policy": 1.0, "muzero_value": 0.25, "muzero_reward": 1.0,
                                 "muzero_policy_gradient": 1.0},
        description="named losses (losses.py, eq. 1) and their weights; the value's 0.25: MuZero Reanalyse, Appendix H; "
                    "muzero_policy_gradient counts only with policy_targets='policy_gradient'")


# name -> (factory, config class or None, description)
LOSSES = {
    "muzero_policy": (lazy("rlk.plugins.muzero.losses:make_policy"), None, "MuZero policy cross-entropy against search visits, k = 0..K (eq. 1; MuZeroInputs)"),
    "muzero_value": (lazy("rlk.plugins.muzero.losses:make_value"), None, "MuZero two-hot value cross-entropy against n-step returns, k = 0..K (eq. 1; MuZeroInputs)"),
    "muzero_reward": (lazy("rlk.plugins.muzero.losses:make_reward"), None, "MuZero two-hot reward cross-entropy of the model, k = 1..K (eq. 1; MuZeroInputs)"),
    "muzero_policy_gradient": (lazy("rlk.plugins.muzero.losses:make_policy_gradient"), PolicyGradientConfig,
                               "model-free actor-critic policy loss of the prior on the actions taken (planning study's "
                               "no-search-for-learning arm; MuZeroPolicyGradientInputs)"),
}
