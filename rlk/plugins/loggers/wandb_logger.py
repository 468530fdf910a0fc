"""The ``wandb`` logger: one Weights & Biases run per launch, its files in ``<run>/wandb``.

The run config and ``run_info.json``'s launch (versions, git, command, machine) are the W&B run's config.
A resume starts a new W&B run in the same group (the run folder's name), tagged ``resumed``, whose steps
begin after the checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from rlk.core.logging import Row, RunInfo, require, scalars
from rlk.plugins.loggers.configs import WandbConfig


class WandbLogger:
    """Each call's metrics as one W&B history row at the run's axis value (``_step`` = env steps)."""

    def __init__(self, run: Any, info: RunInfo):
        self.run, self.info = run, info

    def write(self, rows: Sequence[Row]) -> None:
        for step, values in scalars(rows, self.info).items():
            self.run.log(values, step=step)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def make_wandb(config: WandbConfig, run_dir: Path, info: RunInfo) -> WandbLogger:
    """A Weights & Biases run (online, or offline in <run>/wandb)."""
    wandb = require("wandb", "wandb")
    run = wandb.init(
        project=config.project or os.environ.get("WANDB_PROJECT") or "rlk", entity=config.entity,
        name=config.run_name or info.name, group=config.group or info.name, mode=config.mode,
        tags=[*config.tags, *(["resumed"] if info.resumed_at else [])], dir=str(run_dir),
        config={**info.config, "run_info": info.metadata, "resumed_at": info.resumed_at},
        settings=wandb.Settings(console="off", silent=True),  # rlk's own bar and lines stay the only output
    )
    return WandbLogger(run, info)
