"""Device lookup by platform, shared by the backends and ``rlk bench``."""

from __future__ import annotations

import jax

from rlk.core.errors import RlkError


def find_devices(platform: str) -> list[jax.Device]:
    """Every device of ``platform`` JAX sees (all processes); a one-line ``RlkError`` naming the
    platform where there is none."""
    try:
        found = jax.devices(platform)
    except RuntimeError:
        found = []
    if not found:
        have = sorted({d.platform for d in jax.devices()})
        hint = " (TPU pods: run on the pod's hosts)" if platform == "tpu" else ""
        raise RlkError(
            f"backend '{platform}': no {platform.upper()} device on this machine "
            f"(JAX sees: {', '.join(have)}){hint}; use --backend cpu"
        )
    return found
