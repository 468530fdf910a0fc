"""rlk export / rlk.load_policy / rlk eval --video, through the real CLI and a fresh Python process."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

# A fresh process: load the exported policy, play rlk eval's greedy episodes of seed 0 on Catch (its keys:
# fold_in(PRNGKey(12345), 0) split into reset and loop keys), and act on every board given on stdin.
FRESH = r"""
import json, sys
import jax, numpy as np
import rlk
from rlk.plugins.envs.catch import Catch

policy = rlk.load_policy(sys.argv[1])
episodes = int(sys.argv[2])
env = Catch()
reset_key, key = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(12345), 0))
state, ts = jax.vmap(env.reset)(jax.random.split(reset_key, episodes))
total, done = np.zeros(episodes), np.zeros(episodes, bool)
for _ in range(env.spec.max_episode_steps + 1):
    key, _, env_key = jax.random.split(key, 3)
    state, ts = jax.vmap(env.step)(state, policy.act(np.asarray(ts.observation)), jax.random.split(env_key, episodes))
    total += np.where(done, 0.0, np.asarray(ts.reward))
    done |= np.asarray(ts.last)
boards = np.asarray(json.loads(sys.stdin.read()), np.float32)
print(json.dumps({"returns": total.tolist(), "actions": policy.act(boards).tolist(),
                  "one": int(policy.act(boards[0])), "registry": "rlk.core.registry" in sys.modules}))
"""


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    run_cli("train", "--steps", "20000", "-q", "--run-dir", str(root / "run"))
    run_cli("export", str(root / "run"), "--out", str(root / "policy"))
    return root / "run", root / "policy"


def catch_boards(rows: int = 10, columns: int = 5) -> np.ndarray:
    """Every board Catch shows before its last step: ball at (y, x) above the bottom row, paddle at p."""
    boards = []
    for y in range(rows - 1):
        for x in range(columns):
            for p in range(columns):
                b = np.zeros((rows, columns), np.float32)
                b[y, x] = b[rows - 1, p] = 1.0
                boards.append(b)
    return np.stack(boards)


def test_exported_policy_loads_without_the_registry_and_acts_as_the_run(ppo_run):
    run_dir, policy_dir = ppo_run
    assert set(os.listdir(policy_dir)) == {"policy.json", "params.npz"}
    with np.load(policy_dir / "params.npz") as params:
        assert "actor/layers/0/weight" in params.files and params["actor/layers/0/weight"].shape == (50, 64)
    boards = catch_boards()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", FRESH, str(policy_dir), "100"], input=json.dumps(boards.tolist()),
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads(proc.stdout)
    assert fresh["registry"] is False  # loaded and acted without rlk's plugin registry

    # the run's own greedy return, as `rlk eval` measures it (100 episodes of seed 0)
    evaluated = json.loads(run_cli("eval", str(run_dir), "--episodes", "100", "--json").stdout)
    returns = np.asarray(fresh["returns"])
    assert returns.mean() == pytest.approx(evaluated["mean_return"], abs=1e-6)
    assert returns.std() == pytest.approx(evaluated["std_return"], abs=1e-6)

    # the run's greedy actions (its agent's eval_act on its restored parameters) on every Catch board
    import jax
    import jax.numpy as jnp

    from rlk.core.run import restored_run
    from rlk.core.types import TimeStep

    _, program, state = restored_run(run_dir)
    params = jax.tree.map(lambda x: x[0], jax.device_get(state.learner.params))
    zeros = jnp.zeros(len(boards))
    expected, _, _ = program.agent.eval_act(params, (), TimeStep(jnp.asarray(boards), zeros, zeros, zeros > 0),
                                            jax.random.PRNGKey(0))
    assert fresh["actions"] == np.asarray(expected).tolist()
    assert fresh["one"] == fresh["actions"][0]  # an unbatched observation gives one action


def test_video_of_one_catch_episode(ppo_run, tmp_path):
    run_dir, _ = ppo_run
    rows = json.loads((run_dir / "config.json").read_text())["env"]["rows"]
    out = tmp_path / "catch.gif"
    proc = run_cli("eval", str(run_dir), "--video", str(out))
    assert f"({rows} frames" in proc.stdout
    with Image.open(out) as gif:
        assert gif.n_frames == rows  # the first board, then one per step until the ball reaches the bottom row
        gif.seek(0)
        frame = np.asarray(gif.convert("RGB"))
    assert frame.shape[0] == 2 * frame.shape[1] >= 100  # the 10x5 board, upscaled
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) == 3  # background, ball, paddle


def _one_line_error(proc, culprit):
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert culprit in proc.stderr, proc.stderr
    assert len([l for l in proc.stderr.splitlines() if l.strip()]) == 1, proc.stderr


def test_video_refusals(ppo_run, tmp_path):
    run_dir, _ = ppo_run
    if importlib.util.find_spec("imageio_ffmpeg") is None:  # not in the lock: mp4 is refused, pointing to .gif
        _one_line_error(run_cli("eval", str(run_dir), "--video", str(tmp_path / "x.mp4"), check=False), "use a .gif")
    _one_line_error(run_cli("eval", str(run_dir), "--video", str(tmp_path / "x.avi"), check=False), ".gif, .mp4")
    assert not (tmp_path / "x.mp4").exists()


def test_export_refuses_an_agent_without_a_policy_network(tmp_path):
    run = tmp_path / "muesli-run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"agent": {"name": "muesli"}, "env": {"name": "catch"}}))
    proc = run_cli("export", str(run), "--out", str(tmp_path / "policy"), check=False)
    _one_line_error(proc, "agent 'muesli' has no exportable policy network")
    assert "ppo, vtrace" in proc.stderr
    assert not (tmp_path / "policy").exists()


def test_load_policy_errors_are_one_line(tmp_path):
    _one_line_error(subprocess.run([sys.executable, "-m", "rlk.cli", "export", str(tmp_path / "missing"), "--out",
                                    str(tmp_path / "p")], capture_output=True, text=True, timeout=120), "missing")
    import rlk
    from rlk.core.errors import RlkError

    with pytest.raises(RlkError, match="holds no policy.json"):
        rlk.load_policy(tmp_path)
