"""Where a run came from: versions, git commits, the command line and the machine, in ``run_info.json``.

Written beside ``config.json`` when a run starts; each resume adds its own launch under ``resumes``.
Nothing here fails a run: a missing ``git``, a folder outside a repository or an unreadable
``/proc/cpuinfo`` leave the field out or ``None``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shlex
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import jax

FILE = "run_info.json"


def _version(dist: str) -> Optional[str]:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _git(folder: Path, *args: str) -> Optional[str]:
    try:
        proc = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_commit(folder: Path) -> Optional[dict[str, Any]]:
    """``{"commit", "dirty", "root"}`` of the git checkout holding ``folder``; ``None`` outside one or
    without git. ``dirty``: tracked files differ from the commit."""
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return None
    status = _git(folder, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "root": _git(folder, "rev-parse", "--show-toplevel")}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect() -> dict[str, Any]:
    """This launch: versions, git commits (of the working folder's repository and of rlk's source tree
    when it is a checkout), the command line, and the machine with its JAX devices."""
    devices = jax.devices()
    git = {"cwd": git_commit(Path.cwd()), "rlk": git_commit(Path(__file__).resolve().parents[1])}
    return {
        "started_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "versions": {"rlk": _version("rlk"), "jax": jax.__version__, "jaxlib": _version("jaxlib"),
                     "python": platform.python_version()},
        "git": {k: v for k, v in git.items() if v is not None},
        "command": shlex.join(sys.argv),
        "cwd": str(Path.cwd()),
        "machine": {"hostname": socket.gethostname(), "platform": platform.platform(), "cpu": _cpu(),
                    "cpu_count": os.cpu_count(), "backend": jax.default_backend(),
                    "device_kind": devices[0].device_kind, "device_count": len(devices),
                    "process_count": jax.process_count()},
    }


def record(run_dir: Path, resumed_at: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """Writes this launch into ``run_dir/run_info.json`` (a resume appends to ``resumes``); returns it."""
    launch = collect()
    path = run_dir / FILE
    if resumed_at is None:
        data: dict[str, Any] = {**launch, "resumes": []}
    else:
        launch["resumed_at"] = resumed_at
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):  # a run from before run_info.json, or a damaged one: start it anew
            data = {"resumes": []}
        data.setdefault("resumes", []).append(launch)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return launch
