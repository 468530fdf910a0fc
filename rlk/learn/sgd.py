"""One gradient step, written once: ``sgd_step(loss_fn, optimiser, axis_name)``.

Gradients of the local loss, their mean over the data axis, the optimiser's update. The backend runs
agents under ``shard_map`` with ``check_vma=False`` (``rlk.plugins.backends.replicator``), so the gradient
of replicated parameters is the *local* one and one ``pmean`` gives the data-parallel gradient
(STACK.md gotcha 1 is handled here and nowhere else; ``tests/plugins/test_data_parallel.py`` compares the
result with the single-device step).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional

import jax
import optax

from rlk.core.parallel import pmean

Metrics = dict[str, jax.Array]


class SGDState(NamedTuple):
    """What one gradient step changes: ``params`` and the optimiser state ``opt_state``."""

    params: Any
    opt_state: Any


def sgd_step(loss_fn: Callable[..., tuple[jax.Array, Metrics]], optimiser: optax.GradientTransformation,
             axis_name: Optional[str] = None) -> Callable[..., tuple[SGDState, Metrics]]:
    """``step(SGDState, *args) -> (SGDState, metrics)`` for ``loss_fn(params, *args) -> (loss, metrics)``.

    The returned metrics are ``{"loss": loss, **metrics}`` of this replica's data; average them over the
    axis where they are reported (once per update, not per gradient step).
    """

    def step(state: SGDState, *args: Any) -> tuple[SGDState, Metrics]:
        (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, *args)
        grads = pmean(grads, axis_name)
        updates, opt_state = optimiser.update(grads, state.opt_state, state.params)
        return SGDState(optax.apply_updates(state.params, updates), opt_state), {"loss": loss, **metrics}

    return step
