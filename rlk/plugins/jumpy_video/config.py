"""JUMP's model and dataset configs, light (no jax): the package registers from here; ``model`` and
``data`` import when a run builds them."""

from __future__ import annotations

from pydantic import Field, model_validator

from rlk.core.config import PluginConfig


class FrameModelConfig(PluginConfig):
    """The networks, likelihood and evaluation shared by JUMP and its autoregressive baseline."""

    # The paper's networks are GQN-sized (64x64 frames, ConvDRAW with 12 steps); these are small
    # CPU-sized stand-ins. Its Gaussian pixel std is annealed during training (GQN: 2.0 -> 0.7);
    # we keep it fixed.
    r_dim: int = Field(64, ge=4, description="size of a frame's representation r_i (and of r_C)")
    z_dim: int = Field(16, ge=1, description="size of the global latent z")
    channels: int = Field(16, ge=4, description="conv channels of the first encoder layer / last renderer layer (x2 inside)")
    hidden: int = Field(128, ge=8, description="width of the MLP layers")
    fourier: int = Field(4, ge=0, le=8, description="Fourier frequencies of the time/viewpoint embedding e(v)")
    pixel_std: float = Field(0.1, gt=0, description="std of the Gaussian pixel likelihood p(x' | z, v')")
    beta: float = Field(1.0, ge=0, description="weight of KL(q || p) (1: the ELBO)")
    sample_context: int = Field(5, ge=1, description="rlk sample / rlk eval: the first N frames are the context")
    sample_times: list[int] = Field([8, 12, 16, 20], description="rlk sample / rlk eval: target frame indices "
                                    "(clipped to T - 1)")
    sample_rows: int = Field(3, ge=1, description="rlk sample: jumpy sample rows (one z each) per example")
    sample_examples: int = Field(4, ge=1, description="rlk sample: examples in the grid")
    consistency_times: list[int] = Field([16, 17, 18, 19, 20], description="moving-shapes: target frames of the "
                                         "consistency metric (after the fork)")
    consistency_draws: int = Field(4, ge=1, description="moving-shapes: sample sets per test video for the metric")

    @model_validator(mode="after")
    def _check(self):
        if not self.sample_times or not self.consistency_times:
            raise ValueError("sample_times and consistency_times must be non-empty")
        if min(self.sample_times + self.consistency_times) < 0:
            raise ValueError("sample_times and consistency_times must be frame indices >= 0")
        return self


class JumpConfig(FrameModelConfig):
    max_context: int = Field(5, ge=1, description="at most this many context frames per training example")
    num_targets: int = Field(4, ge=1, description="target frames per training example")


class AutoregressiveConfig(FrameModelConfig):
    """The frame-by-frame baseline: one latent ``z_t`` per frame, given a recurrent summary of the past."""


class MovingShapesConfig(PluginConfig):
    size: int = Field(16, ge=8, le=64, description="frame side in pixels")
    frames: int = Field(21, ge=8, le=64, description="T, frames per video (t = 0..T-1; the benchmark samples t = 20)")
    fork: int = Field(6, ge=1, description="t_fork: the shape turns up or down after this frame")
    num_train: int = Field(4000, ge=1, description="training videos")
    num_test: int = Field(500, ge=1, description="test videos")
    seed: int = Field(0, ge=0, description="generation seed (the data itself; the run seed shuffles)")


class RoomsConfig(PluginConfig):
    size: int = Field(16, ge=8, le=64, description="image side in pixels")
    views: int = Field(8, ge=2, le=32, description="T, views per scene")
    num_train: int = Field(2000, ge=1, description="training scenes")
    num_test: int = Field(200, ge=1, description="test scenes")
    seed: int = Field(0, ge=0, description="generation seed")
