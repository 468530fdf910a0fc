"""Checkpoints of a run's whole training state with orbax (atomic: a killed save leaves the last one).

A checkpoint's folder is named by its step: the ``RunConfig.steps`` units done (env steps for agent
runs, updates for model runs). Retention: the last ``keep`` checkpoints, plus (``keep_best``) the one
with the highest ``eval_return`` (the mean over seeds of an evaluation during training, stored as the
checkpoint's orbax metrics). Restore verifies what it reads: a checkpoint whose stored values cannot all
be read (truncated or missing files, an empty folder) or that orbax fails to restore is damaged; the newest intact one is restored instead, with a one-line
warning naming both (a resumed run moves the damaged ones aside to ``<step>.damaged``), and a one-line
error when none is intact.

The state is saved as a flat dict of its array leaves; restoring needs a template of the same
structure (the freshly built state), so a checkpoint holds no Python objects, only arrays.

Many hosts (``jax.process_count() > 1``): only process 0 writes. ``save`` is collective: every
process calls it at the same call, the state's global arrays are gathered to host numpy arrays on
every process (``process_allgather``; a run's state is small next to host memory), and process 0
saves them with an orbax manager restricted to itself. ``restore`` reads on every process (the run
folder must be on a file system every host sees) and places each leaf into the template's sharding,
each process building its own shards. The files are the same as a one-process run's, so either
kind of run resumes or evaluates the other's checkpoints.

One process writes in the background (orbax's async checkpointing): ``save`` copies the state's leaves
to host memory and returns, so the next compiled call (which may donate the state's buffers) runs while
orbax writes; the next ``save``, ``latest`` and ``close`` wait for it. Orbax commits a checkpoint by
renaming its folder and deletes older ones only after that, so a process killed mid-write keeps the
last complete checkpoint.

Every checkpoint records ``FORMAT`` in its meta: a checkpoint of another format (e.g. one saved
before rlk's MLP weights became ``[in, out]``, whose square layers would otherwise load transposed)
is refused with a one-line error, as is one whose tree or shapes differ from the run's state.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import jax
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts

from rlk.core import peers
from rlk.core.errors import RlkError

FORMAT = 3  # 3: folders named by step; 2: by call index; 1 (no "format" key): MLP weights [out, in]


def _flat(state: Any) -> dict[str, Any]:
    """The leaves by position; empty ones (e.g. a zero-length field of a pgx MinAtar state) are left
    out, since orbax cannot save zero-size arrays; restore rebuilds them from the template."""
    return {f"{i:05d}": leaf for i, leaf in enumerate(jax.tree.leaves(state)) if np.size(leaf) > 0}


def _empty_like(like: Any) -> Any:
    """A zero-size leaf of ``like``'s shape and dtype, where ``like`` lives (numpy if it is numpy)."""
    empty = np.zeros(np.shape(like), like.dtype)
    sharding = getattr(like, "sharding", None)
    return empty if sharding is None or isinstance(like, np.ndarray) else jax.device_put(empty, sharding)


def _eval_return(metrics: Optional[dict]) -> float:
    """A checkpoint's evaluation return, -inf when it was not evaluated."""
    value = (metrics or {}).get("eval_return")
    return -math.inf if value is None or math.isnan(value) else float(value)


@dataclasses.dataclass
class Retention:
    """An orbax preservation policy: the last ``keep`` checkpoints and, with ``keep_best``, the one with
    the highest ``eval_return`` (ties: the earliest)."""

    keep: int
    keep_best: bool

    def should_preserve(self, checkpoints: Sequence[Any], *, context: Any) -> list[bool]:
        keep = [i >= len(checkpoints) - self.keep for i in range(len(checkpoints))]
        best = _best([(c.step, c.metrics) for c in checkpoints])
        return [k or (self.keep_best and c.step == best) for k, c in zip(keep, checkpoints)]


def _best(steps_metrics: Sequence[tuple[int, Optional[dict]]]) -> Optional[int]:
    """The step with the highest ``eval_return`` (ties: the earliest; None: none was evaluated)."""
    scored = [(_eval_return(m), -step, step) for step, m in steps_metrics if _eval_return(m) > -math.inf]
    return max(scored)[2] if scored else None


Which = Union[None, str, int]  # None or "last": the newest intact checkpoint; "best"; or a step


