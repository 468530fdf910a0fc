"""Several metric rows in one compiled call (``rlk.core.rows``): a grouped call computes what as many
one-row calls compute, and a run writes the same rows, evaluations and checkpoints however the loop
groups them."""

import csv
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from rlk.core.config import build_run_config
from rlk.core.rows import rows_for_call
from rlk.core.run import Run, resolve

TIMING = {"steps_per_s", "wall_s"}


def test_rows_for_call_fills_the_target_time_and_stops_at_what_is_due():
    assert rows_for_call(None, 0.5, 16, 100) == 1  # nothing timed yet
    assert rows_for_call(0.1, 0.5, 16, 100) == 5
    assert rows_for_call(0.01, 0.5, 16, 100) == 16  # at most max_rows
    assert rows_for_call(0.01, 0.5, 16, 3) == 3  # ends where a checkpoint, an evaluation or the run's end is due
    assert rows_for_call(2.0, 0.5, 16, 100) == 1  # a long row: one a call
    assert rows_for_call(0.01, 0.5, 1, 100) == rows_for_call(0.01, 0.0, 16, 100) == 1  # grouping off


def program(max_rows: int):
    raw = {"env": {"name": "catch"}, "log_every_steps": 2048, "max_rows_per_call": max_rows,
           "backend": {"name": "cpu", "num_devices": 1}}
    return Run(resolve(build_run_config(raw)), Path(".")).build()


def test_a_call_of_three_rows_computes_three_calls_of_one_row():
    grouped, single = program(4), program(1)
    assert (grouped.info.max_rows_per_call, single.info.max_rows_per_call) == (4, 1)
    step = grouped.compile(grouped.init([0]))  # one seed: the program without the seed vmap
    state, stacked = step(grouped.init([0]), np.int32(3))
    stacked = jax.device_get(stacked)
    one_by_one, rows = grouped.init([0]), []
    for _ in range(3):
        one_by_one, m = step(one_by_one, np.int32(1))
        rows.append(jax.tree.map(lambda x: np.asarray(x)[:, 0], m))
    for a, b in zip(jax.tree.leaves(jax.device_get(state)), jax.tree.leaves(jax.device_get(one_by_one))):
        np.testing.assert_array_equal(a, b)  # one executable, the same loop body: bit for bit
    for i in range(3):
        for a, b in zip(jax.tree.leaves(jax.tree.map(lambda x: x[:, i], stacked)), jax.tree.leaves(rows[i])):
            np.testing.assert_array_equal(a, b)
    assert all(np.all(x[:, 3:] == 0) for x in jax.tree.leaves(stacked))  # rows past the third: not made
    # the one-row program (a call per row, as before grouping) computes the same rows
    old = single.init([0])
    old_step = single.compile(old)
    for i in range(3):
        old, m = old_step(old)
        for a, b in zip(jax.tree.leaves(jax.device_get(m)), jax.tree.leaves(rows[i])):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def run_rows(tmp_path: Path, name: str, **options) -> tuple[list[dict], list[str], dict, int]:
    raw = {"agent": {"name": "ppo", "num_envs": 4, "unroll_length": 8}, "backend": {"name": "cpu", "num_devices": 1},
           "steps": 352, "log_every_steps": 32, "eval_episodes": 2, "eval_every_steps": 96,
           "checkpoint_every_steps": 160, "checkpoint_every_s": None, "keep_checkpoints": 10, **options,
           "run_dir": str(tmp_path / name)}
    summary = Run(resolve(build_run_config(raw)), tmp_path / name).train()
    with open(tmp_path / name / "metrics.csv") as f:
        raw_rows = list(csv.DictReader(f))
    calls = len({r["wall_s"] for r in raw_rows})  # the rows of one call are written at one time
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in raw_rows]
    saved = sorted((p.name for p in (tmp_path / name / "checkpoints").iterdir() if p.name.isdigit()), key=int)
    return rows, saved, summary, calls


def test_a_run_writes_the_same_rows_evaluations_and_checkpoints_however_rows_are_grouped(tmp_path):
    """11 rows; evaluations due at rows 3, 6, 9 (each saves a checkpoint); checkpoints by steps at rows 5 and 10, and the last. A target of
    1000 s a call makes every call after the first two as long as what is due next allows."""
    one, one_saved, one_summary, one_calls = run_rows(tmp_path, "one", num_seeds=2, max_rows_per_call=1)
    many, many_saved, many_summary, many_calls = run_rows(tmp_path, "many", num_seeds=2, call_target_s=1000.0)
    assert len(one) == len(many) == 22
    # calls of rows 1 | 2 (sent before a row was timed) | 3 | 4-5 | 6 | 7-9 | 10 | 11: each ends where something is due
    assert one_calls == 11 and many_calls == 8
    for a, b in zip(one, many):
        assert a.keys() == b.keys() and a["env_steps"] == b["env_steps"] and a["eval_return"] == b["eval_return"]
        for k in a:
            np.testing.assert_allclose(float(b[k] or "nan"), float(a[k] or "nan"), rtol=1e-5, err_msg=k)
    evaluated = sorted({int(r["env_steps"]) for r in many if r["eval_return"] not in ("", "nan")})
    assert evaluated == [96, 192, 288]
    # by steps (160, 320), the last, and each evaluation's (kept for the best, as keep_best is on with evaluations)
    assert one_saved == many_saved == ["96", "160", "192", "288", "320", "352"]
    assert one_summary["final_return_per_seed"] == pytest.approx(many_summary["final_return_per_seed"], abs=1e-6)
    assert many_summary["env_steps"] == 352
