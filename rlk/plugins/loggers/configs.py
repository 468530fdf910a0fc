"""Options of the logger plugins (``-o 'loggers=[{name: wandb, project: P}]'`` or a YAML ``loggers:`` list)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from rlk.core.config import PluginConfig


class TensorBoardConfig(PluginConfig):
    flush_secs: float = Field(5.0, gt=0, description="events reach the file at most this many seconds late "
                                                     "(a flush per row costs CPU a loop of short calls pays in throughput)")


class WandbConfig(PluginConfig):
    project: Optional[str] = Field(None, description="W&B project (default: WANDB_PROJECT, else 'rlk')")
    entity: Optional[str] = Field(None, description="W&B entity, a user or team (default: WANDB_ENTITY or your default)")
    run_name: Optional[str] = Field(None, description="W&B run name (default: the run folder's name); `name` is the logger's")
    group: Optional[str] = Field(None, description="W&B group (default: the run folder's name, so a resume joins it)")
    mode: Optional[Literal["online", "offline", "disabled"]] = Field(
        None, description="W&B mode (default: WANDB_MODE, else online); offline writes <run>/wandb/ for `wandb sync`")
    tags: list[str] = Field(default_factory=list, description="W&B tags")


class MlflowConfig(PluginConfig):
    tracking_uri: Optional[str] = Field(None, description="MLflow tracking URI (default: file://<run folder>/mlruns, "
                                                          "a file store; http://HOST:PORT for a server)")
    experiment: str = Field("rlk", min_length=1, description="MLflow experiment, created if missing")
    run_name: Optional[str] = Field(None, description="MLflow run name (default: the run folder's name)")
