"""Platform backends: which devices a run uses and the mesh over them.

``cpu``, ``gpu`` and ``tpu`` differ only in the platform they ask JAX for. Asking for one the machine
lacks fails with a one-line error before anything compiles.

Many hosts (multi-controller JAX): one process per host runs the same command; the backend calls
``jax.distributed.initialize`` before JAX touches a device, and the mesh then spans the devices of
every process (``jax.devices()`` is global, ``jax.local_devices()`` this host's). ``distributed``:

- ``auto`` (default): initialize when ``coordinator``/``num_processes``/``process_id`` is given, or when
  the launcher says several processes were started (SLURM ``srun`` with more than one task, Open MPI
  ``mpirun``, ``JAX_COORDINATOR_ADDRESS``, a multi-host GKE TPU slice); otherwise one process;
- ``on``: always initialize; what is not given JAX detects (Cloud TPU pod slices, SLURM, Open MPI);
- ``off``: one process, whatever the environment says.

Anakin and Sebulba span hosts (Sebulba: each host's actor threads on its own actor devices, one learner
mesh over the learner devices of every host); the Trainer runs in one process.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Optional

import jax
import numpy as np

from rlk.core.devices import find_devices
from rlk.core.errors import RlkError
from rlk.plugins.backends.config import LAUNCH_FIELDS, PlatformConfig
from rlk.plugins.backends.replicator import DATA_AXIS


def _launcher_started_many() -> bool:
    """Whether a cluster launcher started this process as one of several (``distributed='auto'``)."""
    env = os.environ

    def count(name: str) -> int:
        try:
            return int(env.get(name, "1").split("(")[0])
        except ValueError:
            return 1

    # srun sets SLURM_STEP_*; a batch script itself (one process) is not a multi-process launch
    slurm = "SLURM_JOB_ID" in env and "SLURM_STEP_NODELIST" in env and count("SLURM_STEP_NUM_TASKS") > 1
    mpi = count("OMPI_COMM_WORLD_SIZE") > 1
    tpu = "," in env.get("TPU_WORKER_HOSTNAMES", "") or bool(env.get("MEGASCALE_COORDINATOR_ADDRESS"))
    return slurm or mpi or tpu or bool(env.get("JAX_COORDINATOR_ADDRESS"))


def start_distributed(config: PlatformConfig) -> None:
    """``jax.distributed.initialize`` when the config (or the launcher) asks for several processes.

    Must run before JAX touches a device; a second call in the same process is a no-op.
    """
    c = config
    explicit = any(getattr(c, f) is not None for f in LAUNCH_FIELDS)
    if c.distributed == "off" or (c.distributed == "auto" and not explicit and not _launcher_started_many()):
        return
    if jax.distributed.is_initialized():
        return
    if c.coordinator is not None and c.process_id:  # process 0 starts the coordinator itself
        wait_for_coordinator(c.coordinator, c.init_timeout_s)
    try:
        jax.distributed.initialize(coordinator_address=c.coordinator, num_processes=c.num_processes,
                                   process_id=c.process_id, initialization_timeout=c.init_timeout_s)
    except (RuntimeError, ValueError, TypeError) as exc:
        what = " ".join(str(exc).split())
        hint = ("; give --coordinator HOST:PORT, --num-processes N and --process-id I "
                "(or launch with srun / mpirun / on every host of a TPU slice)") if isinstance(exc, ValueError) else ""
        raise RlkError(f"backend: jax.distributed.initialize failed: {what}{hint}") from None


def wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Waits until ``HOST:PORT`` accepts TCP connections; after ``timeout_s`` a one-line ``RlkError``.

    JAX's own client aborts the process natively (``absl`` check failure) when the coordinator stays
    unreachable, so a process other than 0 makes sure it is there before ``jax.distributed.initialize``.
    """
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=min(5.0, timeout_s)):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                why = exc.strerror or type(exc).__name__
                raise RlkError(f"backend.coordinator: {address} unreachable after {timeout_s:g}s ({why}); "
                               "start process 0 first, or check the address (backend.init_timeout_s sets the wait)") from None
            time.sleep(0.5)


class PlatformBackend:
    """The devices of one platform and a 1-D data-parallel mesh over them.

    With several processes (``jax.distributed``) the devices are those of every process, in
    process order, and the mesh spans all of them; each process places and reads its local part.
    """

    def __init__(self, platform: str, config: Optional[PlatformConfig] = None):
        self.platform = platform
        self.config = config or PlatformConfig()
        start_distributed(self.config)
        found = find_devices(platform)
        local = [d for d in found if d.process_index == jax.process_index()]
        n = self.config.num_devices or len(local)
        if n > len(local):
            raise RlkError(f"backend.num_devices={n} but this machine has {len(local)} {platform} device(s)")
        # Every process keeps its first n devices (processes must agree on n, as on the rest of the config).
        self._devices = [d for p in sorted({d.process_index for d in found})
                         for d in [e for e in found if e.process_index == p][:n]]

    @property
    def devices(self) -> list:
        return list(self._devices)

    def mesh(self, devices: Optional[list] = None) -> jax.sharding.Mesh:
        """A 1-D ``data`` mesh over ``devices`` (default: all devices of the backend)."""
        devs = self._devices if devices is None else devices
        return jax.sharding.Mesh(np.array(devs), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))

    def actor_learner_devices(self) -> tuple[list, list]:
        """Sebulba's split: this process's actor devices and the learner devices of every process (they
        may overlap on one device). ``actor_devices``/``learner_devices`` index each process's own devices,
        so every host has the same layout and the learner mesh spans the chosen devices of all hosts."""
        c, me = self.config, jax.process_index()
        by_process = [[d for d in self._devices if d.process_index == p] for p in sorted({d.process_index for d in self._devices})]
        n = len(by_process[0])
        for field, idx in (("actor_devices", c.actor_devices), ("learner_devices", c.learner_devices)):
            bad = [i for i in idx or [] if not 0 <= i < n]
            if bad:
                raise RlkError(f"backend.{field}: index {bad[0]} out of range (each process uses {n} device(s))")

        def split(devs: list) -> tuple[list, list]:
            actors = [devs[i] for i in c.actor_devices] if c.actor_devices else devs[:1]
            learners = [devs[i] for i in c.learner_devices] if c.learner_devices else [d for d in devs if d not in actors] or list(devs)
            return actors, learners

        splits = [split(devs) for devs in by_process]
        actors = next(a for a, _ in splits if a[0].process_index == me)
        return actors, [d for _, learners in splits for d in learners]


def make_cpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=N for N of them)."""
    return PlatformBackend("cpu", config)


def make_gpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """NVIDIA GPUs through JAX's CUDA plugin."""
    return PlatformBackend("gpu", config)


def make_tpu(config: Optional[PlatformConfig] = None) -> PlatformBackend:
    """TPU cores (a pod slice when run on every host)."""
    return PlatformBackend("tpu", config)
