"""Sebulba: the asynchronous regime learns Catch; a failing actor stops the run cleanly with a checkpoint."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

EXPLODING = textwrap.dedent('''
    """A test plugin: Catch as a host environment that raises after a number of steps."""
    import os
    from rlk.core.hookspecs import hookimpl
    from rlk.plugins.envs.catch import Catch
    from rlk.plugins.envs.jax_host import JaxHostEnvironment, JaxHostFactory

    class Exploding(JaxHostEnvironment):
        calls = 0

        def step(self, action):
            Exploding.calls += 1
            if Exploding.calls > int(os.environ.get("EXPLODE_AFTER", "200")):
                if os.environ.get("EXPLODE_MODE") == "nan":
                    ts = super().step(action)
                    return ts._replace(reward=ts.reward * float("nan"))
                raise RuntimeError("the emulator caught fire")
            return super().step(action)

    class Factory(JaxHostFactory):
        def make(self, num_envs, seed):
            return Exploding(self.env, num_envs, seed, self.device)

    @hookimpl
    def rlk_register_envs(register):
        register("exploding-catch", lambda config=None: Factory(Catch()), description="raises in step")
''')


@pytest.fixture
def plugin_path(tmp_path):
    site = tmp_path / "site"
    (site / "exploding_env-0.1.dist-info").mkdir(parents=True)
    (site / "exploding_env-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: exploding-env\nVersion: 0.1\n")
    (site / "exploding_env-0.1.dist-info" / "entry_points.txt").write_text("[rlk]\nexploding = exploding_env\n")
    (site / "exploding_env.py").write_text(EXPLODING)
    return site


def test_actor_failure_stops_run_with_checkpoint(cli, tmp_path, plugin_path):
    run = tmp_path / "run"
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")]), "EXPLODE_AFTER": "1500"}
    t0 = time.time()
    proc = cli("train", "--env", "exploding-catch", "--steps", "1000000", "-q", "--run-dir", str(run),
               "-o", "checkpoint_every_steps=1000000", env=env, check=False, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text
    assert "Traceback" not in text, text
    assert "the emulator caught fire" in proc.stderr and "actor thread" in proc.stderr, text
    assert len([l for l in proc.stderr.splitlines() if l.strip()]) == 1, proc.stderr
    assert any(p.name.isdigit() for p in (run / "checkpoints").iterdir())  # the learner's state was saved
    assert json.loads((run / "config.json").read_text())["arch"]["name"] == "sebulba"
    assert time.time() - t0 < 120


def test_nan_loss_stops_run_and_keeps_last_good_checkpoint(cli, tmp_path, plugin_path):
    run = tmp_path / "run"
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")]),
           "EXPLODE_AFTER": "2000", "EXPLODE_MODE": "nan"}
    proc = cli("train", "--env", "exploding-catch", "--steps", "1000000", "-q", "--run-dir", str(run),
               "-o", "checkpoint_every_steps=9000", env=env, check=False, timeout=300)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "loss is not finite at step" in proc.stderr and "last good checkpoint" in proc.stderr, proc.stderr
    kept = sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())
    assert kept, "a checkpoint from before the NaN is kept"
    resumed = cli("eval", str(run), "--episodes", "5", "--json", env={**env, "EXPLODE_AFTER": "1000000000"})
    assert json.loads(resumed.stdout)["mean_return"] == json.loads(resumed.stdout)["mean_return"]


@pytest.mark.slow
def test_sebulba_async_regime_solves_catch(cli, tmp_path):
    cli("train", "--arch", "sebulba", "--steps", "150000", "-q", "--run-dir", str(tmp_path / "run"))
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["arch"] == "sebulba" and s["final_return"] >= 0.9
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"queue", "staleness"} <= set(header)
