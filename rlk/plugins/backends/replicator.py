"""The Replicator: TF-Replicator's idea (Buchlovsky et al. 2019) in today's JAX.

A per-replica step function, written for one device and one batch, is run over a device mesh:

- data parallelism (``data_parallel``): the batch is split over the ``data`` axis, everything else
  is replicated, and the function averages its local gradients over the axis name it is given
  (``rlk.core.parallel.pmean``); it compiles to one SPMD program with ``shard_map``;
- model parallelism (``shard_params``): chosen parameters are split over a ``model`` axis with
  ``NamedSharding`` and the compiler partitions the computation around them (GSPMD).

``check_vma=False``: library code (rlax's scans start from constant carries) does not type-check
under varying-manual-axes, so replicas average gradients explicitly instead of relying on the
implicit ``psum`` of replicated inputs (STACK.md gotcha 1). ``tests/plugins/test_data_parallel.py``
checks the result against the single-device step.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"
MODEL_AXIS = "model"


def is_spec(x: Any) -> bool:
    return isinstance(x, P)


def replicated_specs(tree: Any) -> Any:
    return jax.tree.map(lambda _: P(), tree)


def batch_specs(tree: Any, batch_axis: int = 0, axis_name: str = DATA_AXIS) -> Any:
    """Every leaf split over ``axis_name`` along dimension ``batch_axis``."""
    spec = P(*([None] * batch_axis + [axis_name]))
    return jax.tree.map(lambda _: spec, tree)


class Replicator:
    """Runs per-replica functions over ``mesh`` (axes ``data`` and optionally ``model``)."""

    def __init__(self, mesh: Mesh):
        self.mesh = mesh

    @property
    def num_replicas(self) -> int:
        return self.mesh.shape[DATA_AXIS]

    def shardings(self, specs: Any) -> Any:
        return jax.tree.map(lambda s: NamedSharding(self.mesh, s), specs, is_leaf=is_spec)

    def data_parallel(self, fn: Callable, in_specs: tuple, out_specs: Any, donate_argnums: tuple = ()) -> Callable:
        """``fn`` run on every replica of the ``data`` axis, as one jitted SPMD program."""
        mapped = jax.shard_map(fn, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
        return jax.jit(mapped, in_shardings=self.shardings(in_specs), out_shardings=self.shardings(out_specs),
                       donate_argnums=donate_argnums)

    def put(self, tree: Any, specs: Any) -> Any:
        """Places a host or device pytree on the mesh according to ``specs``."""
        return jax.device_put(tree, self.shardings(specs))

    def shard_params(self, params: Any, rule: Callable[[str, jax.Array], Optional[P]]) -> Any:
        """Model parallelism: ``rule(path, leaf)`` gives a leaf's PartitionSpec (None: replicated)."""

        def place(path, leaf):
            spec = rule(jax.tree_util.keystr(path), leaf) or P()
            return jax.device_put(leaf, NamedSharding(self.mesh, spec))

        return jax.tree_util.tree_map_with_path(place, params)
