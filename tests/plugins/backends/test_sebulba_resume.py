"""Sebulba resumes exactly: a run stopped by SIGTERM (mid-call) or SIGKILL and resumed writes the rows
and summary of the uninterrupted run, through the real CLI."""

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

# Catch as a host environment whose actor thread 0 signals its own process in the middle of its
# trajectory 10 and then stalls: with arch.staleness 1 the learner has made 9 or 10 updates (it acts
# with version 9 and holds trajectory 10 back), inside the third call of 4 updates, so SIGTERM always
# cuts that call short. SIGKILL comes in trajectory 22, in the sixth call: the run loop writes a call's
# row and checkpoint once the next call has returned (Sebulba's calls block), so checkpoint 3 or 4 is there.
SIGNALLING = textwrap.dedent('''
    import os, signal, time
    from rlk.core.hookspecs import hookimpl
    from rlk.plugins.envs.catch import Catch
    from rlk.plugins.backends.jax_host import JaxHostEnvironment, JaxHostFactory

    class Signalling(JaxHostEnvironment):
        steps = 0

        def step(self, action):
            self.steps += 1
            if self.thread0 and self.steps == int(os.environ.get("SIGNAL_AT_STEP", "0")):
                os.kill(os.getpid(), getattr(signal, "SIG" + os.environ["SIGNAL"]))
                time.sleep(3)
            return super().step(action)

    class Factory(JaxHostFactory):
        def make(self, num_envs, seed):
            env = Signalling(self.env, num_envs, seed, self.device)
            env.thread0 = seed == 0  # actor thread 0 of seed 0 (evaluation uses another seed)
            return env

    @hookimpl
    def rlk_register_envs(register):
        register("signalling-catch", lambda config=None: Factory(Catch()), description="signals its process")
''')

# 2 actor threads x 8 envs x 8 steps = 128 env steps an update, 4 updates a call, 6 calls, a checkpoint each call.
TRAIN = ("train", "--env", "signalling-catch", "--arch", "sebulba", "--steps", "3072", "-q",
         "-o", "agent.num_envs=16", "-o", "agent.unroll_length=8", "-o", "log_every_steps=512",
         "-o", "checkpoint_every_steps=512", "-o", "eval_episodes=8")
TIMING = {"steps_per_s", "wall_s", "queue"}  # measured times and queue lengths, not results


def rlk(args, env):
    full = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    full.update({"JAX_PLATFORMS": "cpu", **env})
    return subprocess.Popen([sys.executable, "-m", "rlk.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full)


def rows(run):
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def final_return(run):
    return json.loads((run / "summary.json").read_text())["final_return"]


def test_sigterm_and_sigkill_resume_equal_uninterrupted(tmp_path):
    site = tmp_path / "site"
    (site / "signalling_env-0.1.dist-info").mkdir(parents=True)
    (site / "signalling_env-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: signalling-env\nVersion: 0.1\n")
    (site / "signalling_env-0.1.dist-info" / "entry_points.txt").write_text("[rlk]\nsignalling = signalling_env\n")
    (site / "signalling_env.py").write_text(SIGNALLING)
    path = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    full, term, kill = tmp_path / "full", tmp_path / "term", tmp_path / "kill"
    procs = {run: rlk((*TRAIN, "--run-dir", str(run)), {**path, **extra}) for run, extra in [
        (full, {}), (term, {"SIGNAL": "TERM", "SIGNAL_AT_STEP": "84"}), (kill, {"SIGNAL": "KILL", "SIGNAL_AT_STEP": "180"})]}
    out = {run: (p.communicate(timeout=300), p.returncode) for run, p in procs.items()}
    assert out[full][1] == 0, out[full]
    (_, err), code = out[term]
    assert code == 128 + signal.SIGTERM and "SIGTERM: stopped at" in err and "Traceback" not in err, (code, err)
    assert out[kill][1] == -signal.SIGKILL, out[kill]
    assert not (term / "summary.json").exists() and not (kill / "summary.json").exists()

    cut = len(rows(term))  # the interrupted call's row averages the updates it made, fewer than 4
    assert cut == 3 and rows(term)[:2] == rows(full)[:2] and rows(term)[2] != rows(full)[2]

    resumed = [rlk(("train", "--resume", str(run), "-q"), path) for run in (term, kill)]
    for p in resumed:
        assert p.wait(timeout=300) == 0, p.communicate()
    want = rows(full)
    assert len(want) == 6 and rows(kill) == want
    got = rows(term)  # the resumed run first makes the updates the cut call owes, unlogged
    assert got[cut:] == want[cut:] and len(got) == 6
    assert final_return(term) == final_return(kill) == final_return(full)
    assert np.isfinite(final_return(full))
