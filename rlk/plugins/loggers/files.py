"""The ``csv`` logger: ``metrics.csv`` (columns fixed by the first row) and ``metrics.jsonl``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Optional, Sequence

from rlk.core.logging import Row, RunInfo, columns


class CsvLogger:
    """Appends rows to ``metrics.csv`` and ``metrics.jsonl``; a resumed run first drops the rows an earlier
    launch logged after its checkpoint (they are computed again, identically)."""

    def __init__(self, run_dir: Path, first_columns: Sequence[str], keep_until_step: Optional[int] = None):
        self.csv_path = run_dir / "metrics.csv"
        self.jsonl_path = run_dir / "metrics.jsonl"
        self.first_columns = tuple(first_columns)
        self.keep_until_step = keep_until_step
        self.columns: Optional[list[str]] = None  # fixed by the first row

    def _start(self, first_row: Row) -> None:
        self.columns = columns(first_row, self.first_columns)
        if self.keep_until_step is None:
            self.csv_path.write_text(",".join(self.columns) + "\n")
            self.jsonl_path.write_text("")
        else:
            self._truncate(self.keep_until_step)

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

    def write(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        if self.columns is None:
            self._start(rows[0])
        with self.csv_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writerows({k: repr(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
        with self.jsonl_path.open("a") as f:
            for r in rows:
                f.write(json.dumps(dict(r)) + "\n")

    def close(self) -> None:
        pass


def make_csv(config: Any, run_dir: Path, info: RunInfo) -> CsvLogger:
    """metrics.csv and metrics.jsonl in the run folder."""
    return CsvLogger(run_dir, info.first_columns, info.resumed_at["step"] if info.resumed_at else None)
