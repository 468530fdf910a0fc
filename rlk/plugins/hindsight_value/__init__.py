"""Value-driven hindsight modelling (Guez et al. 2020, HiMo): the ``himo`` loss, registered by name.

``himo.py`` (HiMo's networks and hindsight data), ``envs.py`` (``himo-reveal``, its RL task), ``losses.py`` (the loss, with its own heads, on any
agent that produces ``StateInputs``: ``-o agent.loss_weights.himo=1``). The paper's illustrative task and
the MinAtar comparison are in ``experiments/hindsight_value/``.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.hindsight_value.config import DelayedRevealConfig, HiMoConfig


@hookimpl
def rlk_register_losses(register):
    register("himo", lazy("rlk.plugins.hindsight_value.losses:make_himo"), config=HiMoConfig,
             description="HiMo: alpha L_v+ + beta L_model with its own heads; v_m as the agent's critic (Guez et al. 2020)")


@hookimpl
def rlk_register_envs(register):
    register("himo-reveal", lazy("rlk.plugins.hindsight_value.envs:DelayedReveal"), config=DelayedRevealConfig,
             description="a door chosen on a context, its hard-to-compute value revealed later with a noise cue (HiMo's RL task)")
