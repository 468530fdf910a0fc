"""Checkpoints of a run's whole training state with orbax (atomic: a killed save leaves the last one).

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

from pathlib import Path
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

from rlk.core.errors import RlkError

FORMAT = 2  # 2: MLP weights [in, out] (rlk.nn.torsos.Linear); 1 (no "format" key): [out, in]


def _flat(state: Any) -> dict[str, Any]:
    """The leaves by position; empty ones (e.g. a zero-length field of a pgx MinAtar state) are left
    out, since orbax cannot save zero-size arrays; restore rebuilds them from the template."""
    return {f"{i:05d}": leaf for i, leaf in enumerate(jax.tree.leaves(state)) if np.size(leaf) > 0}


def _empty_like(like: Any) -> Any:
    """A zero-size leaf of ``like``'s shape and dtype, where ``like`` lives (numpy if it is numpy)."""
    empty = np.zeros(np.shape(like), like.dtype)
    sharding = getattr(like, "sharding", None)
    return empty if sharding is None or isinstance(like, np.ndarray) else jax.device_put(empty, sharding)


class Checkpointer:
    """Saves ``{"state": <leaves>, "meta": {...}}`` under ``run_dir/checkpoints/<call>``."""

    def __init__(self, run_dir: str | Path, max_to_keep: int = 2):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        self.max_to_keep = max_to_keep
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
            options=ocp.CheckpointManagerOptions(max_to_keep=self.max_to_keep, create=create,
                                                 enable_async_checkpointing=asynchronous, multiprocessing_options=multi),
            item_handlers=ocp.StandardCheckpointHandler(),  # also lets item_metadata read the saved shapes
        )

    def latest(self) -> Optional[int]:
        """The last committed checkpoint's call (waits for a save in flight)."""
        if self.manager is not None:
            self.manager.wait_until_finished()
            return self.manager.latest_step()
        steps = [int(p.name) for p in self.directory.iterdir() if p.name.isdigit()] if self.directory.is_dir() else []
        return max(steps, default=None)

    def save(self, call: int, state: Any, meta: dict[str, float]) -> None:
        """Saves ``state`` as call ``call``'s checkpoint (``write`` of its ``snapshot``)."""
        if call != self._last:
            self.write(call, self.snapshot(state), meta)

    def snapshot(self, state: Any) -> Any:
        """A host copy of ``state`` to ``write`` later (the caller may then donate ``state``'s buffers):
        numpy copies, never views of device buffers; many hosts: gathered from every process (collective)."""
        if not self.many:
            return jax.tree.map(lambda x: np.array(x, copy=True), state)
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(state, tiled=True)

    def write(self, call: int, snapshot: Any, meta: dict[str, float]) -> None:
        """Writes a ``snapshot`` as call ``call``'s checkpoint (once per call); one process: in the background."""
        if call == self._last:
            return
        self._last = call
        if self.manager is None:  # many hosts: only process 0 writes
            return
        meta = {**meta, "format": float(FORMAT)}
        tree = {"state": _flat(snapshot), "meta": {k: np.asarray(v) for k, v in meta.items()}}
        self.manager.save(call, args=ocp.args.StandardSave(tree))
        if self.many:
            self.manager.wait_until_finished()

    def restore(self, template: Any, meta_keys: list[str]) -> tuple[int, Any, dict[str, float]]:
        if not self.many:
            return self._restore(self.manager, template, meta_keys)
        reader = self.manager if self.manager is not None else self._manager(create=False, processes={self.process})
        try:
            call, host, meta = self._restore(reader, _host_template(template), meta_keys)
        finally:
            if reader is not self.manager:
                reader.close()

        def place(arr, like):
            sharding = getattr(like, "sharding", None)
            if sharding is None:
                return arr
            return jax.make_array_from_callback(arr.shape, sharding, lambda index: arr[index])

        return call, jax.tree.map(place, host, template), meta

    def _restore(self, manager, template: Any, meta_keys: list[str]) -> tuple[int, Any, dict[str, float]]:
        call = manager.latest_step()
        if call is None:
            raise FileNotFoundError(self.directory)
        abstract = {  # numpy leaves restore as numpy, whatever sharding the saving run had
            "state": jax.tree.map(lambda x: x if isinstance(x, np.ndarray) else ocp.utils.to_shape_dtype_struct(x),
                                  _flat(template)),
            "meta": {k: jax.ShapeDtypeStruct((), np.float64) for k in [*meta_keys, "format"]},
        }
        self._check_fits(manager, call, abstract["state"])
        try:
            tree = manager.restore(call, args=ocp.args.StandardRestore(abstract))
        except ValueError as err:  # orbax: another tree or shape (another config, or an older rlk)
            first = str(err).strip().splitlines()[0].rstrip(":")
            raise RlkError(f"the checkpoint of step {call} in {self.directory} does not fit this run's state "
                           f"(saved with another config or an older rlk?): {first}") from None
        leaves = [tree["state"][f"{i:05d}"] if np.size(like) > 0 else _empty_like(like)
                  for i, like in enumerate(jax.tree.leaves(template))]
        state = jax.tree.unflatten(jax.tree.structure(template), leaves)
        meta = {k: float(v) for k, v in tree["meta"].items()}
        saved_format = meta.pop("format")
        if saved_format != FORMAT:
            raise RlkError(f"the checkpoint of step {call} in {self.directory} has format {saved_format:g}, "
                           f"this rlk reads format {FORMAT}")
        return call, state, meta

    def _check_fits(self, manager, call: int, wanted: dict[str, Any]) -> None:
        """A one-line error when the saved leaves differ from the template's in number or shape, before
        orbax starts reading (a failed orbax restore leaves reads running that print at exit)."""
        saved = (manager.item_metadata(call) or {}).get("state") if hasattr(manager, "item_metadata") else None
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
            raise RlkError(f"the checkpoint of step {call} in {self.directory} does not fit this run's state "
                           f"(saved with another config or an older rlk?): {problem}")

    def close(self) -> None:
        """Waits for a save in flight, then closes orbax's manager."""
        if self.manager is not None:
            self.manager.close()


def _host_template(template: Any) -> Any:
    """Host stand-ins of the template's leaves (global shape and dtype): restore to numpy."""
    return jax.tree.map(lambda x: np.zeros(np.shape(x), x.dtype), template)
