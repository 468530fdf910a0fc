"""The ``tensorboard`` logger: event files in ``<run>/tb``, tags grouped (``train/``, ``eval/``, ``loss/``, ``time/``).

A resumed run writes a purge marker at the step after its checkpoint (tensorboardX's ``purge_step``):
TensorBoard then hides what an earlier launch logged past the checkpoint, so no step appears twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from rlk.core.logging import Row, RunInfo, scalars
from rlk.plugins.loggers.configs import TensorBoardConfig


class TensorBoardLogger:
    """Scalars against the run's axis (``env_steps``; ``step`` for model runs)."""

    def __init__(self, run_dir: Path, info: RunInfo, flush_secs: float):
        from tensorboardX import SummaryWriter

        self.info = info
        purge = info.resumed_at[info.axis] + 1 if info.resumed_at else None
        self.writer = SummaryWriter(str(run_dir / "tb"), flush_secs=flush_secs, purge_step=purge)

    def write(self, rows: Sequence[Row]) -> None:
        """One event per step holding every scalar of its rows (not an event per scalar: each event is a
        pickled trip through tensorboardX's writer queue, ~0.3 ms a scalar on a busy 2-core machine)."""
        from tensorboardX.proto.summary_pb2 import Summary
        from tensorboardX.summary import scalar

        for step, values in scalars(rows, self.info).items():
            summary = Summary(value=[v for name, value in values.items() for v in scalar(name, value).value])
            self.writer.file_writer.add_summary(summary, step)

    def close(self) -> None:
        self.writer.close()


def make_tensorboard(config: TensorBoardConfig, run_dir: Path, info: RunInfo) -> TensorBoardLogger:
    """TensorBoard event files in <run>/tb."""
    return TensorBoardLogger(run_dir, info, config.flush_secs)
