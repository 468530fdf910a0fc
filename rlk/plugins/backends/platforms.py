"""Platform backends: which devices a run uses and the mesh over them.

``cpu``, ``gpu`` and ``tpu`` differ only in the platform they ask JAX for. Asking for one the machine
lacks fails with a one-line error before anything compiles.
"""

from __future__ import annotations

from typing import Optional

import jax
import numpy as np
from pydantic import Field

from rlk.core.config import PluginConfig
from rlk.core.errors import RlkError

DATA_AXIS = "data"


class PlatformConfig(PluginConfig):
    num_devices: Optional[int] = Field(None, ge=1, description="use the first N local devices (default: all)")


class PlatformBackend:
    """The local devices of one platform and a 1-D data-parallel mesh over them."""

    def __init__(self, platform: str, config: Optional[PlatformConfig] = None):
        self.platform = platform
        self.config = config or PlatformConfig()
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
        n = self.config.num_devices or len(found)
        if n > len(found):
            raise RlkError(f"backend.num_devices={n} but this machine has {len(found)} {platform} device(s)")
        self._devices = found[:n]

    @property
    def devices(self) -> list:
        return list(self._devices)

    def mesh(self) -> jax.sharding.Mesh:
        return jax.sharding.Mesh(np.array(self._devices), (DATA_AXIS,),
                                 axis_types=(jax.sharding.AxisType.Auto,))


def make_cpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N for N of them)."""
    return PlatformBackend("cpu", config)


def make_gpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """NVIDIA GPUs through JAX's CUDA plugin."""
    return PlatformBackend("gpu", config)


def make_tpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """TPU cores (a pod slice when run on every host)."""
    return PlatformBackend("tpu", config)
