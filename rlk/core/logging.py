"""Metric loggers: the ``Logger`` contract, what a logger is told about its run, and how a run opens them.

A logger is a plugin of kind ``logger`` (hook ``rlk_register_loggers``), built by a factory
``(config, run_dir, run_info) -> Logger``. Rows are dicts of scalars, one per seed and compiled call,
holding the counters (``step``, ``env_steps`` or ``examples``), ``seed`` and the metrics. Only process 0
writes. ``csv`` (``metrics.csv``, ``metrics.jsonl``) is part of every run: resume, ``rlk plot`` and the
summary of a resumed, finished run read it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Protocol, Sequence

from pydantic import BaseModel

from rlk.core.config import Component, as_component, validate_component
from rlk.core.errors import RlkError

TIMING_COLUMNS = ("steps_per_s", "wall_s")
REQUIRED = "csv"  # the logger every run has
TRACKERS_EXTRA = "pip install 'rlk[trackers]'"

Row = Mapping[str, Any]


class Logger(Protocol):
    """Where metric rows go: a file, TensorBoard, an experiment tracker."""

    def write(self, rows: Sequence[Row]) -> None:
        """Rows of one compiled call (one per seed); counters increase from call to call."""

    def close(self) -> None:
        """Flushes and releases; called once, also when the run stops early."""


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a logger knows about its run.

    Attributes:
      config: the resolved run config, as saved in ``config.json``.
      metadata: versions, git commit, command line and machine (``run_info.json``'s latest launch).
      axis: the counter the metrics are plotted against (``"env_steps"``; ``"step"`` for model runs).
      counters: the names of the row's counters (``step``, ``seed`` and the program's), not metrics.
      first_columns: ``metrics.csv``'s leading columns, in order (the metrics follow sorted, timing last).
      resumed_at: the counters of the checkpoint a resumed run starts from (``{"step": 40, "env_steps":
        40960}``); rows logged after it by an earlier launch are stale. ``None`` for a fresh run.
    """

    config: dict[str, Any]
    metadata: dict[str, Any]
    axis: str
    counters: tuple[str, ...]
    first_columns: tuple[str, ...]
    resumed_at: Optional[dict[str, int]] = None

    @property
    def name(self) -> str:
        """The run's name: its folder's name."""
        return Path(self.config.get("run_dir") or ".").resolve().name


def columns(first_row: Row, first_columns: Sequence[str]) -> list[str]:
    """``metrics.csv``'s columns: the leading ones, the metrics sorted, the timing columns last."""
    rest = sorted(set(first_row) - set(first_columns) - set(TIMING_COLUMNS))
    return list(first_columns) + rest + [c for c in TIMING_COLUMNS if c in first_row]


def tag(key: str, loss_names: Iterable[str] = ()) -> str:
    """A metric's grouped name for TensorBoard and the trackers: ``loss/...`` for the total loss and each
    named loss's terms, ``eval/...`` for evaluation metrics, ``time/...`` for timing, ``train/...`` else.

    A ``/`` inside the metric's own name becomes ``.`` (``ppo_policy/approx_kl`` -> ``loss/ppo_policy.approx_kl``):
    no tag is then a folder of another, which MLflow's file store and W&B's nesting need."""
    name = key.replace("/", ".")
    if key == "loss":
        return "loss/total"
    if key.split("/", 1)[0] in set(loss_names) or key.endswith("loss"):
        return f"loss/{name}"
    if key.startswith("eval_"):
        return f"eval/{name[len('eval_'):]}"
    if key in TIMING_COLUMNS:
        return f"time/{name}"
    return f"train/{name}"


def scalars(rows: Sequence[Row], info: RunInfo) -> dict[int, dict[str, float]]:
    """``{axis value: {tag: value}}`` of the rows' finite numeric metrics; with several seeds each tag ends
    in ``/seed_<s>``. Non-finite values (a return before any episode ended) are left out."""
    losses = tuple(info.config.get("losses") or ())
    many = len({r.get("seed") for r in rows}) > 1
    out: dict[int, dict[str, float]] = {}
    for r in rows:
        suffix = f"/seed_{r['seed']}" if many else ""
        point = out.setdefault(int(r[info.axis]), {})
        for k, v in r.items():
            if k in info.counters or isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                continue
            point[tag(k, losses) + suffix] = v
    return out


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"agent.learning_rate": 0.1, ...}`` (lists kept as values)."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def resolve_loggers(components: Sequence[Component], registry: Any) -> list[Component]:
    """Each logger looked up and its options validated (``loggers.wandb.project`` names a bad one), defaults
    filled in for ``config.json``; ``csv`` first, added where missing; before anything is built."""
    names = [c.name for c in components]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise RlkError(f"loggers: '{twice[0]}' is named twice")
    if REQUIRED not in names:
        components = [Component(name=REQUIRED), *components]
    return [as_component(c.name, _validated(c, registry)[1]) for c in components]


def _validated(component: Component, registry: Any) -> tuple[Any, Optional[BaseModel]]:
    plugin = registry.get("logger", component.name)
    return plugin, validate_component(component, plugin.config, f"loggers.{component.name}")


class Loggers:
    """The run's loggers by name, written and closed together; a logger's failure is one line naming it."""

    def __init__(self, named: Sequence[tuple[str, Logger]] = ()):
        self.named = list(named)

    def write(self, rows: Sequence[Row]) -> None:
        for name, logger in self.named:
            with _blamed(name, "failed to write"):
                logger.write(rows)

    def close(self) -> None:
        """Closes each logger once, all of them even when one fails (the first failure is raised after)."""
        named, self.named = self.named, []
        error: Optional[RlkError] = None
        for name, logger in named:
            try:
                with _blamed(name, "failed to close"):
                    logger.close()
            except RlkError as exc:
                error = error or exc
        if error is not None:
            raise error


@contextlib.contextmanager
def _blamed(name: str, what: str) -> Iterator[None]:
    try:
        yield
    except RlkError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plugin may raise anything
        raise RlkError(f"logger '{name}' {what}: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}") from None


def open_loggers(components: Sequence[Component], run_dir: Path, info: RunInfo, registry: Any) -> Loggers:
    """The run's loggers, built in order; if one fails (one line naming it), those built before it are closed."""
    built = Loggers()
    try:
        for c in components:
            plugin, config = _validated(c, registry)
            with _blamed(c.name, f"({plugin.package}) failed to start"):
                built.named.append((c.name, plugin.factory(config, run_dir, info)))
    except BaseException:
        built.close()
        raise
    return built


def require(module: str, logger: str) -> Any:
    """Imports a tracker's library when its logger is built; missing: one line naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise RlkError(f"logger '{logger}' needs the '{module}' library: {TRACKERS_EXTRA}") from None
