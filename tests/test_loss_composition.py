"""Losses from one plugin composed onto another plugin's agent through the CLI (issue 26, item 2).

HiMo's loss (``hindsight_value``: its own heads, the future observation prepared from the trajectory, v_m
as the critic) on the actor-critic baselines PPO and V-trace, each learning Catch over seeds, compared with
a random policy measured in the same test; and the one-line error for a loss an agent cannot feed.
"""

from __future__ import annotations

import json
import statistics

import pytest

from rlk import bench


@pytest.mark.slow
# PPO with HiMo solved Catch on seeds 0-4 at 40k steps already (5 x 1.0), V-trace not (0.48 median): 60k and 100k
@pytest.mark.parametrize("agent, steps", [("ppo", 60_000), ("vtrace", 100_000)])
def test_himo_loss_on_an_actor_critic_agent_learns_catch(cli, tmp_path, agent, steps):
    run = tmp_path / "run"
    cli("train", "--agent", agent, "-o", "agent.loss_weights.himo=1", "-o", "losses.himo.phi_size=2", "-o", "losses.himo.horizon=2",
        "--num-seeds", "3", "--steps", str(steps), "-o", "eval_episodes=50", "-q", "--run-dir", str(run))
    random = bench.random_policy_return("catch", num_envs=64, length=3000)
    per_seed = json.loads((run / "summary.json").read_text())["final_return_per_seed"]
    assert min(per_seed) > random + 0.5 and statistics.median(per_seed) >= 0.8, (per_seed, random)
    saved = json.loads((run / "config.json").read_text())
    assert saved["agent"]["loss_weights"]["himo"] == 1.0 and saved["losses"]["himo"]["phi_size"] == 2
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"himo", "himo/hindsight_value", "himo/model", "himo/phi_norm"} <= set(header)


def test_a_loss_the_agent_cannot_feed_is_one_line_before_compiling(cli, tmp_path):
    run = tmp_path / "run"
    proc = cli("train", "--agent", "vtrace", "-o", "agent.loss_weights.ppo_value=0.5", "--run-dir", str(run), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines == ["error: loss 'ppo_value' needs ClippedValueInputs, which agent 'vtrace' does not produce "
                     "(it produces PolicyInputs, StateInputs, ValueInputs)"], lines
    assert not run.exists()  # nothing was built or written
