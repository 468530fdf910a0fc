"""Sebulba on many hosts: what the processes of one run agree on at every learner update.

Every process runs its own actor threads and feeds its share of the batch to one learner mesh over the
learner devices of all processes. Before each update the processes exchange a small record
(``agree``: a ``process_allgather`` of a few hundred bytes, over gloo on CPUs) saying whether each
wants to stop (SIGINT/SIGTERM), whether an actor thread failed (with its message) and a checksum of
its copy of the learner's parameters after the previous update. So every process makes the same
update or stops at the same one, with the same error, and a learner whose parameters drifted from
the others' stops the run. A process that dies breaks the exchange at once (gloo: "connection closed
by peer"): the others print one line and exit without a checkpoint (``rlk.core.peers.abandon``), since a checkpoint
needs every process.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding

from rlk.core import peers
from rlk.core.errors import RlkError

PROCESS_AXIS = "process"
RECORD_BYTES = 512  # code, checksum, episode sums, then the failure message (utf-8, cut to fit)
MESSAGE_AT = 24
GO, STOP, FAILED = 0, 1, 2


def local(x: Any) -> Any:
    """This process's copy of a leaf: the first addressable shard of a global array (the whole value of
    a replicated one, this process's rows of a process-sharded one); other leaves as they are."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return x.addressable_shards[0].data
    return x


def place(tree: Any, shardings: Any) -> Any:
    """Host or local values -> arrays with ``shardings``: ``device_put`` where every device is this
    process's, else each process's local data (its rows of a process-sharded leaf, the whole value of a
    replicated one) into one global array. Global arrays pass through."""

    def one(x, s: NamedSharding):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x
        if s.is_fully_addressable:
            return jax.device_put(x, s)
        return jax.make_array_from_process_local_data(s, np.asarray(x))

    return jax.tree.map(one, tree, shardings)


def params_checksum(params: Any) -> jax.Array:
    """``[]`` uint32: the wrapping sum of the parameters' bits (any changed bit of one leaf changes it)."""
    total = jnp.zeros((), jnp.uint32)
    for x in jax.tree.leaves(params):
        width = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32}[x.dtype.itemsize]
        bits = jax.lax.bitcast_convert_type(x, width).astype(jnp.uint32)
        total = total + jnp.sum(bits, dtype=jnp.uint32)
    return total


class Verdict(NamedTuple):
    """What the processes agreed: ``stop`` (a signal reached one of them) or ``failure`` (a message),
    and the sums over processes of the ``episodes`` figures they gave."""

    stop: bool
    failure: Optional[str]
    episodes: tuple[float, float]


class Hosts:
    """The processes of a run as Sebulba sees them (one process: ``many`` is False and nothing is exchanged).

    Attributes:
      index: this process's index; ``count``: the number of processes.
      mesh: a 1-D ``process`` mesh, one learner device per process, that holds per-process state
        (actor carries, host statistics) as the rows of each process.
    """

    def __init__(self, learner_devices: list):
        self.index, self.count = jax.process_index(), jax.process_count()
        self.many = self.count > 1
        firsts = {}
        for d in learner_devices:
            firsts.setdefault(d.process_index, d)
        if self.many and sorted(firsts) != list(range(self.count)):
            raise RlkError(f"backend.learner_devices: every process needs a learner device "
                           f"(processes {sorted(firsts)} of {self.count} have one)")
        self.mesh = Mesh(np.array([firsts[p] for p in sorted(firsts)]), (PROCESS_AXIS,))

    def agree(self, stop: bool, failure: Optional[str], checksum: Optional[int], update: int,
              episodes: tuple[float, float] = (0.0, 0.0)) -> Verdict:
        """Exchanges this process's ``record`` with every other (collective: all call it at the same update)."""
        from jax.experimental import multihost_utils

        with self.guard():
            every = np.asarray(multihost_utils.process_allgather(record(stop, failure, checksum, episodes)))
        return verdict(every, update)

    def guard(self):
        """Inside, a collective that fails because another process died ends this one (``peers.abandon``)."""
        return peers.guard("sebulba")


def record(stop: bool, failure: Optional[str], checksum: Optional[int],
           episodes: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """One process's ``[RECORD_BYTES]`` uint8 record: whether it wants to stop, its failure (a message),
    the checksum of its parameters after the last update (None: no update to check) and (sum of
    returns, count) of the episodes its actors ended in that update's data."""
    out = np.zeros(RECORD_BYTES, np.uint8)
    out[0] = FAILED if failure else STOP if stop else GO
    out[1:5] = np.frombuffer(np.uint32(checksum or 0).tobytes(), np.uint8)
    out[5] = checksum is not None
    out[8:24] = np.frombuffer(np.asarray(episodes, np.float64).tobytes(), np.uint8)
    text = (failure or "").encode()[:RECORD_BYTES - MESSAGE_AT]
    out[MESSAGE_AT:MESSAGE_AT + len(text)] = np.frombuffer(text, np.uint8)
    return out


def verdict(every: np.ndarray, update: int) -> Verdict:
    """What the records ``[processes, RECORD_BYTES]`` of every process say (the same on every process): the
    first failure, named by its process; else a failure if the checksums differ; else stop if any asks."""
    totals = tuple(float(x) for x in np.frombuffer(every[:, 8:24].tobytes(), np.float64).reshape(-1, 2).sum(axis=0))
    failed = [(p, bytes(r[MESSAGE_AT:]).rstrip(b"\0").decode(errors="replace")) for p, r in enumerate(every) if r[0] == FAILED]
    if failed:
        p, message = failed[0]
        return Verdict(False, f"process {p}: {message}", totals)
    sums = {int(np.frombuffer(r[1:5].tobytes(), np.uint32)[0]) for r in every if r[5]}
    if len(sums) > 1:
        return Verdict(False, f"sebulba: the learner's parameters differ across processes after update {update} "
                              f"(checksums {sorted(sums)}); stopped", totals)
    return Verdict(bool(np.any(every[:, 0] == STOP)), None, totals)
