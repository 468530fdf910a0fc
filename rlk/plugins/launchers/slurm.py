"""The ``slurm`` launcher: the sweep's jobs as one SLURM job array, through submitit's AutoExecutor.

Each array task runs the job's ``rlk train`` (``rlk.core.launch.run_command``); submitit keeps its
scripts and logs in ``<sweep>/jobs/submitit`` and each job's output is in ``<sweep>/jobs/<job>.log``.
With ``cluster=local`` submitit's LocalExecutor runs the same path as processes on this machine.
The sweep waits for the array; stopped, it leaves the array running, and the same sweep run again
reads back the runs that finished.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional, Sequence

from rlk.core import interrupts
from rlk.core.errors import RlkError
from rlk.core.extras import require
from rlk.core.launch import Job, run_command
from rlk.plugins.launchers.configs import SlurmConfig


class SlurmLauncher:
    """Submits the jobs as one array and waits for all of them."""

    def __init__(self, config: SlurmConfig, out_dir: Path):
        self.config, self.out_dir = config, out_dir

    def run(self, jobs: Sequence[Job], console: Any) -> list[Optional[str]]:
        submitit = require("submitit", "launcher 'slurm'")
        c = self.config
        executor = submitit.AutoExecutor(folder=self.out_dir / "jobs" / "submitit", cluster=c.cluster)
        executor.update_parameters(
            name="rlk-sweep", timeout_min=c.timeout_min, cpus_per_task=c.cpus_per_task, gpus_per_node=c.gpus_per_node,
            mem_gb=c.mem_gb, slurm_partition=c.partition, slurm_account=c.account,
            slurm_array_parallelism=c.array_parallelism, slurm_setup=c.setup or None)
        commands = [job.command() for job in jobs]
        logs = [str(job.config_path.with_suffix(".log")) for job in jobs]
        submitted = executor.map_array(run_command, commands, logs)
        interrupts.on_signal("sweep interrupted; jobs already submitted may still run; "
                             "the same rlk sweep reads back the runs that finished")
        if console is not None:
            console.print(f"slurm ({c.cluster}): submitted {len(submitted)} job(s), ids "
                          f"{', '.join(j.job_id for j in submitted)}; waiting", highlight=False)
        errors: list[Optional[str]] = []
        for job in submitted:
            try:
                errors.append(job.result())
            except submitit.core.utils.UncompletedJobError as err:
                lines = [line for line in str(err).splitlines() if line.strip()]
                errors.append(f"submitit job {job.job_id}: {lines[0] if lines else type(err).__name__}")
        return errors


def make_slurm(config: SlurmConfig, out_dir: Path) -> SlurmLauncher:
    """A SLURM job array through submitit."""
    if config.cluster == "slurm" and shutil.which("sbatch") is None:
        raise RlkError("launcher 'slurm': no sbatch on this machine (not a SLURM login node); "
                       "-o launcher.cluster=local runs the jobs here through submitit")
    return SlurmLauncher(config, out_dir)
