"""The ``ray`` launcher: each job a Ray task that runs its ``rlk train`` on a Ray worker.

``address`` joins a running Ray cluster (whose workers must see the sweep folder and this Python
environment at the same paths); without it the sweep starts a local Ray instance (``local_cpus``) and
stops it at the end. Each task reserves ``num_cpus``/``num_gpus``; each job's output is in
``<sweep>/jobs/<job>.log``.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any, Optional, Sequence

from rlk.core import interrupts
from rlk.core.errors import RlkError
from rlk.core.extras import require
from rlk.core.launch import Job, run_command
from rlk.plugins.launchers.configs import RayConfig


class RayLauncher:
    """Runs the jobs as Ray tasks and waits for all of them."""

    def __init__(self, config: RayConfig):
        self.config = config

    def run(self, jobs: Sequence[Job], console: Any) -> list[Optional[str]]:
        ray = require("ray", "launcher 'ray'")
        c = self.config
        interrupts.on_signal("sweep interrupted; jobs already sent to a Ray cluster may still run; "
                             "the same rlk sweep reads back the runs that finished")
        if c.address not in (None, "auto"):
            check_reachable(c.address)
        ray.init(address=c.address, num_cpus=None if c.address else c.local_cpus, include_dashboard=False,
                 log_to_driver=False, logging_level=logging.ERROR)
        release = interrupts.at_exit(ray.shutdown)  # a signal ends the sweep: a local instance's processes with it
        try:
            task = ray.remote(run_command).options(num_cpus=c.num_cpus, num_gpus=c.num_gpus, max_retries=0)
            refs = [task.remote(job.command(), str(job.config_path.with_suffix(".log"))) for job in jobs]
            if console is not None:
                where = c.address or f"a local Ray instance ({ray.cluster_resources().get('CPU', 0):g} CPUs)"
                console.print(f"ray: {len(refs)} job(s) on {where}; waiting", highlight=False)
            errors: list[Optional[str]] = []
            for ref in refs:
                try:
                    errors.append(ray.get(ref))
                except ray.exceptions.RayError as err:
                    lines = [line for line in str(err).splitlines() if line.strip()]
                    errors.append(f"ray task: {lines[-1] if lines else type(err).__name__}")
            return errors
        finally:
            release()
            ray.shutdown()


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """A one-line error when nothing listens at ``address`` (``HOST:PORT`` or ``ray://HOST:PORT``): ``ray.init``
    itself retries an unreachable head for minutes, printing nothing."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RlkError(f"launcher.address: expected 'auto', HOST:PORT or ray://HOST:PORT (got {address!r})")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise RlkError(f"launcher 'ray': no Ray head at {address} ({exc.strerror or exc})") from None


def make_ray(config: RayConfig, out_dir: Path) -> RayLauncher:
    """Ray tasks on a Ray cluster or a local Ray instance."""
    return RayLauncher(config)
