"""Evaluation during training: eval_return in the rows it is due, and Anakin's evaluation traced once
for the whole run (periodic and final), not once a call."""

import json
import math

import pytest

from rlk.core.config import build_run_config
from rlk.core.run import Run, resolve

SMALL = {"agent": {"name": "ppo", "num_envs": 4, "unroll_length": 8}, "backend": {"name": "cpu", "num_devices": 1},
         "steps": 160, "log_every_steps": 32, "eval_episodes": 2, "eval_every_steps": 64}


def test_anakin_evaluates_when_due_and_traces_its_evaluation_once(tmp_path, monkeypatch):
    import rlk.plugins.backends.anakin as anakin

    traces = []
    traced = anakin.evaluate

    def counting(*args, **kwargs):
        traces.append(1)
        return traced(*args, **kwargs)

    monkeypatch.setattr(anakin, "evaluate", counting)
    resolved = resolve(build_run_config({**SMALL, "run_dir": str(tmp_path)}))
    summary = Run(resolved, tmp_path).train()
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r["env_steps"] for r in rows if r["eval_return"] == r["eval_return"]]  # not NaN
    assert [r["env_steps"] for r in rows] == [32, 64, 96, 128, 160] and evaluated == [64, 128]
    assert len(traces) == 1 and len(summary["final_return_per_seed"]) == 1  # 2 evaluations and the final one


def test_the_training_policy_is_evaluated_beside_the_greedy_one_when_asked(tmp_path):
    """eval_training_policy: eval_return_training in exactly the rows eval_return is; the untrained PPO's
    sampling policy on Catch is measured by the agent's act (the final evaluation stays greedy)."""
    resolved = resolve(build_run_config({**SMALL, "eval_training_policy": True, "run_dir": str(tmp_path)}))
    Run(resolved, tmp_path).train()
    rows = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    due = [r["env_steps"] for r in rows if not math.isnan(r["eval_return"])]
    assert due == [64, 128]
    assert [r["env_steps"] for r in rows if not math.isnan(r["eval_return_training"])] == due
    assert all(-1.0 <= r["eval_return_training"] <= 1.0 for r in rows if r["env_steps"] in due)


def test_eval_training_policy_needs_eval_every_steps():
    with pytest.raises(Exception, match="eval_training_policy needs eval_every_steps"):
        build_run_config({**SMALL, "eval_every_steps": None, "eval_training_policy": True})
