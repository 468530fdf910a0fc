"""Value-driven hindsight modelling (Guez et al. 2020, HiMo): the three HiMo losses, registered by name.

``himo.py`` (HiMo heads, used by ``actor_critic``'s PPO through ``agent.himo``), ``losses.py`` (the
losses). The paper's illustrative task and the README figures are in ``experiments/hindsight_value/``.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.hindsight_value.losses import LOSSES

_DESCRIPTIONS = {
    "himo_hindsight_value": "HiMo L_v+: (G - v+(x, phi(future)))^2, trains v+ and phi (Guez et al. 2020)",
    "himo_model_value": "HiMo L_vm: (G - v_m(x, stop_grad(phi_hat)))^2 (Guez et al. 2020)",
    "himo_model": "HiMo L_model: ||phi_hat - stop_grad(phi)||^2, trains the model only (Guez et al. 2020)",
}


@hookimpl
def rlk_register_losses(register):
    for name, fn in LOSSES.items():
        register(name, fn, description=_DESCRIPTIONS[name])
