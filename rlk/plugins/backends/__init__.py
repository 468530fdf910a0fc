"""Backends (cpu, gpu, tpu platforms) and architectures (Anakin, Sebulba, Trainer) as plugins."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.backends.platforms import PlatformConfig, make_cpu, make_gpu, make_tpu


@hookimpl
def rlk_register_backends(register):
    register("cpu", make_cpu, config=PlatformConfig, description="CPU devices of this host")
    register("gpu", make_gpu, config=PlatformConfig, description="NVIDIA GPUs of this host (CUDA)")
    register("tpu", make_tpu, config=PlatformConfig, description="TPU cores (a pod slice when run on every host)")


def _anakin(*args, **kwargs):
    from rlk.plugins.backends.anakin import make_anakin

    return make_anakin(*args, **kwargs)


def _sebulba(make_agent, env, backend, run_config, config=None):
    from rlk.plugins.backends.sebulba import make_sebulba

    return make_sebulba(make_agent, env, backend, run_config, config)


def _trainer(*args, **kwargs):
    from rlk.plugins.backends.trainer import make_trainer

    return make_trainer(*args, **kwargs)


@hookimpl
def rlk_register_architectures(register):
    from rlk.plugins.backends.sebulba import SebulbaConfig
    from rlk.plugins.backends.trainer import TrainerConfig

    register("anakin", _anakin, description="Podracer Anakin: env, acting and learning in one compiled program")
    register("sebulba", _sebulba, config=SebulbaConfig,
             description="Podracer Sebulba: host envs in actor threads, learner on its own devices")
    register("trainer", _trainer, config=TrainerConfig,
             description="Trainer: a model on a dataset with optax, data-parallel over the backend's devices")
