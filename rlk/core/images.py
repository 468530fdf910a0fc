"""Image grids to files: a PNG of tiled images and an animated GIF of a grid's columns (``rlk sample``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def save_gif(grid, path: Path, ms_per_frame: int = 400) -> None:
    """An animated GIF of a grid ``[R, C, H, W(, 3)]``: frame ``c`` shows column ``c`` of every row (stacked)."""
    from PIL import Image

    g = np.clip(np.asarray(grid, np.float32), 0.0, 1.0)
    if g.ndim == 3:
        g = g[None]
    R, C, H, W = g.shape[:4]
    scale = max(1, 64 // H)
    frames = []
    for c in range(C):
        col = np.ones((R * (H + 1) + 1, W + 2) + g.shape[4:], np.float32)
        for r in range(R):
            col[1 + r * (H + 1): 1 + r * (H + 1) + H, 1:1 + W] = g[r, c]
        col = np.kron(col, np.ones((scale, scale) + (1,) * (col.ndim - 2), np.float32))
        frames.append(Image.fromarray((col * 255).round().astype(np.uint8)).convert("P"))
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0)


def save_grid(grid, path: Path) -> None:
    """Tiles images ``[R, C, H, W(, 3)]`` (values in [0, 1]) with 1-pixel gaps into a PNG (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = np.clip(np.asarray(grid, np.float32), 0.0, 1.0)
    if g.ndim == 3:  # [N, H, W]: one row
        g = g[None]
    R, C, H, W = g.shape[:4]
    scale = max(1, 64 // H)
    canvas = np.ones((R * (H + 1) + 1, C * (W + 1) + 1) + g.shape[4:], np.float32)
    for r in range(R):
        for c in range(C):
            canvas[1 + r * (H + 1): 1 + r * (H + 1) + H, 1 + c * (W + 1): 1 + c * (W + 1) + W] = g[r, c]
    canvas = np.kron(canvas, np.ones((scale, scale) + (1,) * (canvas.ndim - 2), np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, canvas, cmap="gray", vmin=0.0, vmax=1.0)
