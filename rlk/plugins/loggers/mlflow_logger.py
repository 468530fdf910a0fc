"""The ``mlflow`` logger: one MLflow run per launch, by default in a file store under ``<run>/mlruns``.

The run config and ``run_info.json``'s launch are the MLflow run's params (flattened, ``config.agent.
learning_rate``, ``run_info.versions.jax``) and artifacts (``config.json``, ``run_info.json``). A resume
starts a new MLflow run in the same experiment, tagged ``rlk.resumed_at``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Sequence

from rlk.core.logging import Row, RunInfo, flatten, require, scalars
from rlk.plugins.loggers.configs import MlflowConfig

BATCH = 1000  # MLflow's limit on metrics per log_batch call (100 on params)
MAX_PARAM = 6000  # characters of a param's value MLflow stores


class MlflowLogger:
    """Metrics with the run's axis value as MLflow's step."""

    def __init__(self, client: Any, run_id: str, info: RunInfo):
        self.client, self.run_id, self.info = client, run_id, info

    def write(self, rows: Sequence[Row]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for step, values in scalars(rows, self.info).items()
                   for k, v in values.items()]
        for i in range(0, len(metrics), BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + BATCH])

    def close(self) -> None:
        if self.client is not None:
            self.client.set_terminated(self.run_id)
            self.client = None


def make_mlflow(config: MlflowConfig, run_dir: Path, info: RunInfo) -> MlflowLogger:
    """An MLflow run (tracking URI, default a file store in <run>/mlruns)."""
    require("mlflow", "mlflow")
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    uri = config.tracking_uri or (run_dir.resolve() / "mlruns").as_uri()
    if uri.startswith("file:") or "://" not in uri:
        # MLflow 3 keeps its file store behind an opt-in (it recommends a database; a folder needs no server)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(config.experiment)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(config.experiment)
    tags = {"rlk.run_dir": str(run_dir.resolve()), **({"rlk.resumed_at": json.dumps(info.resumed_at)} if info.resumed_at else {})}
    run_id = client.create_run(experiment_id, run_name=config.run_name or info.name, tags=tags).info.run_id
    params = [Param(k, (json.dumps(v) if isinstance(v, (list, dict, type(None), bool)) else str(v))[:MAX_PARAM])
              for k, v in flatten({"config": info.config, "run_info": info.metadata}).items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i:i + 100])
    for name in ("config.json", "run_info.json"):
        if (run_dir / name).is_file():
            client.log_artifact(run_id, str(run_dir / name))
    return MlflowLogger(client, run_id, info)
