"""Metric sinks: CSV and JSONL files, TensorBoard events, and a rich console progress bar.

Rows are dicts of scalars; the CSV's columns are fixed by the first row. Only process 0 writes.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Iterable, Optional

TIMING_COLUMNS = ("steps_per_s", "wall_s")
FLUSH_SECS = 5  # TensorBoard events written at most this many seconds late


def _fmt(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return float("nan")
    return v


class FileSink:
    """``metrics.csv`` and ``metrics.jsonl``; on resume, rows after the checkpoint are dropped."""

    def __init__(self, run_dir: Path, columns: list[str], keep_until_step: Optional[int] = None):
        self.csv_path = run_dir / "metrics.csv"
        self.jsonl_path = run_dir / "metrics.jsonl"
        self.columns = columns
        if keep_until_step is None:
            self.csv_path.write_text(",".join(columns) + "\n")
            self.jsonl_path.write_text("")
        else:
            self._truncate(keep_until_step)

    def _truncate(self, step: int) -> None:
        if self.csv_path.exists():
            rows = list(csv.DictReader(self.csv_path.open()))
            with self.csv_path.open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
                w.writeheader()
                w.writerows(r for r in rows if int(r["step"]) <= step)
        else:
            self.csv_path.write_text(",".join(self.columns) + "\n")
        if self.jsonl_path.exists():
            lines = [l for l in self.jsonl_path.read_text().splitlines() if l.strip()]
            kept = [l for l in lines if json.loads(l)["step"] <= step]
            self.jsonl_path.write_text("".join(l + "\n" for l in kept))

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        with self.csv_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
        with self.jsonl_path.open("a") as f:
            for r in rows:
                f.write(json.dumps({k: _fmt(v) for k, v in r.items()}) + "\n")

    def close(self) -> None:
        pass


class TensorBoardSink:
    """TensorBoard event files under ``run_dir/tb`` (one tag per metric, ``seed_i/`` prefix when several),
    against the row counter ``axis`` (``env_steps``; ``step`` for model runs). Non-finite values (e.g. an episode return before any episode ended) are
    left out here (tensorboardX warns on each); the JSONL and CSV keep them."""

    def __init__(self, run_dir: Path, axis: str = "env_steps"):
        from tensorboardX import SummaryWriter

        self.axis = axis
        # events reach the file every few seconds and at close, not at every call: a flush per row costs
        # ~2 ms of CPU, which a loop of short calls on a busy CPU pays in throughput
        self.writer = SummaryWriter(str(run_dir / "tb"), flush_secs=FLUSH_SECS)

    def write(self, rows: Iterable[dict[str, Any]]) -> None:
        rows = list(rows)
        many = len({r.get("seed") for r in rows}) > 1
        for r in rows:
            prefix = f"seed_{r['seed']}/" if many else ""
            for k, v in r.items():
                if k in ("step", "seed") or not isinstance(v, (int, float)) or not math.isfinite(v):
                    continue
                self.writer.add_scalar(prefix + k, v, r[self.axis])

    def close(self) -> None:
        self.writer.close()
