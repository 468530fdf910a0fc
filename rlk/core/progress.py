"""The console progress bar of a run: "compiling", then env steps with steps/s, returns and an ETA,
then "evaluating". Redrawn by the loop at most once a second (no refresh thread: on a 2-core machine
each redraw's ~10 ms of CPU competes with the compiled calls)."""

from __future__ import annotations

import math
import time
from typing import Any, Optional, Sequence

import numpy as np

REDRAW_S = 1.0


class NoBar:
    """What a run without a console (or on a process other than 0) gets."""

    def phase(self, text: Optional[str]) -> None:
        pass

    def update(self, steps: int, rows: Optional[Sequence[dict[str, Any]]]) -> None:
        pass

    def close(self) -> None:
        pass


class RunBar(NoBar):
    """``phase(text)`` shows what the run is doing besides training (``None``: training);
    ``update(steps, rows)`` after each call's rows; ``headline`` is the row value shown (e.g. episode_return)."""

    def __init__(self, console: Any, title: str, total: int, unit: str, headline: str):
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.title, self.total, self.headline = title, total, headline
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} " + unit),
            TextColumn("{task.fields[sps]}"), TextColumn("{task.fields[ret]}"), TextColumn("{task.fields[ev]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, transient=False, auto_refresh=False)
        self.task = self.progress.add_task(title, total=total, sps=f"{unit}/s -", ret="", ev="")
        self.unit = unit
        self.drawn = time.monotonic()
        self.progress.start()

    def phase(self, text: Optional[str]) -> None:
        self.progress.update(self.task, description=f"{self.title}: {text}" if text else self.title)
        self._draw()

    def update(self, steps: int, rows: Optional[Sequence[dict[str, Any]]]) -> None:
        fields = {}
        if rows:
            values = [r[self.headline] for r in rows if not math.isnan(r.get(self.headline, math.nan))]
            fields = {"sps": f"{rows[0]['steps_per_s']:,.1f} {self.unit}/s",
                      "ret": f"{self.headline} {np.mean(values):.4g}" if values else f"{self.headline} -"}
            evals = [r["eval_return"] for r in rows if not math.isnan(r.get("eval_return", math.nan))]
            if evals:  # the last evaluation stays shown until the next
                fields["ev"] = f"eval_return {np.mean(evals):.4g}"
        self.progress.update(self.task, completed=steps, **fields)
        if time.monotonic() - self.drawn >= REDRAW_S or steps >= self.total:
            self._draw()

    def _draw(self) -> None:
        self.progress.refresh()
        self.drawn = time.monotonic()

    def close(self) -> None:
        self.progress.stop()
