"""JAX's persistent compilation cache, on by default for ``rlk train``, ``eval``, ``sweep``, ``sample`` and ``bench``.

A compiled program is written to a user cache folder (``$XDG_CACHE_HOME/rlk/jax``, else ``~/.cache/rlk/jax``)
and read back by the next run with the same program, so a second ``rlk train`` skips most of its compile.
Programs that compile in more than ``MIN_COMPILE_S`` are kept (JAX's default, 1 s, would skip rlk's smaller
evaluation and initialisation programs); the folder is capped at ``MAX_BYTES``, least recently used first out.

Off with ``RLK_COMPILATION_CACHE=0`` (or ``rlk train --no-compile-cache``). A folder chosen through JAX's own
``JAX_COMPILATION_CACHE_DIR`` (the test suite sets one) is left as JAX configured it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

ENV_SWITCH = "RLK_COMPILATION_CACHE"
MIN_COMPILE_S = 0.2
MAX_BYTES = 4 << 30


def cache_dir(env: Mapping[str, str]) -> Optional[Path]:
    """The folder rlk should configure, or None: switched off, or already chosen through JAX's variable."""
    if env.get(ENV_SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    if env.get("JAX_COMPILATION_CACHE_DIR"):
        return None
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "rlk" / "jax"


def enable(enabled: bool = True) -> Optional[Path]:
    """Point JAX's persistent compilation cache at ``cache_dir(os.environ)`` (before anything compiles);
    the folder used, or None when the cache is off or configured through JAX's variables."""
    folder = cache_dir(os.environ) if enabled else None
    if folder is None:
        return None
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    return folder
