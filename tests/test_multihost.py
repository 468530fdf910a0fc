"""Many hosts, simulated on one machine: 2 processes under ``jax.distributed`` (127.0.0.1, CPU
collectives through gloo), 2 host devices each, train Anakin PPO on Catch over the 4-device global
mesh and compute what one process with 4 devices computes. Only process 0 writes.

What is compared, honestly: the two runs compile the same SPMD program over 4 devices, but the
gradient all-reduce runs in a different implementation (gloo across processes, XLA's in-process
one otherwise), so sums are reassociated and differ in the last bits. The first metric row (9
updates) agrees to float tolerance; after that sampled actions amplify those bits and the rows
drift apart (as in ``test_num_seeds_matches_single_seed_runs``), so later rows are checked for
their shape (the same steps, the same episode counts) and for learning, not for equality. Resuming
a 2-process run from its own checkpoint reproduces its rows exactly.

Every process has a time limit and is killed in a ``finally``: a hung collective fails the test.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TIMING = {"steps_per_s", "wall_s"}
LIMIT_S = 240


def rows(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_env(devices: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


def rlk(*args: str) -> list[str]:
    return [sys.executable, "-m", "rlk.cli", *args]


def two_processes(args_of) -> list[str]:
    """Runs ``rlk`` as processes 0 and 1 of one distributed run; ``args_of(i)``: process i's args."""
    port = free_port()
    procs = []
    try:
        for i in range(2):
            launch = ("--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i))
            procs.append(subprocess.Popen(rlk(*args_of(i), *launch),
                                          env=cpu_env(2), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        deadline = time.monotonic() + LIMIT_S
        outs = [p.communicate(timeout=max(1.0, deadline - time.monotonic()))[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, out) in enumerate(zip(procs, outs)):
        assert p.returncode == 0, f"process {i} failed ({p.returncode}):\n{out[-4000:]}"
    return outs


def one_process(*args: str) -> str:
    proc = subprocess.run(rlk(*args), env=cpu_env(4), capture_output=True, text=True, timeout=LIMIT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def assert_row_close(a: dict[str, str], b: dict[str, str]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(float(a[k]), float(b[k]), rtol=1e-5, atol=1e-6, err_msg=k)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 2-process run (process 1 pointed at its own folder) and a 1-process run, same seed."""
    tmp = tmp_path_factory.mktemp("multihost")
    common = ("train", "--seed", "2", "--steps", "30000", "-q")
    # a process whose peer never comes fails after 60 s (saved in config.json: resumes keep it)
    two_processes(lambda i: (*common, "--run-dir", str(tmp / f"p{i}"), "-o", "backend.init_timeout_s=60",
                             "-o", "checkpoint_every_steps=18432"))  # checkpoints at calls 2 and 4
    one_process(*common, "--run-dir", str(tmp / "one"), "-o", "checkpoint_every_steps=18432")
    return tmp


def test_two_processes_compute_what_one_process_computes(runs):
    multi, one = runs / "p0", runs / "one"
    assert not (runs / "p1").exists()  # process 1 wrote nothing, not even its run folder
    for s in (summary(multi), summary(one)):
        assert s["devices"] == 4
        assert s["final_return"] >= 0.9
    m, o = rows(multi), rows(one)
    assert len(m) == len(o) >= 3
    assert_row_close(m[0], o[0])
    assert [(r["step"], r["env_steps"], r["episodes"]) for r in m] == [(r["step"], r["env_steps"], r["episodes"]) for r in o]
    assert float(m[-1]["episode_return"]) > 0.5 and float(o[-1]["episode_return"]) > 0.5
    # written once: one header and one line per row, one TensorBoard file, no launch options saved
    assert len((multi / "metrics.csv").read_text().splitlines()) == len(m) + 1
    assert len((multi / "metrics.jsonl").read_text().splitlines()) == len(m)
    assert len(list((multi / "tb").glob("events.*"))) == 1
    backend = json.loads((multi / "config.json").read_text())["backend"]
    assert not {"coordinator", "num_processes", "process_id"} & set(backend)


@pytest.mark.slow
def test_resume_on_two_processes_reproduces_the_run(runs, tmp_path):
    """Both processes restore process 0's checkpoint of call 2 (env step 18432, saved mid-run by the collective
    save) into their shards and recompute calls 3-4: the rows are the uninterrupted run's, exactly
    (the gloo all-reduce is deterministic from run to run). Process 1 resumes from a copy of the
    folder, as from a shared file system, and must leave it as it found it."""
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    for d in (shared, mine):
        shutil.copytree(runs / "p0", d)
        assert sorted(p.name for p in (d / "checkpoints").iterdir() if p.name.isdigit()) == ["18432", "36864"]
        shutil.rmtree(d / "checkpoints" / "36864")
        (d / "summary.json").unlink()
    before = {p.relative_to(mine): p.read_bytes() for p in mine.rglob("*") if p.is_file()}
    two_processes(lambda i: ("train", "--resume", str(shared if i == 0 else mine), "-q"))
    after = {p.relative_to(mine): p.read_bytes() for p in mine.rglob("*") if p.is_file()}
    assert after == before  # process 1 read the checkpoint and wrote nothing
    assert rows(shared) == rows(runs / "p0")
    s = summary(shared)
    assert s["resumed"] and s["devices"] == 4 and s["final_return"] == summary(runs / "p0")["final_return"]


def test_launch_options_are_checked_before_anything_starts(cli):
    proc = cli("train", "--num-processes", "2", "--process-id", "2", check=False)
    assert proc.returncode == 2 and "process_id=2 must be below num_processes=2" in proc.stderr
    assert "Traceback" not in proc.stderr
    from rlk.plugins.backends.platforms import PlatformConfig

    for bad in (dict(coordinator="no-port"), dict(distributed="off", process_id=0), dict(num_processes=0)):
        with pytest.raises(ValueError):
            PlatformConfig(**bad)


@pytest.mark.parametrize("env, many", [
    ({}, False),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_STEP_NUM_TASKS": "2"}, True),
    ({"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n1", "SLURM_STEP_NUM_TASKS": "1"}, False),
    ({"SLURM_JOB_ID": "7", "SLURM_NTASKS": "4"}, False),  # the batch script itself, outside srun
    ({"OMPI_COMM_WORLD_SIZE": "4"}, True),
    ({"TPU_WORKER_HOSTNAMES": "w0,w1"}, True),
    ({"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}, True),
])
def test_auto_detects_multi_process_launchers(monkeypatch, env, many):
    from rlk.plugins.backends import platforms

    for k in ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS",
              "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES", "MEGASCALE_COORDINATOR_ADDRESS", "JAX_COORDINATOR_ADDRESS"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert platforms._launcher_started_many() is many
