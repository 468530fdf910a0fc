"""Collectives that agents may call by logical axis name; identity when no axis is given.

Agents never place devices; the architecture hands the agent factory an ``axis_name`` when it runs
the agent replicated over a mesh axis (data parallelism), and ``None`` otherwise.
"""

from __future__ import annotations

from typing import Any, Optional

import jax
from jax import lax


def pmean(tree: Any, axis_name: Optional[str]) -> Any:
    return tree if axis_name is None else jax.tree.map(lambda x: lax.pmean(x, axis_name), tree)


def psum(tree: Any, axis_name: Optional[str]) -> Any:
    return tree if axis_name is None else jax.tree.map(lambda x: lax.psum(x, axis_name), tree)
