"""The BWLC codec's config, light (no jax): the package registers from here; ``model`` imports when a run
builds the codec."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from rlk.core.config import PluginConfig


class BWLCConfig(PluginConfig):
    system: Literal["joint", "separate"] = Field("joint", description="joint: trained through the channel; "
                                                 "separate: source code without the channel, then a channel code")
    code_dim: int = Field(16, ge=1, le=256, description="K, symbols per code")
    hidden: int = Field(256, ge=8, description="width of the encoder/decoder MLPs (two hidden layers)")
    prior_hidden: int = Field(128, ge=4, description="width of the MADE prior's hidden layer")
    aux_dim: int = Field(4, ge=0, description="auxiliary latent variables of the decoder (0: none)")
    k_dist: Literal["uniform", "full"] = Field("uniform", description="p(k): uniform on k_min..K, or always K")
    k_min: int = Field(1, ge=0, description="smallest bandwidth drawn in training")
    snr_db: Optional[float] = Field(None, description="AWGN at this SNR (dB) with average power 1 per symbol; None: noiseless")
    likelihood: Literal["gaussian", "bernoulli"] = Field(
        "gaussian", description="p(x | y, u): Gaussian with std obs_std per pixel, or (continuous-valued) Bernoulli")
    obs_std: float = Field(0.1, gt=0, description="std of the Gaussian likelihood")
    beta: float = Field(1.0, ge=0, description="weight of the rate terms (KL) in the loss")
    aux_beta: float = Field(5.0, ge=0, description="weight of the auxiliary latent's KL (above beta: u keeps to "
                            "detail the code lacks, since u is not sent and the receiver samples it from N(0, I))")
    channel_weight: float = Field(1.0, gt=0, description="separate system: weight of the channel code's MSE")
    channel: Literal["hard", "relaxed"] = Field(
        "hard", description="joint training channel: hard (the receiver gets exactly y_<k, k integer) or relaxed "
        "(k + U(-1/2, 1/2) real, mask sigmoid((k - i - 1/2) / temperature)); evaluation always uses the hard channel")
    temperature: float = Field(0.25, gt=0, description="relaxed channel: the mask's temperature (0: the hard mask)")
    fill: Literal["prior", "zero"] = Field(
        "prior", description="joint: the receiver fills the missing symbols by sampling the prior p(y_>=k | y_<k), "
        "or with zeros (the ablation without a prior for the missing information)")
    decoder_sees_mask: bool = Field(True, description="joint: the decoder also gets the mask m_k (which symbols were received)")
    eval_fill_samples: int = Field(16, ge=1, description="distortion: the receiver averages its decoder over this many prior fills")
    eval_ks: list[int] = Field([1, 2, 4, 8, 16], description="bandwidths k at which rlk eval reports metrics")
    classifier_hidden: int = Field(128, ge=4, description="features (penultimate width) of the CNN classifier "
                                   "behind the Frechet distance")
    classifier_steps: int = Field(1500, ge=1, description="Adam updates (batch 64) that fit that classifier")

    @model_validator(mode="after")
    def _check(self):
        if self.system == "separate":
            for name, default in (("channel", "hard"), ("fill", "prior")):
                if getattr(self, name) != default:
                    raise ValueError(f"{name}={getattr(self, name)!r} applies to system='joint' only "
                                     "(the separate source code trains without the channel)")
        if self.k_min > self.code_dim:
            raise ValueError(f"k_min={self.k_min} exceeds code_dim={self.code_dim}")
        bad = [k for k in self.eval_ks if not 0 <= k <= self.code_dim]
        if bad or not self.eval_ks:
            raise ValueError(f"eval_ks must be non-empty values in 0..code_dim={self.code_dim} (got {self.eval_ks})")
        return self
