"""Offline datasets for JUMP, generated in code from a seed: ``moving-shapes`` and ``rooms-3d``.

Every example is ``{"x": float32 [T, H, W, C] in [0, 1], "v": float32 [T, dv], "y": int32}``: a
set of ``T`` frames with the time or viewpoint ``v`` of each (a video's frame ``t`` has
``v = t / (T - 1)``; a scene's view has the camera's ``(cos yaw, sin yaw)``), so a model reads
``(v_i, x_i)`` pairs and never assumes an order.

moving-shapes (a video with two possible futures). One white shape (square or disc, half-size
``s ~ U[1.5, 2.5]`` px) on black, ``T = 21`` frames of ``16 x 16``. Centre at time ``t``:
  ``x(t) = x0 + vx t``,  ``y(t) = y0 + b * vy * max(t - t_fork, 0)``
with ``x0 ~ U[2.5, 4.5]``, ``vx ~ U[0.3, 0.5]``, ``y0 ~ U[7, 9]``, ``vy = 0.4``, ``t_fork = 6`` and
the branch ``b = +-1`` (down / up) a fair coin, stored as ``y = (b + 1) / 2``. Frames up to
``t_fork`` are identical for both branches: given them, the future is bimodal, and a consistent
model must put every future frame on the same branch.

rooms-3d (scenes seen from camera positions). A square room (walls at ``|x|, |z| = 2``, floor
``y = 0``, no ceiling: sky above) with floor and wall colours drawn per scene, and two spheres of
radius ``0.35`` in distinct colours from a 6-colour palette, resting on the floor at positions in
``[-1, 1]^2``. ``T = 8`` views per scene, ``16 x 16`` RGB, from a camera at height ``0.6`` on the
circle of radius ``1.7`` around the centre, at yaw ``~ U[0, 2 pi)``, looking at ``(0, 0.3, 0)``
(field of view 70 degrees). Rendered by a JAX ray caster (nearest hit of the spheres, floor and
walls; Lambert shading with one directional light plus ambient 0.35; no shadows).
"""

from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from rlk.core.errors import RlkError
from rlk.core.data import TRAIN, ArrayDataset
from rlk.plugins.jumpy_video.config import MovingShapesConfig, RoomsConfig


class VideoSetDataset(ArrayDataset):
    """An ``ArrayDataset`` whose splits also carry ``v`` (the time or viewpoint of every frame)."""

    def __init__(self, splits: dict[str, dict[str, np.ndarray]], num_classes: int):
        super().__init__(splits, num_classes)
        for s, d in splits.items():
            self.splits[s]["v"] = np.ascontiguousarray(d["v"], np.float32)


# -- moving-shapes ------------------------------------------------------------------------------


