"""Optional dependencies: the pip extra that brings each, and one line naming it when one is missing.

The core install trains the JAX environments (Catch, gymnax, pgx and MinAtar); Atari, MuJoCo, the
model plugins' datasets and metrics, the trackers and rliable's statistics come with extras
(``pip install 'rlk[atari]'``, ``[mujoco]``, ``[models]``, ``[trackers]``, ``[stats]``, or ``[all]``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rlk.core.errors import RlkError

EXTRA_OF = {"ale_py": "atari", "cv2": "atari", "mujoco": "mujoco", "imageio": "mujoco", "sklearn": "models",
            "mlxtend": "models", "wandb": "trackers", "mlflow": "trackers", "rliable": "stats",
            "submitit": "cluster", "ray": "cluster"}


def require(module: str, needed_by: str) -> ModuleType:
    """``import module``, or a one-line ``RlkError`` saying that ``needed_by`` needs it and which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise RlkError(f"{needed_by} needs the package '{top}': pip install 'rlk[{EXTRA_OF[top]}]'") from None
