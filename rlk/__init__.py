"""rlk: a plugin-based JAX framework for reinforcement-learning and generative-model research.

The Python API (``rlk.api``): ``train``, ``load_run``, ``export``, ``load_policy``, ``video``.
"""

from rlk.api import export, load_policy, load_run, train, video

__all__ = ["export", "load_policy", "load_run", "train", "video"]
__version__ = "0.1.0"
