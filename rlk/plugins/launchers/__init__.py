"""Sweep launchers: how ``rlk sweep`` runs its jobs (``--launcher local|slurm|ray``).

``local`` trains the jobs one after another in the sweep's own process (the default). ``slurm`` submits
them as a SLURM job array through submitit; ``ray`` runs them as Ray tasks on a Ray cluster (or a local
instance). Each job is an ordinary ``rlk train`` (``rlk.core.launch.Job``) writing its own run folder
under the sweep folder. submitit and Ray come with ``pip install 'rlk[cluster]'``; their factories import
them, so ``rlk list-plugins`` does not.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.launchers.configs import RayConfig, SlurmConfig


@hookimpl
def rlk_register_launchers(register):
    register("local", lazy("rlk.plugins.launchers.local:make_local"),
             description="every job in this process, one after another (the default)")
    register("slurm", lazy("rlk.plugins.launchers.slurm:make_slurm"), config=SlurmConfig,
             description="a SLURM job array through submitit (cluster=local: submitit's local executor); needs rlk[cluster]")
    register("ray", lazy("rlk.plugins.launchers.ray_launcher:make_ray"), config=RayConfig,
             description="Ray tasks on a Ray cluster (address) or a local Ray instance; needs rlk[cluster]")