def shape_params(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The random parameters of ``n`` videos (branch included)."""
    return {"x0": rng.uniform(2.5, 4.5, n), "vx": rng.uniform(0.3, 0.5, n), "y0": rng.uniform(7.0, 9.0, n),
            "half": rng.uniform(1.5, 2.5, n), "disc": rng.integers(0, 2, n).astype(bool),
            "branch": rng.choice([-1.0, 1.0], n)}


def shape_centres(p: dict[str, np.ndarray], frames: int, fork: int, vy: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``(cx, cy)`` ``[n, T]`` in pixels (the module docstring's equations)."""
    t = np.arange(frames, dtype=np.float64)[None]
    cx = p["x0"][:, None] + p["vx"][:, None] * t
    cy = p["y0"][:, None] + p["branch"][:, None] * vy * np.maximum(t - fork, 0.0)
    return cx, cy


def render_shapes(p: dict[str, np.ndarray], size: int, frames: int, fork: int) -> np.ndarray:
    """Frames ``[n, T, size, size, 1]``: the shape with a one-pixel linear edge (anti-aliased)."""
    cx, cy = shape_centres(p, frames, fork)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dx = xx[None, None] - cx[..., None, None]
    dy = yy[None, None] - cy[..., None, None]
    h = p["half"][:, None, None, None]
    dist = np.where(p["disc"][:, None, None, None], np.sqrt(dx ** 2 + dy ** 2), np.maximum(np.abs(dx), np.abs(dy)))
    img = np.clip(h + 0.5 - dist, 0.0, 1.0)
    return img[..., None].astype(np.float32)


class MovingShapes(VideoSetDataset):
    """Videos of a shape that turns up or down at ``t_fork`` (``y``: the branch, 0 up / 1 down)."""

    name = "moving-shapes"

    def __init__(self, config: Optional[MovingShapesConfig] = None):
        c = self.config = config or MovingShapesConfig()
        if c.fork >= c.frames - 1:
            raise RlkError(f"dataset.fork={c.fork} must be below frames - 1 = {c.frames - 1}")
        rng = np.random.default_rng(c.seed)
        splits = {}
        for split, n in ((TRAIN, c.num_train), ("test", c.num_test)):
            p = shape_params(n, rng)
            v = np.broadcast_to(np.linspace(0.0, 1.0, c.frames, dtype=np.float32)[None, :, None], (n, c.frames, 1))
            splits[split] = {"x": render_shapes(p, c.size, c.frames, c.fork), "v": v,
                             "y": ((p["branch"] + 1) / 2).astype(np.int32)}
        super().__init__(splits, 2)


def make_moving_shapes(config: Optional[MovingShapesConfig] = None) -> MovingShapes:
    """a shape moving right that turns up or down at t_fork (two futures); 21 frames of 16x16"""
    return MovingShapes(config)


# -- rooms-3d: a small JAX ray caster ----------------------------------------------------------
PALETTE = np.array([[0.9, 0.15, 0.15], [0.15, 0.75, 0.2], [0.2, 0.35, 0.95],
                    [0.95, 0.85, 0.15], [0.85, 0.25, 0.85], [0.15, 0.85, 0.85]], np.float32)
ROOM, RADIUS, CAM_R, CAM_H, LOOK_H, FOV = 2.0, 0.35, 1.7, 0.6, 0.3, np.deg2rad(70.0)
LIGHT = np.array([0.4, 0.8, 0.3]) / np.linalg.norm([0.4, 0.8, 0.3])
SKY = np.array([0.75, 0.85, 1.0], np.float32)


def camera_rays(yaw: jax.Array, size: int) -> tuple[jax.Array, jax.Array]:
    """Origin ``[3]`` and unit directions ``[size, size, 3]`` of a camera at ``yaw`` on the circle."""
    origin = jnp.array([CAM_R * jnp.cos(yaw), CAM_H, CAM_R * jnp.sin(yaw)])
    forward = jnp.array([0.0, LOOK_H, 0.0]) - origin
    forward = forward / jnp.linalg.norm(forward)
    right = jnp.cross(forward, jnp.array([0.0, 1.0, 0.0]))
    right = right / jnp.linalg.norm(right)
    up = jnp.cross(right, forward)
    s = jnp.tan(FOV / 2) * ((jnp.arange(size) + 0.5) / size * 2 - 1)
    d = forward + s[None, :, None] * right + (-s)[:, None, None] * up  # rows top to bottom
    return origin, d / jnp.linalg.norm(d, axis=-1, keepdims=True)


def _ray_colour(o, d, centres, colours, floor_c, wall_c):
    """Colour of one ray: nearest hit of two spheres, the floor and four walls; Lambert shading."""
    far = 1e3
    oc = o[None] - centres                                     # [2, 3]
    b = oc @ d
    disc = b ** 2 - (jnp.sum(oc ** 2, -1) - RADIUS ** 2)
    t_sph = jnp.where(disc > 0, -b - jnp.sqrt(jnp.maximum(disc, 0.0)), far)
    t_sph = jnp.where(t_sph > 1e-4, t_sph, far)
    t_floor = jnp.where(d[1] < -1e-6, -o[1] / jnp.where(d[1] < -1e-6, d[1], -1.0), far)
    # walls: x = +-ROOM (normal -+x), z = +-ROOM
    dx = jnp.where(jnp.abs(d[0]) > 1e-6, d[0], 1e-6)
    dz = jnp.where(jnp.abs(d[2]) > 1e-6, d[2], 1e-6)
    t_wx = (jnp.sign(dx) * ROOM - o[0]) / dx
    t_wz = (jnp.sign(dz) * ROOM - o[2]) / dz
    ts = jnp.concatenate([t_sph, jnp.stack([t_floor, t_wx, t_wz])])
    k = jnp.argmin(ts)
    t = ts[k]
    p = o + t * d
    n_sph = (p[None] - centres) / RADIUS
    normals = jnp.concatenate([n_sph, jnp.array([[0.0, 1.0, 0.0], [-jnp.sign(dx), 0.0, 0.0], [0.0, 0.0, -jnp.sign(dz)]])])
    albedo = jnp.concatenate([colours, jnp.stack([floor_c, wall_c, wall_c])])
    shade = 0.35 + 0.65 * jnp.maximum(normals[k] @ jnp.asarray(LIGHT, jnp.float32), 0.0)
    colour = albedo[k] * shade
    hit_wall_above = (k >= 3) & (p[1] > 1.2)  # walls end at height 1.2: sky above
    return jnp.where(hit_wall_above | (t >= far), jnp.asarray(SKY), colour)


@functools.partial(jax.jit, static_argnames="size")
def render_room(yaw: jax.Array, centres: jax.Array, colours: jax.Array, floor_c: jax.Array, wall_c: jax.Array,
                size: int = 16) -> jax.Array:
    """One view ``[size, size, 3]`` of a scene (sphere ``centres [2, 3]``, ``colours [2, 3]``)."""
    o, d = camera_rays(yaw, size)
    return jax.vmap(jax.vmap(lambda r: _ray_colour(o, r, centres, colours, floor_c, wall_c)))(d)


def room_params(n: int, views: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random scenes: sphere positions (at least 0.8 apart), colours, floor/wall colours, camera yaws."""
    pos = rng.uniform(-1.0, 1.0, (n, 2, 2))
    for _ in range(50):  # re-draw the second sphere where the two overlap
        close = np.linalg.norm(pos[:, 0] - pos[:, 1], axis=-1) < 0.8
        if not close.any():
            break
        pos[close, 1] = rng.uniform(-1.0, 1.0, (close.sum(), 2))
    centres = np.stack([pos[..., 0], np.full((n, 2), RADIUS), pos[..., 1]], -1)
    ci = np.stack([rng.choice(len(PALETTE), 2, replace=False) for _ in range(n)])
    return {"centres": centres.astype(np.float32), "colours": PALETTE[ci],
            "floor": rng.uniform(0.3, 0.6, (n, 3)).astype(np.float32),
            "wall": rng.uniform(0.5, 0.8, (n, 3)).astype(np.float32),
            "yaw": rng.uniform(0.0, 2 * np.pi, (n, views)).astype(np.float32)}


def render_rooms(p: dict[str, np.ndarray], size: int) -> np.ndarray:
    """All views ``[n, V, size, size, 3]`` (chunks of 256 scenes under one ``jit``)."""
    per_view = jax.vmap(render_room, in_axes=(0, None, None, None, None, None))
    per_scene = jax.jit(jax.vmap(per_view, in_axes=(0, 0, 0, 0, 0, None)), static_argnums=5)
    n, out = len(p["yaw"]), []
    for i in range(0, n, 256):
        sl = slice(i, i + 256)
        out.append(np.asarray(per_scene(p["yaw"][sl], p["centres"][sl], p["colours"][sl], p["floor"][sl],
                                        p["wall"][sl], size)))
    return np.clip(np.concatenate(out), 0.0, 1.0).astype(np.float32)


class Rooms3D(VideoSetDataset):
    """Rooms with two coloured spheres, ``T`` views each (``v = (cos yaw, sin yaw)``)."""

    name = "rooms-3d"

    def __init__(self, config: Optional[RoomsConfig] = None):
        c = self.config = config or RoomsConfig()
        rng = np.random.default_rng(c.seed)
        splits = {}
        for split, n in ((TRAIN, c.num_train), ("test", c.num_test)):
            p = room_params(n, c.views, rng)
            v = np.stack([np.cos(p["yaw"]), np.sin(p["yaw"])], -1)
            splits[split] = {"x": render_rooms(p, c.size), "v": v, "y": np.zeros(n, np.int32)}
        super().__init__(splits, 0)


def make_rooms_3d(config: Optional[RoomsConfig] = None) -> Rooms3D:
    """rooms with two coloured spheres seen from 8 camera positions (16x16 RGB, JAX ray caster)"""
    return Rooms3D(config)
