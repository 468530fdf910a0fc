"""Checkpoints of a run's whole training state with orbax (atomic: a killed save leaves the last one).

The state is saved as a flat dict of its array leaves; restoring needs a template of the same
structure (the freshly built state), so a checkpoint holds no Python objects, only arrays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import jax
import numpy as np
import orbax.checkpoint as ocp


def _flat(state: Any) -> dict[str, Any]:
    return {f"{i:05d}": leaf for i, leaf in enumerate(jax.tree.leaves(state))}


class Checkpointer:
    """Saves ``{"state": <leaves>, "meta": {...}}`` under ``run_dir/checkpoints/<call>``."""

    def __init__(self, run_dir: str | Path, max_to_keep: int = 2):
        self.directory = Path(run_dir).absolute() / "checkpoints"
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                                 enable_async_checkpointing=False),
        )

    def latest(self) -> Optional[int]:
        return self.manager.latest_step()

    def save(self, call: int, state: Any, meta: dict[str, float]) -> None:
        if self.manager.latest_step() == call:
            return
        tree = {"state": _flat(state), "meta": {k: np.asarray(v) for k, v in meta.items()}}
        self.manager.save(call, args=ocp.args.StandardSave(tree))
        self.manager.wait_until_finished()

    def restore(self, template: Any, meta_keys: list[str]) -> tuple[int, Any, dict[str, float]]:
        call = self.manager.latest_step()
        if call is None:
            raise FileNotFoundError(self.directory)
        abstract = {
            "state": jax.tree.map(ocp.utils.to_shape_dtype_struct, _flat(template)),
            "meta": {k: jax.ShapeDtypeStruct((), np.float64) for k in meta_keys},
        }
        tree = self.manager.restore(call, args=ocp.args.StandardRestore(abstract))
        leaves = [tree["state"][k] for k in sorted(tree["state"])]
        state = jax.tree.unflatten(jax.tree.structure(template), leaves)
        return call, state, {k: float(v) for k, v in tree["meta"].items()}

    def close(self) -> None:
        self.manager.close()
