"""Sebulba: the asynchronous regime learns Catch; a failing actor stops the run cleanly with a checkpoint."""

import json
import os
import signal
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
    from rlk.plugins.backends.jax_host import JaxHostEnvironment, JaxHostFactory

    class Exploding(JaxHostEnvironment):
        calls = 0

        def step(self, action):
            Exploding.calls += 1
            if Exploding.calls == 1 and os.environ.get("STARTED_FILE"):
                open(os.environ["STARTED_FILE"], "w").close()  # the actors are stepping
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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_chunk_stops_within_seconds_with_checkpoint(tmp_path, plugin_path, signum):
    """One call of the run loop (log_every_steps) is 50M env steps here, hours; a signal ends it after
    the update in progress, the checkpoint is saved and the run exits as interrupted (well inside the
    communicate timeout, which a run that finished its call first would hit)."""
    run, started = tmp_path / "run", tmp_path / "started"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env.update({"JAX_PLATFORMS": "cpu", "PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")]),
                "EXPLODE_AFTER": "1000000000", "STARTED_FILE": str(started)})
    proc = subprocess.Popen([sys.executable, "-m", "rlk.cli", "train", "--env", "exploding-catch", "--steps", "100000000",
                             "-q", "--run-dir", str(run), "-o", "log_every_steps=50000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        while not started.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert started.exists(), proc.communicate(timeout=30)
        time.sleep(3)  # the learner is mid-chunk
        assert proc.poll() is None
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, (proc.returncode, out, err)
    assert "Traceback" not in err and f"{signal.Signals(signum).name}: stopped at" in err, err
    assert any(p.name.isdigit() for p in (run / "checkpoints").iterdir())
    rows = (run / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2  # the interrupted call's row


@pytest.mark.slow
def test_sebulba_async_regime_solves_catch(cli, tmp_path):
    cli("train", "--arch", "sebulba", "--steps", "150000", "-q", "--run-dir", str(tmp_path / "run"))
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["arch"] == "sebulba" and s["final_return"] >= 0.9
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"queue", "staleness"} <= set(header)
