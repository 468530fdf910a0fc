"""The ``local`` launcher: every job in this process, one after another, with its progress bar.

A job is the function ``rlk train`` calls (``rlk.core.run.train``, or ``resume`` for an unfinished run
folder); an ``RlkError`` fails that job alone (its line is reported by the sweep), a stop by SIGINT or
SIGTERM stops the sweep with the job's checkpoint saved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

from rlk.core.errors import RlkError
from rlk.core.launch import Job


class LocalLauncher:
    """Runs the jobs in order in this process."""

    def run(self, jobs: Sequence[Job], console: Any) -> list[Optional[str]]:
        from rlk.core import run as run_mod

        errors: list[Optional[str]] = []
        for job in jobs:
            try:
                if job.resume:
                    run_mod.resume(job.run_dir, console=console)
                else:
                    run_mod.train(job.config, console=console)
                errors.append(None)
            except RlkError as err:
                errors.append(str(err))
        return errors


def make_local(config: None, out_dir: Path) -> LocalLauncher:
    """Every job in this process, one after another."""
    return LocalLauncher()
