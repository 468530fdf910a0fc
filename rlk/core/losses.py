"""Composing named losses: ``compose({"ppo_policy": 1.0, "entropy": 0.01}, lookup)``.

A loss is a pure function ``(outputs, batch, config) -> (scalar, metrics)``. An agent names the
losses it optimises with weights, so an auxiliary loss registered by another plugin can be added
to it from the config (``-o agent.loss_weights.my_aux=0.1``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax.numpy as jnp

LossFn = Callable[[Any, Any, Any], tuple[Any, dict]]


def compose(weights: Mapping[str, float], lookup: Callable[[str], LossFn]) -> LossFn:
    """The weighted sum of named losses; metrics keep each term under its name."""
    terms = [(name, float(w), lookup(name)) for name, w in sorted(weights.items()) if w != 0.0]

    def total(outputs: Any, batch: Any, config: Any) -> tuple[Any, dict]:
        value = jnp.float32(0.0)
        metrics: dict = {}
        for name, weight, fn in terms:
            term, term_metrics = fn(outputs, batch, config)
            value = value + weight * term
            metrics[name] = term
            metrics.update({f"{name}/{k}": v for k, v in term_metrics.items()})
        return value, metrics

    return total


def registry_lookup(name: str) -> LossFn:
    """Resolves a loss by name through the plugin registry."""
    from rlk.core.registry import default_registry

    return default_registry().get("loss", name).factory
