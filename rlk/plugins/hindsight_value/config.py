"""HiMo's loss config, light (no jax): the package registers from here; ``losses`` and ``himo`` import
when a run builds the loss."""

from __future__ import annotations

from pydantic import Field

from rlk.core.config import HiddenSizes, PluginConfig


class HiMoConfig(PluginConfig):
    """The ``himo`` loss's options (``-o agent.loss_weights.himo=1`` puts it on an agent; ``-o losses.himo.phi_size=3``).

    The paper (Sec. 3.2) minimises ``L_vm + alpha L_v+ + beta L_model``; the Atari agent's exact
    alpha/beta could not be checked against the paper's appendix text here, so both default to 1
    (the plain sum, as the illustrative example in Sec. 4.1 trains all three terms together).
    """

    phi_size: int = Field(3, gt=0, description="dimension d of the hindsight feature phi (paper's example: 3)")
    horizon: int = Field(5, gt=0, description="k: phi_t reads the observation k steps ahead (cut at episode end/unroll end)")
    hidden_sizes: HiddenSizes = Field((64,), description="hidden sizes of the phi, model, v+ and v_m MLPs")
    hindsight_value_weight: float = Field(1.0, ge=0, description="alpha, weight of L_v+")
    model_weight: float = Field(1.0, ge=0, description="beta, weight of L_model")
    as_critic: bool = Field(True, description="v_m is the host agent's value for acting, bootstrapping and its value "
                                              "loss (the paper's agent); false: an auxiliary head trained by L_vm here")
