"""HiMo's loss config, light (no jax): the package registers from here; ``losses`` and ``himo`` import
when a run builds the loss."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rlk.core.config import HiddenSizes, PluginConfig


class HiMoConfig(PluginConfig):
    """The ``himo`` loss's options (``-o agent.loss_weights.himo=1`` puts it on an agent; ``-o losses.himo.phi_size=3``).

    The paper (Sec. 3.2) minimises ``L_vm + alpha L_v+ + beta L_model``; the Atari agent's exact
    alpha/beta could not be checked against the paper's appendix text here, so both default to 1
    (the plain sum, as the illustrative example in Sec. 4.1 trains all three terms together).
    """

    phi_size: int = Field(3, gt=0, description="dimension d of the hindsight feature phi (paper's example: 3)")
    horizon: int = Field(5, gt=0, description="k: phi_t reads the future x_{t+1..t+k} (cut at the episode's and the unroll's end)")
    phi_input: Literal["trajectory", "frame"] = Field(
        "trajectory", description="trajectory: phi is a backward GRU over x_{t+1..t+k} (the paper's phi(tau_{t+1:t+k})); "
                                  "frame: phi(x_{t+k}) of the window's last observation alone (an ablation)")
    hidden_sizes: HiddenSizes = Field((64,), description="hidden sizes of the phi, model, v+ and v_m MLPs")
    hindsight_value_weight: float = Field(1.0, ge=0, description="alpha, weight of L_v+")
    model_weight: float = Field(1.0, ge=0, description="beta, weight of L_model")
    as_critic: bool = Field(True, description="v_m is the host agent's value for acting, bootstrapping and its value "
                                              "loss (the paper's agent); false: an auxiliary head trained by L_vm here")
    model_free_control: bool = Field(False, description="the capacity-matched model-free control: the same four networks, "
                                                        "L_v+ and L_model off, v_m(x, g(x)) trained by the value loss "
                                                        "end to end through g (no stop-gradient on phi_hat)")


class DelayedRevealConfig(PluginConfig):
    """The ``himo-reveal`` task (``envs.py``): a door chosen on the illustrative task's context, its value
    revealed ``length - 1`` steps later with a noise cue."""

    context_dims: int = Field(8, gt=0, description="D: the context x ~ N(0, I_D)")
    feature_dims: int = Field(4, gt=0, description="bits of each door's room feature y_a = step(x W_a + b_a)")
    doors: int = Field(3, ge=2, description="actions at the first step")
    length: int = Field(4, ge=2, description="steps per episode; y and the cue show at the last one")
    cue_std: float = Field(0.5, ge=0, description="std of the noise cue, shown with y and added to the reward")
    task_seed: int = Field(0, description="fixes W_a, b_a")
