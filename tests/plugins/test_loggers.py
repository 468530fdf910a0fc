"""Logger plugins through the real CLI: W&B (offline) and MLflow (file store) read back with their own
formats equal metrics.csv; TensorBoard's tags are grouped and a resume leaves no step twice; a missing
tracker library, an unknown logger and a bad logger option are one line each."""

from __future__ import annotations

import csv
import json
import math
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

TINY = ("--steps", "3072", "-o", "log_every_steps=1024", "-o", "checkpoint_every_steps=1024", "-o", "eval_episodes=5",
        "-o", "agent.num_envs=64", "-o", "agent.unroll_length=16", "-q")  # 3 calls of 1,024 env steps
COUNTERS = {"step", "env_steps", "seed"}
LOSSES = ("entropy", "ppo_policy", "ppo_value")  # the losses PPO composes by default


def csv_rows(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "metrics.csv").open()))


def expected(run: Path) -> dict[str, dict[int, float]]:
    """metrics.csv as ``{tag: {env_steps: value}}`` (finite values; one seed)."""
    from rlk.core.logging import tag

    out: dict[str, dict[int, float]] = {}
    for r in csv_rows(run):
        for k, v in r.items():
            if k not in COUNTERS and math.isfinite(float(v)):
                out.setdefault(tag(k, LOSSES), {})[int(r["env_steps"])] = float(v)
    return out


# -- W&B's offline run file: LevelDB-style log blocks of protobuf records ----------------------------------
def wandb_records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B", path
    pos, parts = 7, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        parts += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST chunk of a record
            record = pb.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


def wandb_history(run: Path) -> tuple[dict[str, dict[int, float]], dict]:
    """The offline W&B run's history ``{key: {step: value}}`` and its config."""
    [path] = (run / "wandb").glob("offline-run-*/run-*.wandb")
    history: dict[str, dict[int, float]] = {}
    config: dict = {}
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            for item in record.history.item:
                key = "/".join(item.nested_key) or item.key
                if not key.startswith("_"):
                    history.setdefault(key, {})[record.history.step.num] = json.loads(item.value_json)
        elif kind == "run":
            config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
    return history, config


