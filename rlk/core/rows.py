"""Several metric rows in one compiled call.

A run writes a metric row every ``log_every_steps``; a row of a fast program (PPO on Catch: ~10k env steps,
tens of milliseconds) is short beside the fixed cost of a compiled call. A program that supports it
compiles ``rows_loop``: one executable that makes ``rows`` rows (1..``max_rows``, a traced argument, so
one compile serves every count) and returns each row's metrics stacked on a leading ``[max_rows]`` axis
(rows past ``rows`` are zeros). The rows are computed by the same loop body whatever ``rows`` is, so a
run's numbers do not depend on how the loop groups them (``tests/core/test_rows.py``); the run loop
(``rlk.core.run``) picks ``rows`` from the measured time of a row (``rows_for_call``).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp


def rows_loop(one_row: Callable[[Any], tuple[Any, Any]], state: Any, rows: jax.Array, max_rows: int):
    """``rows`` applications of ``one_row: state -> (state, metrics)``; returns the state and the metrics
    stacked ``[max_rows, ...]``, row ``i`` at index ``i``. ``max_rows=1``: ``one_row(state)`` as it is (no
    loop, no row axis; ``rows`` is ignored)."""
    if max_rows == 1:
        return one_row(state)
    shapes = jax.eval_shape(one_row, state)[1]
    empty = jax.tree.map(lambda a: jnp.zeros((max_rows,) + a.shape, a.dtype), shapes)

    def body(i, carry):
        s, stacked = carry
        s, metrics = one_row(s)
        return s, jax.tree.map(lambda buf, m: jax.lax.dynamic_update_index_in_dim(buf, m, i, 0), stacked, metrics)

    return jax.lax.fori_loop(0, jnp.minimum(rows, max_rows), body, (state, empty))


def rows_for_call(row_s: Optional[float], target_s: float, max_rows: int, until_due: int) -> int:
    """How many rows the next call makes: as many as fit ``target_s`` seconds at ``row_s`` seconds a row
    (one while no row has been timed), at most ``max_rows`` and ``until_due``, the rows left before the
    loop must stop between calls (the run's end, a checkpoint or evaluation by steps)."""
    if row_s is None or max_rows <= 1 or target_s <= 0:
        return 1
    fit = math.floor(target_s / row_s) if row_s > 0 else max_rows
    return max(1, min(fit, max_rows, until_due))