class Checkpointer:
    """Saves ``{"state": <leaves>, "meta": {...}}`` under ``run_dir/checkpoints/<step>``."""

    def __init__(self, run_dir: str | Path, keep: int = 2, keep_best: bool = False):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        self.retention = Retention(keep, keep_best)
        self.process = jax.process_index()
        self.many = jax.process_count() > 1
        self.manager: Optional[ocp.CheckpointManager] = None
        if not self.many:
            self.manager = self._manager(create=True, asynchronous=True)
        elif self.process == 0:
            self.directory.mkdir(parents=True, exist_ok=True)  # orbax creates no folder for a process subset
            self.manager = self._manager(create=False, processes={0})
        self._last = self.latest()

    def _manager(self, create: bool, processes: Optional[set[int]] = None,
                 asynchronous: bool = False) -> ocp.CheckpointManager:
        multi = ocp.options.MultiprocessingOptions() if processes is None else \
            ocp.options.MultiprocessingOptions(primary_host=min(processes), active_processes=processes)
        return ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                preservation_policy=self.retention, best_fn=_eval_return, best_mode="max",  # best_fn: metrics are saved
                create=create, enable_async_checkpointing=asynchronous, multiprocessing_options=multi),
            item_handlers=ocp.StandardCheckpointHandler(),  # also lets item_metadata read the saved shapes
        )

    def latest(self) -> Optional[int]:
        """The last committed checkpoint's step (waits for a save in flight)."""
        if self.manager is not None:
            self.manager.wait_until_finished()
            return self.manager.latest_step()
        steps = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()] if self.directory.is_dir() else []
        return max(steps, default=None)

    def save(self, step: int, state: Any, meta: dict[str, float], eval_return: Optional[float] = None) -> None:
        """Saves ``state`` as step ``step``'s checkpoint (``write`` of its ``snapshot``)."""
        if step != self._last:
            self.write(step, self.snapshot(state), meta, eval_return)

    def snapshot(self, state: Any) -> Any:
        """A host copy of ``state`` to ``write`` later (the caller may then donate ``state``'s buffers):
        numpy copies, never views of device buffers; many hosts: gathered from every process (collective)."""
        if not self.many:
            return jax.tree.map(lambda x: np.array(x, copy=True), state)
        from jax.experimental import multihost_utils

        with peers.guard():
            return multihost_utils.process_allgather(state, tiled=True)

    def write(self, step: int, snapshot: Any, meta: dict[str, float], eval_return: Optional[float] = None) -> None:
        """Writes a ``snapshot`` as step ``step``'s checkpoint (once per step), with the ``eval_return`` that
        ranks it for ``keep_best`` (None: not evaluated); one process: in the background."""
        if step == self._last:
            return
        self._last = step
        if self.manager is None:  # many hosts: only process 0 writes
            return
        meta = {**meta, "format": float(FORMAT)}
        tree = {"state": _flat(snapshot), "meta": {k: np.asarray(v) for k, v in meta.items()}}
        metrics = {} if eval_return is None else {"eval_return": float(eval_return)}
        self.manager.save(step, args=ocp.args.StandardSave(tree), metrics=metrics)
        if self.many:
            self.manager.wait_until_finished()

    def restore(self, template: Any, meta_keys: list[str], which: Which = None,
                discard_damaged: bool = False) -> tuple[int, Any, dict[str, float]]:
        """``(step, state, meta)`` of checkpoint ``which`` (see ``Which``); with ``discard_damaged`` (a
        resumed run, which will save those steps again), damaged checkpoints newer than the restored one
        are renamed ``<step>.damaged``."""
        if not self.many:
            step, state, meta = self._restore(self.manager, template, meta_keys, which, discard_damaged)
            if discard_damaged:  # a resumed run saves the steps after ``step`` again
                self._last = step
            return step, state, meta
        reader = self.manager if self.manager is not None else self._manager(create=False, processes={self.process})
        try:
            call, host, meta = self._restore(reader, _host_template(template), meta_keys, which,
                                             discard_damaged and self.process == 0)
        finally:
            if reader is not self.manager:
                reader.close()
        if discard_damaged:
            self._last = call

        def place(arr, like):
            sharding = getattr(like, "sharding", None)
            if sharding is None:
                return arr
            return jax.make_array_from_callback(arr.shape, sharding, lambda index: arr[index])

        return call, jax.tree.map(place, host, template), meta

    def _steps(self, manager, which: Which) -> list[int]:
        """The steps to try, in order: the newest first (``which`` None or "last"), else one step."""
        steps = sorted(manager.all_steps(), reverse=True)
        if not steps:
            raise RlkError(f"{self.directory} holds no checkpoint")
        if which is None or which == "last":
            return steps
        if which == "best":
            best = self.best(manager)
            if best is None:
                raise RlkError(f"{self.directory} holds no best checkpoint (no kept checkpoint was evaluated during "
                               "training; train with -o eval_every_steps=N)")
            return [best]
        if which not in steps:
            raise RlkError(f"{self.directory} holds no checkpoint of step {which} "
                           f"(it holds {', '.join(str(s) for s in sorted(steps))})")
        return [int(which)]

    @staticmethod
    def best(manager) -> Optional[int]:
        """The step of the kept checkpoint with the highest ``eval_return`` (None: none was evaluated)."""
        def metrics(step: int) -> Optional[dict]:
            try:
                return manager.metrics(step)
            except Exception:  # noqa: BLE001: a damaged checkpoint's metrics
                return None

        return _best([(s, metrics(s)) for s in manager.all_steps()])

    def _restore(self, manager, template: Any, meta_keys: list[str], which: Which = None,
                 discard_damaged: bool = False) -> tuple[int, Any, dict[str, float]]:
        damaged: list[tuple[int, str]] = []
        for step in self._steps(manager, which):
            try:
                restored = self._restore_step(manager, step, template, meta_keys)
            except _Damaged as err:
                damaged.append((step, str(err)))
                continue
            if damaged:
                newest, why = damaged[0]
                print(f"warning: checkpoint {newest} in {self.directory} is damaged ({why}); "
                      f"using checkpoint {step}", file=sys.stderr)
                if discard_damaged:
                    for bad, _ in damaged:
                        (self.directory / str(bad)).rename(self.directory / f"{bad}.damaged")
                    manager.reload()
            return restored
        newest, why = damaged[0]
        if len(damaged) == 1 and which not in (None, "last"):
            raise RlkError(f"checkpoint {newest} in {self.directory} is damaged ({why})")
        raise RlkError(f"no intact checkpoint in {self.directory}: all {len(damaged)} are damaged "
                       f"(newest, {newest}: {why})")

    def _restore_step(self, manager, step: int, template: Any, meta_keys: list[str]) -> tuple[int, Any, dict[str, float]]:
        abstract = {  # numpy leaves restore as numpy, whatever sharding the saving run had
            "state": jax.tree.map(lambda x: x if isinstance(x, np.ndarray) else ocp.utils.to_shape_dtype_struct(x),
                                  _flat(template)),
            "meta": {k: jax.ShapeDtypeStruct((), np.float64) for k in [*meta_keys, "format"]},
        }
        _verify(self.directory / str(step))
        self._check_fits(manager, step, abstract["state"])
        try:
            tree = manager.restore(step, args=ocp.args.StandardRestore(abstract))
        except Exception as err:  # noqa: BLE001: whatever orbax or tensorstore raise on unreadable files
            raise _Damaged(_first_line(err)) from None
        leaves = [tree["state"][f"{i:05d}"] if np.size(like) > 0 else _empty_like(like)
                  for i, like in enumerate(jax.tree.leaves(template))]
        state = jax.tree.unflatten(jax.tree.structure(template), leaves)
        meta = {k: float(v) for k, v in tree["meta"].items()}
        saved_format = meta.pop("format")
        if saved_format != FORMAT:
            raise RlkError(f"the checkpoint of step {step} in {self.directory} has format {saved_format:g}, "
                           f"this rlk reads format {FORMAT} (retrain: format 2 named checkpoints by call index)")
        return step, state, meta

    def _check_fits(self, manager, step: int, wanted: dict[str, Any]) -> None:
        """A one-line error when the saved leaves differ from the template's in number or shape, before
        orbax starts reading (a failed orbax restore leaves reads running that print at exit)."""
        try:
            saved = (manager.item_metadata(step) or {}).get("state") if hasattr(manager, "item_metadata") else None
        except Exception as err:  # noqa: BLE001: unreadable metadata: a damaged checkpoint
            raise _Damaged(_first_line(err)) from None
        if saved is None:
            return
        problem = None
        if set(saved) != set(wanted):
            problem = f"{len(saved)} saved arrays, this run has {len(wanted)}"
        else:
            for name in sorted(wanted):
                have, want = tuple(saved[name].shape), tuple(np.shape(wanted[name]))
                if have != want:
                    problem = f"array {int(name)} has shape {have} saved, {want} in this run"
                    break
        if problem:
            raise RlkError(f"the checkpoint of step {step} in {self.directory} does not fit this run's state "
                           f"(saved with another config or an older rlk?): {problem}")

    def close(self) -> None:
        """Waits for a save in flight, then closes orbax's manager."""
        if self.manager is not None:
            self.manager.close()


class _Damaged(Exception):
    """A checkpoint orbax cannot read (truncated or missing files, an empty folder)."""


def _verify(folder: Path) -> None:
    """Reads every value of a checkpoint's store (orbax's OCDBT database under ``default/``) synchronously,
    raising ``_Damaged`` for a missing, truncated or unreadable one: before orbax's asynchronous restore,
    whose other reads outlive a failed one and print tracebacks at exit."""
    try:
        store = ts.KvStore.open({"driver": "ocdbt", "base": (folder / "default").absolute().as_uri() + "/"}).result()
        keys = store.list().result()
        for key in keys:
            store.read(key).result()
    except Exception as err:  # noqa: BLE001: whatever tensorstore raises on unreadable files
        raise _Damaged(_first_line(err)) from None
    if not keys:
        raise _Damaged("no stored arrays (a missing manifest or an empty folder)")


def _first_line(err: Exception, limit: int = 160) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    text = f"{type(err).__name__}: {text}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _host_template(template: Any) -> Any:
    """Host stand-ins of the template's leaves (global shape and dtype): restore to numpy."""
    return jax.tree.map(lambda x: np.zeros(np.shape(x), x.dtype), template)
