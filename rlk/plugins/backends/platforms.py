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

from rlk.plugins.backends.replicator import DATA_AXIS


class PlatformConfig(PluginConfig):
    num_devices: Optional[int] = Field(None, ge=1, description="use the first N local devices (default: all)")
    actor_devices: Optional[list[int]] = Field(
        None, description="Sebulba: indices (into the devices used) of actor devices (default: the first)")
    learner_devices: Optional[list[int]] = Field(
        None, description="Sebulba: indices of learner devices (default: all but the actors', or all if one)")


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

    def mesh(self, devices: Optional[list] = None) -> jax.sharding.Mesh:
        """A 1-D ``data`` mesh over ``devices`` (default: all devices of the backend)."""
        devs = self._devices if devices is None else devices
        return jax.sharding.Mesh(np.array(devs), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))

    def actor_learner_devices(self) -> tuple[list, list]:
        """Sebulba's split: actor devices and learner devices (they may overlap on one device)."""
        devs, c = self._devices, self.config
        for field, idx in (("actor_devices", c.actor_devices), ("learner_devices", c.learner_devices)):
            bad = [i for i in idx or [] if not 0 <= i < len(devs)]
            if bad:
                raise RlkError(f"backend.{field}: index {bad[0]} out of range (this run uses {len(devs)} device(s))")
        actors = [devs[i] for i in c.actor_devices] if c.actor_devices else devs[:1]
        if c.learner_devices:
            learners = [devs[i] for i in c.learner_devices]
        else:
            learners = [d for d in devs if d not in actors] or list(devs)
        return actors, learners


def make_cpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N for N of them)."""
    return PlatformBackend("cpu", config)


def make_gpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """NVIDIA GPUs through JAX's CUDA plugin."""
    return PlatformBackend("gpu", config)


def make_tpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """TPU cores (a pod slice when run on every host)."""
    return PlatformBackend("tpu", config)
