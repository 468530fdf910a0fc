"""Target networks: an exponential moving average of the online parameters (Muesli, MuZero, Mnih et al. 2015).

``ema_update(online, target, step_size)``: ``target + step_size * (online - target)`` leaf by leaf
(``step_size = 1`` copies the online parameters; Muesli's ``target_ema``).
"""

from __future__ import annotations

from typing import Any

import optax


def ema_update(online: Any, target: Any, step_size: float) -> Any:
    """The new target parameters: ``(1 - step_size) * target + step_size * online``."""
    return optax.incremental_update(online, target, step_size)
