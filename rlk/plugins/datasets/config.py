"""The datasets' configs, light (no numpy, no data): the package registers from here; ``sources`` imports
when a run builds a dataset."""

from __future__ import annotations

from typing import Optional

from pydantic import Field

from rlk.core.config import PluginConfig

# -- Fashion-MNIST from the Debian package -------------------------------------------------------
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


class SplitConfig(PluginConfig):
    test_fraction: float = Field(0.2, gt=0, lt=1, description="share of each class held out as the test split")
    split_seed: int = Field(0, ge=0, description="seed of the train/test split (fixed across runs; the run seed shuffles)")


class FashionConfig(PluginConfig):
    path: str = Field(FASHION_DIR, description="folder with the four idx .gz files (Debian: dataset-fashion-mnist)")
    limit_train: Optional[int] = Field(None, ge=1, description="keep only the first N training images (None: all 60,000)")


class ShapesConfig(PluginConfig):
    size: int = Field(16, ge=8, le=64, description="image side in pixels")
    num_train: int = Field(4000, ge=1, description="training images")
    num_test: int = Field(1000, ge=1, description="test images")
    noise: float = Field(0.05, ge=0, le=0.5, description="std of Gaussian pixel noise (clipped to [0, 1])")
    seed: int = Field(0, ge=0, description="generation seed (the data itself; the run seed shuffles)")
