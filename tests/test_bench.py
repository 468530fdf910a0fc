"""``rlk bench``: the single-file peer learns, and the benchmark returns well-formed rows.

No timing assertions: throughput depends on the machine and its load.
"""

from __future__ import annotations

import math
import time

import jax
import pytest

from rlk import bench
from rlk.core.wrappers import for_training


def test_peer_learns_catch_better_than_random():
    peer = bench.load_peer()
    assert peer is not None, f"missing {bench.PEER_PATH}"
    env = for_training(bench.make_env("catch"))
    train = jax.jit(peer.make_train(bench.peer_config(num_updates=40), env))  # 40 x 64 x 16 = 41k steps
    out = train(jax.random.PRNGKey(0))
    learned = float(peer.mean_returns(out["metrics"], window=5))
    random = bench.random_policy_return("catch", num_envs=64, length=200)
    assert -1.0 <= random <= 0.0  # a random paddle misses more often than it catches
    assert learned > random + 0.8, (learned, random)


def test_run_benchmarks_rows():
    """``rlk bench --envs catch --devices 1 --seeds 1 --num-envs 32``: one row, rlk's program, the ceiling
    and the peer all with 32 envs."""
    setup = bench.Setup(num_envs=32)
    # 1 repeat of 1 call of 1,536 env steps: 3 updates of 32 x 16 (64 envs would make 1,024 or 2,048)
    rows = bench.run_benchmarks(["catch"], [1], [1], bench.Budget(calls=1, repeats=1, log_every_steps=1536), setup=setup)
    assert len(rows) == 1
    row = rows[0]
    assert set(row) == set(bench.ROW_KEYS)
    assert (row["num_envs"], row["platform"], row["env_steps_per_call"]) == (32, "cpu", 1536)
    assert bench.peer_config(3, setup)["NUM_ENVS"] == 32 and bench.peer_config(3)["NUM_ENVS"] == 64
    assert "accelerator" not in row["machine"]
    for key in ("name", "env", "devices", "seeds", "steps_per_s", "ceiling_steps_per_s", "peer_steps_per_s",
                "ratio", "peer_ratio", "machine"):
        assert key in row, key
    assert (row["env"], row["devices"], row["seeds"]) == ("catch", 1, 1)
    for key in ("steps_per_s", "ceiling_steps_per_s", "peer_steps_per_s", "ratio", "peer_ratio", "compile_s"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
    assert math.isclose(row["ratio"], row["steps_per_s"] / row["ceiling_steps_per_s"])
    assert math.isclose(row["peer_ratio"], row["steps_per_s"] / row["peer_steps_per_s"])
    assert row["machine"]["cores"] >= 1 and row["machine"]["cpu"]


@pytest.mark.slow
def test_sebulba_atari_row():
    """``rlk bench --sebulba atari-breakout``: training and the env alone measured, frames = 4 x steps."""
    # 3 calls of 1,280 steps (one learner update each): a single call can be served entirely by trajectories
    # the actors queued during warm-up (up to 4 per thread), and then counts 0 produced steps
    row = bench.bench_sebulba("atari-breakout", "vtrace", bench.Budget(calls=3, repeats=1, log_every_steps=1280),
                              num_devices=1)
    assert set(row) == set(bench.SEBULBA_KEYS)
    assert (row["arch"], row["agent"], row["env"]) == ("sebulba", "vtrace", "atari-breakout")
    for key in ("steps_per_s", "ceiling_steps_per_s", "ratio", "frames_per_s", "ceiling_frames_per_s"):
        assert math.isfinite(row[key]) and row[key] > 0, (key, row[key])
    assert math.isclose(row["frames_per_s"], 4 * row["steps_per_s"])  # DQN frame skip 4
    assert math.isclose(row["ratio"], row["steps_per_s"] / row["ceiling_steps_per_s"])
    assert row["actor_threads"] >= 1 and row["env_steps_per_call"] == 1280
    # the env alone is timed before the actors start and after they stop, bracketing training
    assert len(row["ceiling_s_before_after"]) == 2 and len(row["training_s"]) == 1
    # training counts the steps produced while timed: consumed less what the call drew from the queue
    (before, after), = row["queued_steps_before_after"]
    consumed = 3 * row["env_steps_per_call"]
    assert math.isclose(row["steps_per_s"], (consumed - (before - after)) / row["training_s"][0], rel_tol=1e-2)
    assert math.isclose(row["consumed_steps_per_s"], consumed / row["training_s"][0], rel_tol=1e-2)


def test_produced_steps_timer_leaves_out_what_a_call_drew_from_the_queue():
    """A call that consumes 100 steps while the queue drains from 60 to 20 produced 60 of them."""
    levels = iter([60, 20, 20, 20])
    timer = bench.ProducedStepsTimer(lambda: time.sleep(0.01), 100, lambda: next(levels))
    timer.once()
    timer.once()  # queue steady: all 100 produced
    assert timer.produced == [60, 100] and timer.queue_levels == [(60, 20), (20, 20)]
    assert math.isclose(timer.steps_per_s, max(60 / timer.times[0], 100 / timer.times[1]))
    assert math.isclose(timer.consumed_steps_per_s, 100 / min(timer.times))


def test_empty_envs_plan_no_anakin_rows():
    """``rlk bench --envs '' --sebulba atari-breakout`` runs the Sebulba rows only: '' plans no Anakin env,
    while leaving ``--envs`` out plans the default table."""
    assert bench._plan("", None, None, False)[0] == []
    assert bench._plan(None, None, None, False)[0] == list(bench.DEFAULT_ENVS)
    assert bench._plan(None, None, None, False)[1] is None  # the platform's default_devices
    assert bench.default_devices("cpu") == [1, 2, 4]
    assert bench._plan(None, None, None, True)[0] == ["catch"]
    assert bench._plan("catch, cartpole", None, None, False)[0] == ["catch", "cartpole"]


def test_loop_row_times_the_run_loop_against_the_peer():
    """``rlk bench --preset``'s row kind at a tiny shape: rlk's whole ``rlk train`` loop and the peer over the
    same env steps, the step size annealed on both sides, both rounds kept, and rlk's program as one call."""
    shape = bench.annealed("catch", 4, 32, 9_984)  # 78 updates: one compiled call of log_every_steps=10,000
    assert shape.setup.agent() == {"num_envs": 4, "unroll_length": 32, "learning_rate": 2.5e-4,
                                   "lr_schedule": "linear", "lr_decay_updates": 78}
    config = bench.peer_config(78, shape.setup)
    assert (config["NUM_ENVS"], config["NUM_STEPS"], config["LR"], config["ANNEAL_LR"]) == (4, 32, 2.5e-4, True)
    row = bench.bench_loop(shape, rounds=2)
    assert set(row) == set(bench.LOOP_KEYS)
    assert (row["kind"], row["env"], row["num_envs"], row["unroll_length"]) == ("run-loop", "catch", 4, 32)
    assert row["env_steps"] == row["peer_env_steps"] == 9_984
    assert len(row["rounds_s"]) == len(row["peer_rounds_s"]) == 2 and len(row["load"]) == 6
    assert math.isclose(row["steps_per_s"], 9_984 / min(row["rounds_s"]), rel_tol=1e-2)
    assert math.isclose(row["peer_ratio"], row["steps_per_s"] / row["peer_steps_per_s"])
    # the control: rlk's program making the run's 78 updates in one call, timed in the same rounds
    assert len(row["one_call_rounds_s"]) == 2
    assert math.isclose(row["one_call_steps_per_s"], 9_984 / min(row["one_call_rounds_s"]), rel_tol=1e-2)
    assert math.isclose(row["one_call_ratio"], row["one_call_steps_per_s"] / row["peer_steps_per_s"])
    # the control: the same loop with one compiled call per metric row; a run of one row makes one call
    assert len(row["row_calls_rounds_s"]) == 2 and row["rows_per_call"] == 1.0
    assert math.isclose(row["row_calls_ratio"], 9_984 / min(row["row_calls_rounds_s"]) / row["peer_steps_per_s"], rel_tol=1e-2)
    assert "| catch | 4x32 | 9,984 |" in bench.loop_markdown([row])
    assert [s.env for s in bench.PRESETS["issue26"]] == ["catch", "CartPole-v1", "catch"]


def test_agents_side_by_side_through_the_cli(cli):
    """``rlk bench --agents ppo,vtrace --envs catch``: one row per agent, timed in one process, ratios to the first
    (the check that times Muesli against PPO, ``--agents ppo,muesli``, with agents that compile fast); a call is
    at least ``--log-every-steps`` env steps, whole updates of each agent (V-trace: 64 x 20)."""
    import json

    out = cli("bench", "--agents", "ppo,vtrace", "--envs", "catch", "--quick", "--log-every-steps", "1024", "--json",
              timeout=300)
    rows = json.loads(out.stdout)
    assert [(r["agent"], r["env"]) for r in rows] == [("ppo", "catch"), ("vtrace", "catch")]
    for r in rows:
        assert set(r) == set(bench.AGENT_KEYS)
        assert r["env_steps_per_call"] >= 1024 and r["steps_per_s"] > 0 and r["cpu_steps_per_s"] > 0
    assert rows[0]["ratio"] == rows[0]["cpu_ratio"] == 1.0
    assert math.isclose(rows[1]["ratio"], rows[1]["steps_per_s"] / rows[0]["steps_per_s"])
    assert math.isclose(rows[1]["cpu_ratio"], rows[1]["cpu_steps_per_s"] / rows[0]["cpu_steps_per_s"])
