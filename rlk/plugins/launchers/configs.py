"""Options of the launcher plugins: ``rlk sweep ... --launcher slurm -o launcher.partition=gpu``."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from rlk.core.config import PluginConfig


class SlurmConfig(PluginConfig):
    cluster: Literal["slurm", "local"] = Field("slurm", description="slurm: sbatch on this cluster; local: submitit's "
                                               "LocalExecutor, the same code path as processes on this machine")
    partition: Optional[str] = Field(None, description="SLURM partition (default: the cluster's)")
    timeout_min: int = Field(60, gt=0, description="time limit of each job, minutes")
    cpus_per_task: int = Field(2, gt=0, description="CPUs of each job")
    gpus_per_node: int = Field(0, ge=0, description="GPUs of each job")
    mem_gb: Optional[float] = Field(None, gt=0, description="memory of each job, GB (default: the partition's)")
    account: Optional[str] = Field(None, description="SLURM account to charge")
    array_parallelism: int = Field(64, gt=0, description="jobs of the array running at once")
    setup: list[str] = Field(default_factory=list, description="shell lines each job runs first "
                             "(e.g. 'module load cuda'); the job's python is this sweep's")


class RayConfig(PluginConfig):
    address: Optional[str] = Field(None, description="Ray cluster to join ('auto', 'ray://HOST:10001'); "
                                   "None: start a local Ray instance for the sweep")
    local_cpus: Optional[int] = Field(None, gt=0, description="CPUs of the local instance address=None starts "
                                      "(default: all of this machine's)")
    num_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves for each job (jobs at once = CPUs / num_cpus)")
    num_gpus: float = Field(0.0, ge=0, description="GPUs Ray reserves for each job")
