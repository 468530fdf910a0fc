"""``rlk sweep --launcher``: the grid goes out as jobs, each an ordinary ``rlk train`` in its own run folder,
through submitit (its local executor runs the SLURM code path here) and through a local Ray instance; the
table equals each run's summary, finished runs are read back, a failed job is named in one line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

TINY = ("--steps", "4096", "--num-seeds", "2", "-q")  # test_sweep.py's runs: the suite's compilation cache has them


def check_table(out: Path, runs: dict[tuple[str, int], str]) -> None:
    """sweep.csv holds one row per (value, seed) of ``runs`` (-> its run folder), equal to that run's summary."""
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [(r["value"], int(r["seed"])) for r in rows] == list(runs)
    for r in rows:
        run = out / runs[(r["value"], int(r["seed"]))]
        summary = json.loads((run / "summary.json").read_text())
        assert r["run_dir"] == str(run)
        assert float(r["final_return"]) == summary["final_return_per_seed"][summary["seeds"].index(int(r["seed"]))]
        assert int(r["env_steps"]) == summary["env_steps"]
        assert json.loads((run / "config.json").read_text())["agent"]["learning_rate"] == float(r["value"])


def test_slurm_launcher_names_a_failed_job_then_resumes(cli, tmp_path):
    out = tmp_path / "sweep"
    blocked = out / "agent.learning_rate=3e-3"
    blocked.mkdir(parents=True)
    (blocked / "notes.txt").write_text("not a run")  # a new run refuses a folder holding foreign files
    args = ("sweep", "agent.learning_rate=1e-5,3e-3", *TINY, "--out", str(out),
            "--launcher", "slurm", "-o", "launcher.cluster=local", "-o", "launcher.timeout_min=10")
    proc = cli(*args, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: sweep: 1 of 2 job(s) failed: agent.learning_rate=3e-3 (exit 2: ") and "notes.txt" in line
    check_table(out, {("1e-5", 0): "agent.learning_rate=1e-5", ("1e-5", 1): "agent.learning_rate=1e-5"})
    assert list((out / "jobs" / "submitit").glob("*_log.out"))  # submitit ran the jobs

    (blocked / "notes.txt").unlink()
    done = out / "agent.learning_rate=1e-5" / "summary.json"
    stamp = done.stat().st_mtime_ns
    proc = cli(*args)  # the finished run is read back, the failed one goes out again
    assert done.stat().st_mtime_ns == stamp
    check_table(out, {(v, s): f"agent.learning_rate={v}" for v in ("1e-5", "3e-3") for s in (0, 1)})
    assert "| 3e-3 | " in proc.stdout


def test_ray_launcher_sends_each_seed_as_a_job(cli, tmp_path):
    out = tmp_path / "sweep"
    # one value, two seeds: the value grid going out as jobs is the SLURM test's; here each seed is a job
    cli("sweep", "agent.learning_rate=1e-5", *TINY, "--out", str(out), "--seeds-per-job", "1",
        "--launcher", "ray", "-o", "launcher.local_cpus=2", "-o", "launcher.num_cpus=2")  # one at a time: seed 1 hits seed 0's compiles
    runs = {("1e-5", s): f"agent.learning_rate=1e-5/seed={s}" for s in (0, 1)}
    check_table(out, runs)
    for name in runs.values():
        assert json.loads((out / name / "summary.json").read_text())["seeds"] == [int(name[-1])]


def test_launchers_are_listed_and_their_mistakes_are_one_line(cli, tmp_path):
    rows = json.loads(cli("list-plugins", "--json").stdout)
    assert {r["name"]: r["status"] for r in rows if r["kind"] == "launcher"} == {"local": "ok", "slurm": "ok", "ray": "ok"}
    cases = [
        (("--launcher", "slrum"), "unknown launcher 'slrum'; did you mean 'slurm'?"),
        (("--launcher", "slurm", "-o", "launcher.cluster=local", "-o", "launcher.timeout_min=abc"), "launcher.timeout_min"),
        (("--launcher", "slurm", "-o", "launcher.cluster=local", "-o", "launcher.partiton=gpu"),
         "unknown config field 'launcher.partiton'"),
        (("--launcher", "local", "-o", "launcher.cpus=2"), "launcher 'local' has no options"),
        (("--launcher", "ray", "-o", "launcher.num_cpus=0"), "launcher.num_cpus"),
        (("--launcher", "ray", "-o", "launcher.address=127.0.0.1:1"), "launcher 'ray': no Ray head at 127.0.0.1:1"),
    ]
    if shutil.which("sbatch") is None:
        cases.append((("--launcher", "slurm"), "launcher 'slurm': no sbatch on this machine"))
    for flags, expected in cases:
        proc = cli("sweep", "agent.learning_rate=1e-3,1e-2", "--out", str(tmp_path / "s"), *flags, check=False)
        assert proc.returncode == 2 and expected in proc.stderr and "Traceback" not in proc.stderr, (flags, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_local_launcher_names_every_failed_job(cli, tmp_path):
    out = tmp_path / "sweep"
    for value in ("1e-3", "1e-2"):
        (out / f"agent.learning_rate={value}").mkdir(parents=True)
        (out / f"agent.learning_rate={value}" / "notes.txt").write_text("not a run")
    proc = cli("sweep", "agent.learning_rate=1e-3,1e-2", *TINY, "--out", str(out), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert proc.stderr.startswith("error: sweep: 2 of 2 job(s) failed: agent.learning_rate=1e-3 (run folder ")
    assert "; agent.learning_rate=1e-2 (run folder " in proc.stderr and "notes.txt" in proc.stderr
    assert not (out / "sweep.csv").exists()
