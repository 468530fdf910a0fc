"""JUMP: consistent jumpy predictions for videos and scenes (Kumar et al. 2019)."""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl


@hookimpl
def rlk_register_models(register):
    from rlk.plugins.jumpy_video.model import JumpConfig, make_jump

    register("jumpy_video", make_jump, config=JumpConfig,
             description="JUMP: jumpy, consistent frame sampling at any time/viewpoint (Kumar et al. 2019)")


@hookimpl
def rlk_register_datasets(register):
    from rlk.plugins.jumpy_video.data import MovingShapesConfig, RoomsConfig, make_moving_shapes, make_rooms_3d

    register("moving-shapes", make_moving_shapes, config=MovingShapesConfig,
             description="videos of a shape that turns up or down at t_fork (two futures; 21 frames, 16x16)")
    register("rooms-3d", make_rooms_3d, config=RoomsConfig,
             description="rooms with two coloured spheres from 8 camera positions (16x16 RGB, JAX ray caster)")
