"""Sebulba on many hosts, simulated on one machine: 2 processes under ``jax.distributed`` (127.0.0.1,
gloo), 2 CPU devices each (1 actor + 1 learner device), through the real CLI.

The 2-process run is compared with one process of 4 devices laid out the same way (actor devices 0
and 2, learner devices 1 and 3): the actor threads have the same global indices, so they collect the
same trajectories, and the learner mesh splits the same global batch over 2 devices. Every
checkpoint (one per update: parameters, optimiser, keys, the actors' carries) is then equal, so each
update on 2 processes equals the single-process update on the same batch. Each process checks at
every update that its copy of the parameters equals the others' (a checksum in the per-update
agreement; a run whose copies differ stops with an error), so a run that exits 0 had identical
learners after every update. SIGTERM to one process stops both at the same update and a resume
ends where the uninterrupted run ends; CartPole (stepped on the host by the actor threads) trains
until process 1 is killed, and process 0 then stops with one line. Every process has a time limit
and is killed in a ``finally``.
"""

from __future__ import annotations

import csv
import json
import re
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import orbax.checkpoint as ocp
import pytest

LIMIT_S = 240
STOP_LIMIT_S = 60  # a process whose peer was killed must have exited within this
UNTIMED = {"steps_per_s", "wall_s", "queue"}  # measured times and queue lengths, not results
# 2 processes x 2 actor threads x 4 envs x 8 steps: 128 env steps an update, one update a call, a checkpoint each.
TRAIN = ("train", "--arch", "sebulba", "--seed", "3", "-q", "-o", "agent.num_envs=16", "-o", "agent.unroll_length=8",
         "-o", "log_every_steps=128", "-o", "checkpoint_every_steps=128", "-o", "keep_checkpoints=10",
         "-o", "eval_episodes=8")
SAME_LAYOUT = ("-o", "backend.actor_devices=[0,2]", "-o", "backend.learner_devices=[1,3]")

