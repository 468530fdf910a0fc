"""Runs that cannot be lost or corrupted, through the real CLI: a signal at any moment is one line and exit
130/143; a run folder is locked, never overwritten, created and checked before anything compiles; a resume
refuses what it cannot continue exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_cli_errors import _assert_clean

TINY = ("-q", "-o", "log_every_steps=1000", "-o", "checkpoint_every_steps=1000",
        "-o", "agent.num_envs=4", "-o", "agent.unroll_length=8")  # 992 env steps a call: small and quick
LONG = ("--steps", "3000000", *TINY)  # minutes: a signal always finds it running


def _popen(*args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return subprocess.Popen([sys.executable, "-m", "rlk", *args], env={**env, "JAX_PLATFORMS": "cpu"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(predicate, proc: subprocess.Popen, timeout: float = 300.0, poll: float = 0.01) -> None:
    end = time.time() + timeout
    while not predicate():
        assert proc.poll() is None, f"ended first ({proc.returncode}): {proc.communicate()}"
        assert time.time() < end, "timed out"
        time.sleep(poll)


def _rows(path: Path) -> int:
    return max(0, len(path.read_text().splitlines()) - 1) if path.exists() else 0


def _signalled(proc: subprocess.Popen, signum: int) -> str:
    """Sends ``signum``; asserts the clean end (128 + signal, one line naming it, no traceback); the line."""
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip()]
    assert proc.returncode == 128 + signum, (proc.returncode, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(f"{signal.Signals(signum).name}: "), err
    return lines[0]


def _lock_released(run: Path) -> bool:
    return (run / "rlk.lock").read_text() == ""


@pytest.mark.parametrize("moment", ["startup", "imports", "before-first-call", "mid-run", "final-evaluation", "twice-mid-run"])
def test_signal_at_any_moment_is_one_line(tmp_path, moment):
    run = tmp_path / "run"
    extra = ("-o", "eval_episodes=1000000") if moment == "final-evaluation" else ()
    steps = ("--steps", "3000", *TINY) if moment == "final-evaluation" else LONG
    proc = _popen("train", *steps, *extra, "--run-dir", str(run))
    signum = signal.SIGTERM if moment == "mid-run" else signal.SIGINT
    if moment == "startup":  # as soon as the handler's watcher thread runs: the CLI's own modules still loading
        _wait(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) >= 2, proc, poll=0.001)
    elif moment == "imports":  # once jaxlib's native library is mapped: the heavy imports are under way
        _wait(lambda: "jaxlib" in Path(f"/proc/{proc.pid}/maps").read_text(), proc)
    elif moment == "before-first-call":
        _wait(lambda: (run / "rlk.lock").is_file() and (run / "rlk.lock").read_text() != "", proc)  # claimed before the build
    elif moment == "final-evaluation":
        _wait(lambda: _rows(run / "metrics.csv") == 4, proc)  # the last of ceil(3000 / 992) rows
    else:
        _wait(lambda: _rows(run / "metrics.csv") >= 2, proc)
    if moment == "twice-mid-run":
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    line = _signalled(proc, signum)
    saved = any(p.name.isdigit() for p in (run / "checkpoints").iterdir()) if (run / "checkpoints").is_dir() else False
    if moment in ("mid-run", "final-evaluation"):
        assert saved and "--resume" in line, line
        assert not (run / "summary.json").exists()
    if moment == "before-first-call":
        assert not saved and _lock_released(run), line
    if moment == "twice-mid-run":
        assert "again" in line, line


def test_signal_during_eval_is_one_line(cli, tmp_path):
    run = tmp_path / "run"
    cli("train", "--steps", "2000", *TINY, "--run-dir", str(run))
    proc = _popen("eval", str(run), "--episodes", "1000000")
    _wait(lambda: len(os.listdir(f"/proc/{proc.pid}/task")) >= 8, proc)  # jax has started its threads
    _signalled(proc, signal.SIGTERM)


def test_second_run_on_a_folder_refuses_and_the_first_resumes_exactly(cli, tmp_path):
    """A second ``rlk train`` and a ``--resume`` on a folder in use refuse with one line naming the owner;
    the first run, stopped and resumed, equals an uninterrupted run; a SIGKILLed owner's lock is taken over."""
    run, full = tmp_path / "run", tmp_path / "full"
    first = _popen("train", "--seed", "1", *LONG, "--run-dir", str(run))
    _wait(lambda: _rows(run / "metrics.csv") >= 2, first)
    owner = f"process {first.pid} on host"
    _assert_clean(cli("train", "--seed", "2", *TINY, "--steps", "2000", "--run-dir", str(run), check=False), owner)
    _assert_clean(cli("train", "--resume", str(run), check=False), owner)
    _signalled(first, signal.SIGTERM)
    assert _lock_released(run)
    target = str(_rows(run / "metrics.csv") * 992 + 2 * 992)  # two calls past where it stopped
    cli("train", "--resume", str(run), "--steps", target)
    cli("train", "--seed", "1", *TINY, "--steps", target, "--run-dir", str(full))
    strip = lambda p: [r.rsplit(",", 2)[0] for r in (p / "metrics.csv").read_text().splitlines()]  # less timings
    assert strip(run) == strip(full)
    assert {json.loads(l)["seed"] for l in (run / "metrics.jsonl").read_text().splitlines()} == {1}

    killed = _popen("train", "--resume", str(run), "--steps", "3000000", "-q")
    _wait(lambda: (run / "rlk.lock").read_text().startswith(str(killed.pid)), killed)
    killed.kill()
    killed.communicate()
    again = cli("train", "--resume", str(run), "--steps", target)
    assert f"taking over the lock of process {killed.pid}" in again.stderr


