"""Sebulba on host environments: V-trace on Atari end to end; Gaussian PPO improves on MuJoCo."""

import json

import numpy as np
import pytest

from rlk.core.registry import default_registry


def summary(path):
    return json.loads((path / "summary.json").read_text())


def test_sebulba_vtrace_atari_breakout_end_to_end(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--agent", "vtrace", "--env", "atari-breakout", "--arch", "sebulba", "--steps", "5000", "-q",
        "--run-dir", str(run), "-o", "eval_episodes=2", timeout=300)
    s = summary(run)
    assert s["arch"] == "sebulba" and s["env_steps"] >= 5000 and s["env_steps_per_s"] > 0
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"queue", "staleness", "loss"} <= set(header)
    assert np.isfinite(s["final_return"])


def random_hopper_return(episodes: int = 8) -> float:
    factory = default_registry().get("env", "Hopper-v5").factory()
    env = factory.make(episodes, seed=0)
    ts = env.reset(0)
    rng = np.random.default_rng(0)
    low, high = factory.spec.action.low, factory.spec.action.high
    total, done = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(factory.spec.max_episode_steps):
        ts = env.step(rng.uniform(low, high, size=(episodes,) + tuple(factory.spec.action.shape)))
        total += np.where(done, 0.0, ts.reward)
        done |= ts.last
        if done.all():
            break
    env.close()
    return float(total.mean())


@pytest.mark.slow
def test_gaussian_ppo_improves_on_hopper(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--env", "Hopper-v5", "--steps", "100000", "-q", "--run-dir", str(run), "-o", "eval_episodes=8",
        timeout=600)
    random = random_hopper_return()
    final = summary(run)["final_return"]
    assert final > 3 * max(random, 10.0), (final, random)


# -- MuJoCo observation normaliser: host state in Sebulba's checkpoints -------------------------

def hopper_factory():
    return default_registry().get("env", "Hopper-v5").factory()


def test_normaliser_state_restores_into_a_fresh_env():
    from rlk.plugins.backends.sebulba import decode_host, encode_host

    factory = hopper_factory()
    trained = factory.make(4, seed=0)
    trained.reset(0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        trained.step(rng.uniform(-1, 1, size=(4, 3)))
    state = trained.get_state()
    assert float(state["count"]) > 200 and np.abs(state["mean"]).max() > 0.01
    # Through Sebulba's checkpoint encoding (raw bytes): bit-exact, per thread.
    template = factory.initial_state()
    decoded = decode_host(encode_host([template, state], template), template)
    for k in state:
        np.testing.assert_array_equal(decoded[1][k], state[k])
        np.testing.assert_array_equal(decoded[0][k], template[k])
    restored, fresh = factory.make(4, seed=0), factory.make(4, seed=0)
    restored.set_state(decoded[1])
    for env in (trained, restored, fresh):
        env.update_statistics = False
    obs = [env.reset(7).observation for env in (trained, restored, fresh)]
    np.testing.assert_array_equal(obs[0], obs[1])  # same statistics: same normalised observations
    assert np.abs(obs[0] - obs[2]).max() > 0.1  # fresh statistics normalise differently
    np.testing.assert_array_equal(restored.get_state()["count"], state["count"])  # frozen
    for env in (trained, restored, fresh):
        env.close()


def restored_run(run):
    """(program, state) of ``run``'s last checkpoint, as ``rlk eval`` restores them."""
    from rlk.core.run import restored_run

    _, program, state = restored_run(run)
    return program, state


def thread_counts(run):
    from rlk.plugins.backends.sebulba import decode_host

    program, state = restored_run(run)
    return np.array([float(s["count"]) for s in decode_host(state.host, program.host_template)])


HOPPER = ("--env", "Hopper-v5", "-q", "-o", "agent.num_envs=12", "-o", "agent.unroll_length=16",
          "-o", "log_every_steps=768", "-o", "eval_episodes=2")


def test_sebulba_checkpoints_the_normaliser_and_eval_uses_it(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", *HOPPER, "--steps", "3072", "--run-dir", str(run), timeout=400)
    before = thread_counts(run)
    threads = len(before)
    # Every thread observed at least its share of the consumed steps (its 6 environments' resets too).
    assert threads == 2 and np.all(before >= 3072 / threads), before

    # Resume: the actors start from the saved statistics (a fresh normaliser would count only the new steps).
    cli("train", "--resume", str(run), "--steps", "6144", "-q", timeout=400)
    after = thread_counts(run)
    assert np.all(after >= before + (6144 - 3072) / threads), (before, after)

    # Evaluation normalises with the saved statistics (merged over threads), frozen.
    from rlk.plugins.envs.mujoco import merge_normaliser_states
    from rlk.plugins.backends.sebulba import decode_host

    program, state = restored_run(run)
    made = []
    make = program.env_factory.make
    program.env_factory.make = lambda n, seed=0: made.append(make(n, seed)) or made[-1]
    program.evaluate(state, 2, seed=3)
    expected = merge_normaliser_states(decode_host(state.host, program.host_template))
    used = made[0].get_state()
    assert made[0].update_statistics is False
    for k in expected:
        np.testing.assert_array_equal(used[k], expected[k])
    assert float(used["count"]) > 6144


def random_atari_return(game: str = "breakout", episodes: int = 32, seed: int = 0) -> tuple[float, float]:
    """Mean and std return of uniformly random actions over ``episodes`` games (one per environment)
    of ``atari-<game>`` with the registry's default protocol (sticky actions, no episodic life):
    the baseline of the Sebulba Atari curve (docs/podracer_results.md)."""
    factory = default_registry().get("env", f"atari-{game}").factory()
    env = factory.make(episodes, seed=seed)
    env.reset(seed)
    rng = np.random.default_rng(seed)
    total, done = np.zeros(episodes), np.zeros(episodes, bool)
    for _ in range(factory.spec.max_episode_steps + 1):
        ts = env.step(rng.integers(0, factory.spec.action.num_values, size=episodes))
        total += np.where(done, 0.0, ts.reward)
        done |= ts.last
        if done.all():
            break
    env.close()
    return float(total.mean()), float(total.std())
