"""Backends (cpu, gpu, tpu platforms) and architectures (Anakin, Sebulba, Trainer) as plugins.

Registration reads only ``config.py``; each backend and architecture (jax) imports when a run builds it.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.backends.config import PlatformConfig, SebulbaConfig, TrainerConfig


@hookimpl
def rlk_register_backends(register):
    register("cpu", lazy("rlk.plugins.backends.platforms:make_cpu"), config=PlatformConfig,
             description="CPU devices of this host")
    register("gpu", lazy("rlk.plugins.backends.platforms:make_gpu"), config=PlatformConfig,
             description="NVIDIA GPUs of this host (CUDA)")
    register("tpu", lazy("rlk.plugins.backends.platforms:make_tpu"), config=PlatformConfig,
             description="TPU cores (a pod slice when run on every host)")


@hookimpl
def rlk_register_architectures(register):
    register("anakin", lazy("rlk.plugins.backends.anakin:make_anakin"),
             description="Podracer Anakin: env, acting and learning in one compiled program")
    register("sebulba", lazy("rlk.plugins.backends.sebulba:make_sebulba"), config=SebulbaConfig,
             description="Podracer Sebulba: host envs in actor threads, learner on its own devices")
    register("trainer", lazy("rlk.plugins.backends.trainer:make_trainer"), config=TrainerConfig,
             description="Trainer: a model on a dataset with optax, data-parallel over the backend's devices")