# Catch whose actor thread SIGNAL_THREAD (a global index) signals its own process in its 4th trajectory
# (step 28) and stalls, so the learner is mid-call.
SIGNALLING = textwrap.dedent('''
    import os, signal, time
    from rlk.core.hookspecs import hookimpl
    from rlk.plugins.envs.catch import Catch
    from rlk.plugins.backends.jax_host import JaxHostEnvironment, JaxHostFactory

    class Signalling(JaxHostEnvironment):
        steps = 0

        def step(self, action):
            self.steps += 1
            if self.signals and self.steps == 28:
                os.kill(os.getpid(), getattr(signal, "SIG" + os.environ["SIGNAL"]))
                time.sleep(3)
            return super().step(action)

    class Factory(JaxHostFactory):
        def make(self, num_envs, seed):
            env = Signalling(self.env, num_envs, seed, self.device)
            env.signals = "SIGNAL" in os.environ and seed == 3000 + int(os.environ["SIGNAL_THREAD"])
            return env

    @hookimpl
    def rlk_register_envs(register):
        register("signalling-catch", lambda config=None: Factory(Catch()), description="signals its process")
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(devices: int, extra: Optional[dict] = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}", **(extra or {})}


def rlk(args, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rlk.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def two_processes(args_of: Callable[[int], tuple], env_of: Callable[[int], dict] = lambda i: {},
                  during: Callable[[list], None] = lambda procs: None) -> list[tuple[int, str]]:
    """Runs ``rlk`` as processes 0 and 1 of one run (``args_of(i)``, ``env_of(i)``: process i's); ``during``
    sees the processes while they run. Returns each process's exit code and stderr."""
    port, procs = free_port(), []
    try:
        for i in range(2):
            launch = ("--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i))
            procs.append(rlk((*args_of(i), *launch), environment(2, env_of(i))))
        during(procs)
        deadline = time.monotonic() + LIMIT_S
        errs = [p.communicate(timeout=max(1.0, deadline - time.monotonic()))[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return [(p.returncode, err) for p, err in zip(procs, errs)]


def rows(run: Path) -> list[dict[str, str]]:
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k not in UNTIMED} for r in csv.DictReader(f)]


def checkpoint(run: Path, step: int) -> dict[str, np.ndarray]:
    """A checkpoint's state leaves, read as saved."""
    return ocp.StandardCheckpointer().restore(run / "checkpoints" / str(step) / "default")["state"]


def plugin_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    (site / "signalling_env-0.1.dist-info").mkdir(parents=True)
    (site / "signalling_env-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: signalling-env\nVersion: 0.1\n")
    (site / "signalling_env-0.1.dist-info" / "entry_points.txt").write_text("[rlk]\nsignalling = signalling_env\n")
    (site / "signalling_env.py").write_text(SIGNALLING)
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """8 updates of Catch on 2 processes (process 1 pointed at its own folder) and on 1 process, same layout."""
    tmp = tmp_path_factory.mktemp("sebulba-mp")
    args = (*TRAIN, "--env", "signalling-catch", "--steps", "1024")
    env = plugin_env(tmp)
    one = rlk((*args, *SAME_LAYOUT, "--run-dir", str(tmp / "one")), environment(4, env))
    try:
        outs = two_processes(lambda i: (*args, "--run-dir", str(tmp / f"p{i}")), lambda i: env)
        err = one.communicate(timeout=LIMIT_S)[1]
    finally:
        if one.poll() is None:
            one.kill()
            one.communicate()
    for i, (code, e) in enumerate(outs):
        assert code == 0, f"process {i} failed ({code}):\n{e[-3000:]}"
    assert one.returncode == 0, err[-3000:]
    return tmp, env


def test_every_update_on_two_processes_equals_one_process(runs):
    tmp, _ = runs
    two, one = tmp / "p0", tmp / "one"
    assert not (tmp / "p1").exists()  # process 1 wrote nothing, not even its run folder
    steps = sorted(int(p.name) for p in (two / "checkpoints").iterdir() if p.name.isdigit())
    assert steps == [128 * (i + 1) for i in range(8)]
    for step in steps:  # after every update: parameters, optimiser state, keys and every actor's carry
        a, b = checkpoint(two, step), checkpoint(one, step)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_allclose(np.asarray(a[k], np.float64), np.asarray(b[k], np.float64),
                                       rtol=1e-6, atol=1e-7, err_msg=f"step {step}, leaf {k}")
    m, o = rows(two), rows(one)
    assert len(m) == 8 and [r["episodes"] for r in m] == [r["episodes"] for r in o]  # both processes' episodes
    for a, b in zip(m, o):
        np.testing.assert_allclose([float(v) for v in a.values()], [float(v) for v in b.values()], rtol=1e-6)
    summary = json.loads((two / "summary.json").read_text())
    assert summary["devices"] == 4 and summary["env_steps"] == 1024
    assert summary["final_return"] == json.loads((one / "summary.json").read_text())["final_return"]


def test_sigterm_to_one_process_stops_both_and_resume_is_exact(runs, tmp_path):
    """SIGTERM reaches process 1 only: its actor thread 2 sends it in its trajectory 3 and holds that
    trajectory back for 3 s, so the learner has made 2 or 3 of the first call's 4 updates. Both processes
    stop at the same update with a checkpoint, the rest of the call owed; resuming both ends in the
    uninterrupted run's state (the checkpoint of the last update) and final return."""
    tmp, env = runs
    run = tmp_path / "run"
    args = (*TRAIN, "--env", "signalling-catch", "--steps", "1024", "--run-dir", str(run),
            "-o", "log_every_steps=512", "-o", "checkpoint_every_steps=512")
    outs = two_processes(lambda i: args, lambda i: {**env, **({"SIGNAL": "TERM", "SIGNAL_THREAD": "2"} if i else {})})
    for i, (code, err) in enumerate(outs):
        assert code == 128 + signal.SIGTERM and "Traceback" not in err, (i, code, err[-3000:])
    stopped = [err.strip().splitlines()[-1] for _, err in outs]
    assert stopped[0] == stopped[1] and stopped[0].startswith("SIGTERM: stopped at 512 env steps"), stopped
    assert len(rows(run)) == 1 and not (run / "summary.json").exists()
    outs = two_processes(lambda i: ("train", "--resume", str(run), "-q"), lambda i: env)
    assert [code for code, _ in outs] == [0, 0], outs
    a, b = checkpoint(run, 1024), checkpoint(tmp / "p0", 1024)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    want, got = (json.loads((d / "summary.json").read_text()) for d in (tmp / "p0", run))
    assert got["resumed"] and got["final_return"] == want["final_return"] and len(rows(run)) == 2


def test_cartpole_trains_on_two_processes_until_one_is_killed_and_the_other_stops_with_one_line(tmp_path):
    """CartPole stepped on the host by each process's actor threads trains (rows, a checkpoint); then
    process 1 is SIGKILLed: process 0 exits within STOP_LIMIT_S, non-zero, its last line saying why
    (no traceback), and its run folder keeps its checkpoint. (One launch for both checks: CI time.)"""
    run = tmp_path / "run"
    args = (*TRAIN, "--env", "CartPole-v1", "--steps", "100000000", "--run-dir", str(run),
            "-o", "log_every_steps=1024", "-o", "checkpoint_every_steps=1024")  # 8 updates a call
    killed_at = []

    def kill_process_1(procs):
        deadline = time.monotonic() + LIMIT_S
        while not (run / "checkpoints" / "2048").exists() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.2)
        procs[1].kill()
        killed_at.append(time.monotonic())
        procs[0].wait(timeout=STOP_LIMIT_S)

    (code, err), _ = two_processes(lambda i: args, during=kill_process_1)
    assert time.monotonic() - killed_at[0] < STOP_LIMIT_S + 5
    lines = [l for l in err.splitlines() if l.strip()]
    assert code == 1 and "Traceback" not in err, err[-3000:]
    # the kill lands in Sebulba's update loop ("sebulba: ...") or in the run loop's once-per-call collectives ("run: ...")
    assert re.match(r"error: (sebulba|run): lost another process of this run", lines[-1]) and "--resume" in lines[-1], lines[-1]
    trained = rows(run)
    assert len(trained) >= 2 and [r["env_steps"] for r in trained[:2]] == ["1024", "2048"]
    assert sum(int(r["episodes"]) for r in trained) > 0  # CartPole episodes ended, counted over both processes
    assert json.loads((run / "config.json").read_text())["env"]["name"] == "CartPole-v1"
    assert (run / "checkpoints" / "2048").is_dir()


def test_the_per_update_verdict_catches_differing_parameters_a_failure_and_a_stop():
    """What every process concludes from the records exchanged before an update (no processes needed)."""
    import jax
    import jax.numpy as jnp

    from rlk.plugins.backends.sebulba_hosts import params_checksum, record, verdict

    params = {"w": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.zeros(4, jnp.bfloat16)}
    nudged = {**params, "w": params["w"].at[1, 2].set(jnp.nextafter(params["w"][1, 2], 2.0))}  # one ulp
    same, other = int(params_checksum(params)), int(params_checksum(nudged))
    assert same != other and same == int(params_checksum(jax.tree.map(jnp.copy, params)))

    go = verdict(np.stack([record(False, None, same, (1.5, 2.0)), record(False, None, same, (-0.5, 1.0))]), 7)
    assert go == (False, None, (1.0, 3.0))
    drift = verdict(np.stack([record(False, None, same), record(False, None, other)]), 7)
    assert not drift.stop and "parameters differ across processes after update 7" in drift.failure
    failed = verdict(np.stack([record(True, None, same), record(False, "actor thread 3: RuntimeError: fire", same)]), 7)
    assert failed.failure == "process 1: actor thread 3: RuntimeError: fire"
    assert verdict(np.stack([record(False, None, None), record(True, None, None)]), 0).stop
    assert verdict(record(False, "x" * 2000, None)[None], 0).failure.startswith("process 0: xxx")  # cut to fit

