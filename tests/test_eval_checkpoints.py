"""Evaluation during training, the checkpoint policy and `rlk eval --checkpoint`, and the fallback
past a damaged latest checkpoint, through the real CLI."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

TIMING = {"steps_per_s", "wall_s"}
# One PPO update per call on Catch (1,024 env steps) and a greedy evaluation after each: the first
# evaluation sees a nearly untrained policy.
TINY = ("--steps", "8192", "-o", "log_every_steps=1024")
EPISODES = "50"


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def kept(run_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit())


def one_line_error(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    from conftest import run_cli

    run = tmp_path_factory.mktemp("eval") / "run"
    run_cli("train", "--num-seeds", "2", *TINY, "-o", "eval_every_steps=1024", "-o", f"eval_episodes={EPISODES}",
            "-o", "keep_checkpoints=1", "-q", "--run-dir", str(run))
    return run


def test_eval_return_rows_rise_and_the_best_checkpoint_is_kept(evaluated):
    table = rows(evaluated)
    assert len(table) == 16 and all(np.isfinite(float(r["eval_return"])) for r in table)  # 8 calls x 2 seeds
    for seed in ("0", "1"):
        evals = [float(r["eval_return"]) for r in table if r["seed"] == seed]
        assert evals[-1] > evals[0], (seed, evals)
    by_step: dict[int, list[float]] = {}
    for r in table:
        by_step.setdefault(int(r["env_steps"]), []).append(float(r["eval_return"]))
    best = max(by_step, key=lambda s: (np.mean(by_step[s]), -s))  # ties: the earliest
    assert kept(evaluated) == sorted({max(by_step), best})  # keep_checkpoints=1, and the best


def test_rlk_eval_checkpoint_best_repeats_the_logged_evaluation(cli, evaluated):
    table = rows(evaluated)
    by_step: dict[int, list[float]] = {}
    for r in table:
        by_step.setdefault(int(r["env_steps"]), []).append(float(r["eval_return"]))
    best = max(by_step, key=lambda s: (np.mean(by_step[s]), -s))
    for which, step in (("best", best), (str(max(by_step)), max(by_step))):
        out = cli("eval", str(evaluated), "--checkpoint", which, "--episodes", EPISODES, "--json")
        np.testing.assert_allclose(json.loads(out.stdout)["per_seed_mean_return"], by_step[step], rtol=1e-6)
    bad = cli("eval", str(evaluated), "--checkpoint", "123", check=False)
    assert "holds no checkpoint of step 123" in one_line_error(bad)
    bad = cli("eval", str(evaluated), "--checkpoint", "first", check=False)
    assert "--checkpoint: expected last, best or a checkpoint's step, got 'first'" in one_line_error(bad)


def test_damaged_latest_checkpoint_resumes_from_the_previous_one_exactly(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--seed", "1", "--steps", "4096", "-o", "log_every_steps=1024", "-o", "checkpoint_every_steps=1024",
        "-q", "--run-dir", str(run))
    uninterrupted = rows(run)
    assert kept(run) == [3072, 4096] and len(uninterrupted) == 4
    for f in (run / "checkpoints" / "4096").rglob("*"):
        if f.is_file() and f.parent.name == "d":  # the data files of orbax's store
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    (run / "summary.json").unlink()
    resumed = cli("train", "--resume", str(run), "-q")
    warnings = resumed.stderr.strip().splitlines()  # one line, no traceback of orbax's reads at exit
    assert len(warnings) == 1 and warnings[0].startswith("warning: checkpoint 4096 in ") and "damaged" in warnings[0] \
        and warnings[0].endswith("using checkpoint 3072"), resumed.stderr
    assert rows(run) == uninterrupted  # the last call's row dropped and recomputed identically
    assert kept(run) == [3072, 4096] and (run / "checkpoints" / "4096.damaged").is_dir()
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 4096


def test_run_fields_and_refusals(cli):
    shown = cli("show-config", "--run").stdout
    assert all(f in shown for f in ("eval_every_steps", "keep_checkpoints", "keep_best"))
    bad = cli("train", "-o", "keep_best=true", "-q", check=False)
    assert "keep_best needs eval_every_steps" in one_line_error(bad)
    bad = cli("train", "-o", "keep_checkpoints=0", "-q", check=False)
    assert "keep_checkpoints" in one_line_error(bad)
