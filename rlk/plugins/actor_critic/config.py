"""Actor-critic's registration data, light (no jax): the agents' and losses' configs, the loss inputs
each agent produces, and the losses by name. The package registers from here; ``ppo``, ``vtrace`` and
``losses`` import when a run builds them."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from rlk.core.config import HiddenSizes, PluginConfig
from rlk.core.hookspecs import lazy
from rlk.core.losses import ClippedValueInputs, PolicyInputs, StateInputs, ValueInputs
from rlk.learn.optim import OptimConfig

PPO_INPUTS = (PolicyInputs, ValueInputs, ClippedValueInputs, StateInputs)
VTRACE_INPUTS = (PolicyInputs, ValueInputs, StateInputs)


class ActorCriticNetConfig(OptimConfig):
    """What PPO and V-trace configure alike: the optimiser (``rlk.learn.OptimConfig``) and the network."""

    hidden_sizes: HiddenSizes = Field((64, 64), description="MLP hidden sizes (actor and critic)")
    torso: Literal["auto", "mlp", "dqn", "nature", "impala", "minatar"] = Field("mlp", description="mlp, or a convolutional torso for pixels: dqn, nature, impala, minatar (rlk.nn.conv); auto: nature for images of 32+ pixels, else mlp (default mlp: on a CPU a CNN makes Atari training and its greedy evaluation ~10x slower)")


class PPOConfig(ActorCriticNetConfig):
    """PPO's options; the optimiser's (``rlk.learn.OptimConfig``) with CleanRL's classic-control values:
    Adam (eps 1e-5), global-norm clip 0.5; ``-o agent.lr_schedule=linear`` anneals to 0 over ``lr_decay_updates``."""

    num_envs: int = Field(64, gt=0, description="parallel environments (global batch, split over devices)")
    unroll_length: int = Field(16, gt=0, description="steps per environment per update")
    learning_rate: float = Field(2.5e-3, gt=0, description="Adam step size")
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda")
    num_epochs: int = Field(4, gt=0, description="epochs of SGD per rollout")
    num_minibatches: int = Field(4, gt=0, description="minibatches per epoch")
    max_grad_norm: Optional[float] = Field(0.5, gt=0, description="global gradient-norm clip")
    adam_eps: float = Field(1e-5, gt=0, description="Adam epsilon (CleanRL/PureJaxRL)")
    normalize_advantages: bool = Field(True, description="normalise advantages per minibatch")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"ppo_policy": 1.0, "ppo_value": 0.5, "entropy": 0.01},
        description="named losses and their weights (any registered loss whose inputs PPO produces; "
                    "options under losses.NAME)",
    )


class VTraceConfig(ActorCriticNetConfig):
    """V-trace's options; the optimiser's (``rlk.learn.OptimConfig``): Adam, global-norm clip 40."""

    num_envs: int = Field(64, gt=0, description="parallel environments (global batch)")
    unroll_length: int = Field(20, gt=0, description="steps per trajectory (IMPALA: 20)")
    learning_rate: float = Field(2e-3, gt=0, description="Adam step size (tuned on Catch)")
    gamma: float = Field(0.99, ge=0, le=1, description="discount")
    vtrace_lambda: float = Field(1.0, ge=0, le=1, description="V-trace lambda")
    clip_rho_threshold: float = Field(1.0, gt=0, description="rho-bar")
    clip_pg_rho_threshold: float = Field(1.0, gt=0, description="clip of the policy-gradient rho")
    max_grad_norm: Optional[float] = Field(40.0, gt=0, description="global gradient-norm clip")
    loss_weights: dict[str, float] = Field(
        default_factory=lambda: {"policy_gradient": 1.0, "value": 0.5, "entropy": 0.01},
        description="named losses and their weights (any registered loss whose inputs V-trace produces; "
                    "options under losses.NAME)",
    )


class ClipConfig(PluginConfig):
    clip_eps: float = Field(0.2, gt=0, description="PPO's clip epsilon (Schulman et al. 2017, Table 3: 0.2)")


# name -> (factory, config class or None, description)
LOSSES = {
    "ppo_policy": (lazy("rlk.plugins.actor_critic.losses:make_ppo_policy"), ClipConfig, "PPO clipped surrogate, Schulman et al. 2017 eq. 7 (PolicyInputs)"),
    "ppo_value": (lazy("rlk.plugins.actor_critic.losses:make_ppo_value"), ClipConfig, "PPO clipped value regression (ClippedValueInputs)"),
    "value": (lazy("rlk.plugins.actor_critic.losses:make_value"), None, "value regression 0.5 (v - G)^2 (ValueInputs)"),
    "entropy": (lazy("rlk.plugins.actor_critic.losses:make_entropy"), None, "negative policy entropy (PolicyInputs)"),
    "policy_gradient": (lazy("rlk.plugins.actor_critic.losses:make_policy_gradient"), None, "policy gradient -log pi(a|s) A, IMPALA (PolicyInputs)"),
}
