"""One greedy episode, rendered frame by frame, into a GIF or MP4 (``rlk eval --video``).

An environment renders when its ``render(state)`` gives an RGB image (``Environment.render``). The
episode is the agent's ``eval_act`` on a batch of one environment, reset from ``PRNGKey(seed)``; a frame
is drawn after the reset and after every step until the episode's ``last`` (or its step limit).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import jax
import numpy as np

from rlk.core.errors import RlkError
from rlk.core.interfaces import Agent, Environment

FORMATS = (".gif", ".mp4")
SIZE = 200  # pixels of the frame's longer side after integer upscaling (at least 1x)


def check_video_path(path: Path) -> None:
    """A one-line error, before anything runs, for a path whose format cannot be written here."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise RlkError(f"--video '{path}': the format is chosen by the suffix, one of {', '.join(FORMATS)}")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise RlkError(f"--video '{path}': mp4 needs imageio-ffmpeg (pip install imageio-ffmpeg); use a .gif")
    if path.is_dir():
        raise RlkError(f"--video '{path}' is a folder")


def greedy_episode(agent: Agent, params: Any, env: Environment, name: str, seed: int) -> tuple[np.ndarray, float]:
    """``(frames uint8 [T, H, W, 3], return)`` of one greedy episode of ``agent`` with one seed's ``params``."""
    reset_key, key = jax.random.split(jax.random.PRNGKey(seed))
    state, ts = jax.vmap(env.reset)(reset_key[None])
    if jax.eval_shape(jax.vmap(env.render), state) is None:
        raise RlkError(f"env '{name}' does not render (no Environment.render); --video needs one that does")
    render = jax.jit(lambda s: jax.vmap(env.render)(s)[0])

    @jax.jit
    def step(state, ts, actor_state, key):
        key, act_key, env_key = jax.random.split(key, 3)
        action, actor_state, _ = agent.eval_act(params, actor_state, ts, act_key)
        state, ts = jax.vmap(env.step)(state, action, env_key[None])
        return state, ts, actor_state, key

    actor_state = agent.initial_actor_state(1)
    frames, total = [np.asarray(render(state))], 0.0
    for _ in range(env.spec.max_episode_steps):
        state, ts, actor_state, key = step(state, ts._replace(info={}), actor_state, key)
        frames.append(np.asarray(render(state)))
        total += float(ts.reward[0])
        if bool(ts.last[0]):
            break
    return np.stack(frames), total


def write_video(frames: np.ndarray, path: Path, fps: int = 4) -> None:
    """Writes ``frames`` ``uint8 [T, H, W, 3]``, upscaled by an integer factor, as a GIF (Pillow) or an
    MP4 (imageio-ffmpeg). A GIF shows a run of equal frames as one, held as long."""
    check_video_path(path)
    scale = max(1, SIZE // max(frames.shape[1:3]))
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in big]
        # Pillow merges a frame equal to the one before into it (adding its duration)
        images[0].save(path, save_all=True, append_images=images[1:], duration=1000 // fps, loop=0)
        return
    import imageio.v2 as imageio

    imageio.mimwrite(path, list(big), fps=fps, macro_block_size=1)
