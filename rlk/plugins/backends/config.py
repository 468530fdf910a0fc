"""The backends' and architectures' configs, light (no jax): the package registers from here, and
``platforms``, ``sebulba`` and ``trainer`` import when a run builds them."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from rlk.core.config import PluginConfig
from rlk.learn.optim import OptimConfig

LAUNCH_FIELDS = ("coordinator", "num_processes", "process_id")  # differ per process or per launch


class PlatformConfig(PluginConfig):
    num_devices: Optional[int] = Field(None, ge=1, description="use the first N local devices of each process (default: all)")
    actor_devices: Optional[list[int]] = Field(
        None, description="Sebulba: indices (into the devices used) of actor devices (default: the first)")
    learner_devices: Optional[list[int]] = Field(
        None, description="Sebulba: indices of learner devices (default: all but the actors', or all if one)")
    distributed: Literal["auto", "on", "off"] = Field(
        "auto", description="many hosts through jax.distributed: auto (when coordinator/num_processes/process_id "
                            "is given or SLURM/MPI/a TPU slice started several processes), on (JAX detects the rest), off")
    coordinator: Optional[str] = Field(None, description="many hosts: HOST:PORT of process 0's coordinator service")
    num_processes: Optional[int] = Field(None, ge=1, description="many hosts: number of processes (one per host)")
    process_id: Optional[int] = Field(None, ge=0, description="many hosts: this process's index, 0 .. num_processes-1")
    init_timeout_s: int = Field(300, ge=1, description="many hosts: longest wait for every process to join")

    @model_validator(mode="after")
    def _check_launch(self):
        given = [f for f in LAUNCH_FIELDS if getattr(self, f) is not None]
        if given and self.distributed == "off":
            raise ValueError(f"{given[0]} is given but distributed is 'off'")
        if self.num_processes is not None and self.process_id is not None and self.process_id >= self.num_processes:
            raise ValueError(f"process_id={self.process_id} must be below num_processes={self.num_processes}")
        if self.coordinator is not None:
            host, _, port = self.coordinator.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"coordinator must be HOST:PORT with a port in 1..65535 (got {self.coordinator!r})")
        return self


class SebulbaConfig(PluginConfig):
    actor_threads_per_device: int = Field(2, ge=1, description="actor threads per actor device (Podracer: several)")
    staleness: int = Field(1, ge=0, description="trajectory k is acted with the parameters of update k - staleness "
                                                "(a fixed schedule: same seed, same numbers; 0: synchronous)")
    learner_timeout_s: float = Field(120.0, gt=0, description="longest wait of the learner for a trajectory")


class TrainerConfig(OptimConfig):
    """The Trainer's options; the optimiser's (``rlk.learn.OptimConfig``: Adam 1e-3, no clipping by default)."""

    batch_size: int = Field(64, ge=1, description="global batch (split over devices; must be divisible by their number)")
    eval_split: str = Field("test", description="split that rlk eval and summary.json evaluate on")
    eval_examples: int = Field(1000, ge=1, description="evaluate on the first N examples of eval_split")
    sample_examples: int = Field(8, ge=1, description="examples (columns) of the rlk sample grid")
