"""Metric loggers: csv (metrics.csv and metrics.jsonl, every run), tensorboard, wandb and mlflow.

Registration is light: each factory imports its library when a run builds it, so ``rlk --help`` and
``rlk list-plugins`` never import tensorboardX, wandb or mlflow. The trackers' libraries come with
``pip install 'rlk[trackers]'``; a run that names one without it fails in one line naming that command.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl
from rlk.plugins.loggers.configs import MlflowConfig, TensorBoardConfig, WandbConfig
from rlk.plugins.loggers.files import make_csv
from rlk.plugins.loggers.mlflow_logger import make_mlflow
from rlk.plugins.loggers.tensorboard import make_tensorboard
from rlk.plugins.loggers.wandb_logger import make_wandb


@hookimpl
def rlk_register_loggers(register):
    register("csv", make_csv, description="metrics.csv and metrics.jsonl in the run folder (every run writes them)")
    register("tensorboard", make_tensorboard, config=TensorBoardConfig,
             description="TensorBoard events in <run>/tb, tags grouped train/ eval/ loss/ time/; resume purges stale steps")
    register("wandb", make_wandb, config=WandbConfig,
             description="Weights & Biases run (offline with mode=offline or WANDB_MODE=offline); needs rlk[trackers]")
    register("mlflow", make_mlflow, config=MlflowConfig,
             description="MLflow run (default: a file store in <run>/mlruns); needs rlk[trackers]")
