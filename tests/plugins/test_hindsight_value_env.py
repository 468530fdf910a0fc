"""``himo-reveal`` (HiMo's RL task): the episode as the module docstring defines it, against NumPy, and the
HiMo options met through the CLI."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from rlk.plugins.hindsight_value.config import DelayedRevealConfig
from rlk.plugins.hindsight_value.envs import DelayedReveal, door_tables


def test_door_value_shows_at_the_last_step_and_is_paid_with_the_cue():
    c = DelayedRevealConfig(length=4)
    env = DelayedReveal(c)
    w, b = door_tables(c)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    D, A, F = c.context_dims, c.doors, c.feature_dims
    for seed, door in ((0, 0), (1, 2), (2, 1)):
        state, ts = reset(jax.random.key(seed))
        x = np.asarray(ts.observation[:D])
        y = (x @ w[door] + b[door] > 0).astype(np.float32)  # door's room features, by NumPy
        seen = []
        for t in range(c.length):
            obs = np.asarray(ts.observation)
            assert not ts.last and obs[D + A + F + 1 + t] == 1.0
            np.testing.assert_allclose(obs[:D], x)
            seen.append(obs[D + A: D + A + F + 1].copy())
            state, ts = step(state, jnp.int32(door if t == 0 else (t + seed) % A), jax.random.key(t))
            if t == 0:
                assert np.asarray(ts.observation)[D + door] == 1.0  # the door, once chosen
        assert ts.last and ts.discount == 0.0
        assert not np.any(seen[: c.length - 1]), "y and the cue stay hidden until the last step"
        np.testing.assert_allclose(seen[-1][:F], y)
        cue = seen[-1][F]
        np.testing.assert_allclose(float(ts.reward), x.sum() * y.sum() / np.sqrt(D) + cue, rtol=1e-5, atol=1e-5)


def test_a_wrong_phi_input_is_one_line_naming_it(cli, tmp_path):
    proc = cli("train", "--agent", "ppo", "--env", "himo-reveal", "-o", "agent.loss_weights.himo=1",
               "-o", "losses.himo.phi_input=frames", "--run-dir", str(tmp_path / "run"), check=False, timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode != 0 and "Traceback" not in proc.stdout + proc.stderr
    assert len(lines) == 1 and "losses.himo.phi_input" in lines[0] and "trajectory" in lines[0], lines
    assert not (tmp_path / "run" / "metrics.csv").exists()
