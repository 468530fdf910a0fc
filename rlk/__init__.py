"""rlk: a plugin-based JAX framework for reinforcement-learning and generative-model research.

The Python API (``rlk.api``): ``train``, ``load_run``, ``export``, ``load_policy``, ``video``. They load on
first use, so ``import rlk`` (and the ``rlk`` command's start, which installs its signal handling first)
imports nothing else.
"""

from typing import Any

__all__ = ["export", "load_policy", "load_run", "train", "video"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rlk import api

        return getattr(api, name)
    raise AttributeError(f"module 'rlk' has no attribute {name!r}")
