"""Sweep jobs and the launcher contract: how a sweep's runs go out (this process, SLURM, Ray, ...).

A ``Job`` is one ordinary ``rlk train``: a validated ``RunConfig`` whose ``run_dir`` is the job's own
folder under the sweep folder. A launcher (a plugin of kind ``launcher``, ``rlk.core.hookspecs``) runs a
list of jobs and says, per job, whether it finished (its ``summary.json`` written) or why not, in one
line. Launchers that run jobs in other processes or on other machines run ``Job.command()``: the same
``rlk train`` a user would type, with the job's config written beside the sweep as YAML; the sweep
folder must then be on a filesystem every worker shares.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Protocol, Sequence

import yaml
from pydantic import ValidationError

from rlk.core.config import RunConfig, one_line
from rlk.core.errors import RlkError
from rlk.core.registry import default_registry


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of a sweep.

    ``name``: the run folder relative to the sweep folder (``agent.learning_rate=3e-4``, or
    ``agent.learning_rate=3e-4/seed=1`` when seeds go out as separate jobs); ``config``: its validated
    config, ``run_dir`` set; ``resume``: the folder holds an unfinished run (a checkpoint, no summary),
    continued with ``rlk train --resume``; ``config_path``: where ``command()`` writes the config.
    """

    name: str
    config: RunConfig
    resume: bool
    config_path: Path

    @property
    def run_dir(self) -> Path:
        return Path(str(self.config.run_dir))

    def command(self) -> list[str]:
        """The job's ``rlk train`` as argv (this interpreter's ``python -m rlk``, without progress bar);
        a new run's config is written to ``config_path`` first."""
        if self.resume:
            return [sys.executable, "-m", "rlk", "train", "--resume", str(self.run_dir.absolute()), "--quiet"]
        data = self.config.model_dump(mode="json")
        data["run_dir"] = str(self.run_dir.absolute())
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        return [sys.executable, "-m", "rlk", "train", "--config", str(self.config_path.absolute()), "--quiet"]


class Launcher(Protocol):
    """What a launcher plugin's factory ``(config, out_dir) -> Launcher`` returns (``out_dir``: the sweep
    folder, where it may keep its own files, e.g. ``out_dir/jobs``)."""

    def run(self, jobs: Sequence[Job], console: Any) -> list[Optional[str]]:
        """Runs every job to its end; per job, in order, None when it finished, else why not in one line.
        ``console``: a rich console for progress and status lines, or None (quiet)."""


def run_command(argv: list[str], log_path: str) -> Optional[str]:
    """Runs ``argv`` (a job's command) with stdout and stderr into ``log_path``: None if it exits 0, else
    ``exit N: <the last line it printed>``. Plain arguments: launchers ship this function to workers."""
    log = Path(log_path)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as f:
        code = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).returncode
    if code == 0:
        return None
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return f"exit {code}: {lines[-1] if lines else 'no output'} (log: {log})"


def make_launcher(name: str, options: dict[str, Any], out_dir: Path) -> Launcher:
    """The launcher plugin ``name`` with its options validated (``-o launcher.FIELD=VALUE``): a one-line
    error naming the launcher or the field at fault."""
    plugin = default_registry().get("launcher", name)
    if plugin.config is None:
        if options:
            raise RlkError(f"launcher '{name}' has no options; drop -o launcher.{next(iter(options))}=...")
        return plugin.factory(None, out_dir)
    try:
        config = plugin.config.model_validate(options)
    except ValidationError as err:
        raise RlkError(one_line(err, "launcher.")) from None
    return plugin.factory(config, out_dir)
