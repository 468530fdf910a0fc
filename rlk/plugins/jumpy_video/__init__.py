"""JUMP: consistent jumpy predictions for videos and scenes (Kumar et al. 2019).

Registration reads only ``config.py``; the model and datasets (jax) import when a run builds them.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.jumpy_video.config import AutoregressiveConfig, JumpConfig, MovingShapesConfig, RoomsConfig


@hookimpl
def rlk_register_models(register):
    register("jumpy_video", lazy("rlk.plugins.jumpy_video.model:make_jump"), config=JumpConfig,
             description="JUMP: jumpy, consistent frame sampling at any time/viewpoint (Kumar et al. 2019)")
    register("jumpy_video_ar", lazy("rlk.plugins.jumpy_video.autoregressive:make_autoregressive"),
             config=AutoregressiveConfig,
             description="JUMP's baseline: a stochastic frame-by-frame model (a conditional VAE per frame)")


@hookimpl
def rlk_register_datasets(register):
    register("moving-shapes", lazy("rlk.plugins.jumpy_video.data:make_moving_shapes"), config=MovingShapesConfig,
             description="videos of a shape that turns up or down at t_fork (two futures; 21 frames, 16x16)")
    register("rooms-3d", lazy("rlk.plugins.jumpy_video.data:make_rooms_3d"), config=RoomsConfig,
             description="rooms with two coloured spheres from 8 camera positions (16x16 RGB, JAX ray caster)")