def mlflow_history(run: Path, keys) -> tuple[dict[str, dict[int, float]], dict[str, str]]:
    """Each metric's history through ``MlflowClient.get_metric_history``, and the run's params."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run / "mlruns").resolve().as_uri())
    [mlrun] = client.search_runs([client.get_experiment_by_name("rlk").experiment_id])
    assert mlrun.info.status == "FINISHED"
    history = {k: {m.step: m.value for m in client.get_metric_history(mlrun.info.run_id, k)} for k in keys}
    assert set(mlrun.data.metrics) == set(keys)
    return history, mlrun.data.params


def test_wandb_offline_and_mlflow_file_store_log_what_metrics_csv_holds(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3's opt-in to read a file store
    run = tmp_path / "run"
    cli("train", *TINY, "--run-dir", str(run), "--logger", "wandb", "--logger", "mlflow", env={"WANDB_MODE": "offline"})
    want = expected(run)
    assert len(csv_rows(run)) == 3 and {"train/episode_return", "loss/total", "loss/ppo_policy.approx_kl"} <= set(want)
    wandb_seen, wandb_config = wandb_history(run)
    assert wandb_seen == want
    mlflow_seen, params = mlflow_history(run, want)
    assert mlflow_seen == want
    info = json.loads((run / "run_info.json").read_text())
    assert {"versions", "git", "command", "machine"} <= set(info) and info["versions"]["jax"]
    assert "--logger wandb" in info["command"] and info["machine"]["device_count"] == 1
    assert wandb_config["run_info"]["versions"] == info["versions"] and wandb_config["agent"]["name"] == "ppo"
    assert params["run_info.versions.jax"] == info["versions"]["jax"] and params["config.agent.name"] == "ppo"
    assert not (run / "tb").exists()  # --logger replaces the default list; csv is always written
    assert [c["name"] for c in json.loads((run / "config.json").read_text())["loggers"]] == ["csv", "wandb", "mlflow"]


# -- TensorBoard event files: TFRecords of Event protos; a SessionLog START at step s hides earlier events at
# steps >= s (what TensorBoard does with tensorboardX's purge_step) ---------------------------------------------
def tb_scalars(tb: Path, purge: bool = True) -> list[tuple[str, int, float]]:
    from tensorboardX.proto.event_pb2 import Event, SessionLog

    seen: list[tuple[str, int, float]] = []
    for path in sorted(tb.glob("events.out.tfevents.*")):
        data, pos = path.read_bytes(), 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            if purge and event.session_log.status == SessionLog.START:
                seen = [s for s in seen if s[1] < event.step]
            seen += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    return seen


def test_tensorboard_groups_tags_and_a_resume_leaves_no_step_twice(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", *TINY, "--run-dir", str(run))
    shutil.rmtree(run / "checkpoints" / "3072")  # the run died after logging call 3 (step 3,072), before its checkpoint
    cli("train", "--resume", str(run), "--steps", "4096", "-q")
    steps = [int(r["env_steps"]) for r in csv_rows(run)]
    assert steps == [1024, 2048, 3072, 4096]
    raw = [(t, s) for t, s, _ in tb_scalars(run / "tb", purge=False)]
    assert len(raw) > len(set(raw))  # call 3 was written by both launches ...
    seen = tb_scalars(run / "tb")
    keys = [(t, s) for t, s, _ in seen]
    assert len(keys) == len(set(keys))  # ... and the resume's purge marker hides the first one
    assert sorted({s for _, s in keys}) == steps
    tags = {t for t, _ in keys}
    assert {"train/episode_return", "loss/total", "loss/ppo_value", "time/steps_per_s"} <= tags
    assert all(t.split("/")[0] in ("train", "loss", "eval", "time") for t in tags), tags
    want = expected(run)
    assert {(t, s): v for t, s, v in seen if not t.startswith("time/")} == pytest.approx(
        {(t, s): v for t, vals in want.items() for s, v in vals.items() if not t.startswith("time/")}, rel=1e-6)
    info = json.loads((run / "run_info.json").read_text())
    assert [r["resumed_at"]["env_steps"] for r in info["resumes"]] == [2048]


def test_a_missing_tracker_library_is_one_line_naming_the_extra(cli, tmp_path):
    fake = tmp_path / "site"  # shadows the installed library, as if it were not installed
    for lib in ("wandb", "mlflow"):
        (fake / lib).mkdir(parents=True)
        (fake / lib / "__init__.py").write_text(f"raise ModuleNotFoundError(\"No module named '{lib}'\")\n")
    for lib in ("wandb", "mlflow"):
        proc = cli("train", *TINY, "--run-dir", str(tmp_path / lib), "--logger", lib, check=False,
                   env={"PYTHONPATH": str(fake)})
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert [l for l in proc.stderr.splitlines() if l.strip()] == [
            f"error: logger '{lib}' needs the '{lib}' library: pip install 'rlk[trackers]'"]
        assert not (tmp_path / lib / "metrics.csv").exists()  # stopped before training


@pytest.mark.parametrize("args, line", [
    (("--logger", "tensorbord"), "unknown logger 'tensorbord'"),
    (("-o", "loggers=[{name: wandb, projet: x}]"), "unknown config field 'loggers.wandb.projet'"),
    (("--logger", "csv", "--logger", "csv"), "loggers: 'csv' is named twice"),
], ids=["unknown", "unknown-field", "twice"])
def test_bad_logger_choice_is_one_line_before_anything_is_built(cli, tmp_path, args, line):
    proc = cli("train", *TINY, "--run-dir", str(tmp_path / "run"), *args, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert len([l for l in proc.stderr.splitlines() if l.strip()]) == 1 and line in proc.stderr, proc.stderr
    assert not (tmp_path / "run").exists()


def test_loggers_are_listed_and_registering_them_imports_no_tracker():
    code = ("import sys, json; from rlk.core.registry import default_registry; r = default_registry(); "
            "print(json.dumps([[p['name'], p['status']] for p in r.rows() if p['kind'] == 'logger'])); "
            "print(json.dumps(sorted(m for m in ('wandb', 'mlflow', 'tensorboardX') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert json.loads(out[0]) == [["csv", "ok"], ["mlflow", "ok"], ["tensorboard", "ok"], ["wandb", "ok"]]
    assert json.loads(out[1]) == []