@pytest.mark.parametrize("name, make, culprit", [
    ("empty", lambda d: "", "the path is empty"),
    ("a-file", lambda d: (d / "f").write_text("x") and str(d / "f"), "is a file"),
    ("under-a-file", lambda d: (d / "f").write_text("x") and str(d / "f" / "run"), "a part of the path is a file"),
    ("users-files", lambda d: [(d / "r").mkdir(), (d / "r" / "config.json").write_text("{}"),
                               (d / "r" / "metrics.csv").write_text("a\n")] and str(d / "r"), "config.json, metrics.csv"),
    ("unknown-file", lambda d: [(d / "r").mkdir(), (d / "r" / "notes.txt").write_text("mine")] and str(d / "r"), "notes.txt"),
])
def test_run_folder_refusals_before_anything_compiles(cli, tmp_path, name, make, culprit):
    run_dir = make(tmp_path)
    before = {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    proc = cli("train", "--steps", "2000", *TINY, "--run-dir", run_dir, check=False)
    _assert_clean(proc, culprit)
    assert {p: p.read_text() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written or overwritten


def test_resume_arithmetic(cli, tmp_path):
    """``--steps`` at or below the checkpoint, 0, and damaged metrics files: one line each, summary.json right."""
    run = tmp_path / "run"
    cli("train", "--steps", "3000", *TINY, "--run-dir", str(run))  # 4 calls of 992 env steps
    summary = json.loads((run / "summary.json").read_text())
    assert summary["env_steps"] == 3968
    _assert_clean(cli("train", "--resume", str(run), "--steps", "1000", check=False), "already trained 3,968 env steps")
    _assert_clean(cli("train", "--resume", str(run), "--steps", "0", check=False), "steps")
    same = cli("train", "--resume", str(run), "--steps", "3968")
    assert "already trained 3,968" in same.stderr
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 3968
    csv_text = (run / "metrics.csv").read_text()
    (run / "metrics.csv").write_text("\n".join(csv_text.splitlines()[:3]) + "\n")  # two of the four rows
    _assert_clean(cli("train", "--resume", str(run), "--steps", "5000", check=False), "metrics.csv holds 2 rows")
    (run / "metrics.csv").unlink()
    _assert_clean(cli("train", "--resume", str(run), "--steps", "5000", check=False), "metrics.csv is missing")
    config = json.loads((run / "config.json").read_text())
    assert config["backend"]["num_devices"] == 1  # pinned: a resume on fewer devices is refused by the backend
    config["backend"]["num_devices"] = 2
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.csv").write_text(csv_text)
    _assert_clean(cli("train", "--resume", str(run), "--steps", "5000", check=False), "num_devices=2")
