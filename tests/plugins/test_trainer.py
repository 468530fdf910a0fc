"""The Trainer architecture: data-parallel step == single-device step, exact resume, CLI errors."""

import csv
import json
from pathlib import Path

import jax
import numpy as np
import pytest

from rlk.plugins.backends.platforms import PlatformBackend, PlatformConfig
from rlk.plugins.backends.trainer import TrainerConfig, TrainerProgram
from rlk.plugins.bwlc_codec.model import BWLCCodec, BWLCConfig
from rlk.plugins.datasets.sources import make_digits

TIMING = {"steps_per_s", "wall_s"}


def _program(num_devices: int, updates: int = 2) -> TrainerProgram:
    dataset = make_digits()
    model = BWLCCodec(BWLCConfig(code_dim=4, hidden=32, prior_hidden=8, aux_dim=2, eval_ks=[1, 4]), dataset).model()
    mesh = PlatformBackend("cpu", PlatformConfig(num_devices=num_devices)).mesh()
    return TrainerProgram(model, dataset, mesh, TrainerConfig(batch_size=32, learning_rate=1e-2), updates,
                          ("bwlc_codec", "digits"))


def test_four_devices_step_equals_one_device():
    """Two updates of the BWLC codec (stochastic loss: per-example keys) on 4 host devices vs 1."""
    assert len(jax.devices("cpu")) >= 4, "conftest asks XLA for 4 host devices"
    results = []
    for n in (1, 4):
        program = _program(n)
        state = program.init([3])
        before = jax.device_get(state.params)
        new, metrics = program.compile(state)(state)
        results.append((jax.device_get(new), jax.device_get(metrics)))
    (one, m1), (four, m4) = results
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(one.params), jax.tree.leaves(before)))
    assert moved > 1e-3  # the step did something
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(four)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(m1["loss"], m4["loss"], rtol=1e-5)
    assert int(np.asarray(four.step)[0]) == 2


def _rows(run: Path):
    with open(run / "metrics.csv") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def test_model_run_resume_equals_uninterrupted(tmp_path):
    """A model run stopped at 120 updates and resumed to 240 writes the rows and summary of the
    uninterrupted 240-update run (same data order, same keys); in-process, on 4 host devices."""
    from rlk.core import run as run_mod
    from rlk.core.config import build_run_config

    def config(steps, name):
        return build_run_config({"model": {"name": "bwlc_codec", "hidden": 32, "eval_ks": [1, 16], "eval_fill_samples": 2},
                                 "dataset": "digits", "arch": {"eval_examples": 100},
                                 "seed": 2, "steps": steps, "log_every_steps": 40, "checkpoint_every_steps": 80,
                                 "run_dir": str(tmp_path / name)})

    _, a = run_mod.train(config(240, "full"))
    run_mod.train(config(120, "cut"))
    _, b = run_mod.resume(tmp_path / "cut", steps=240)
    full_rows, cut_rows = _rows(tmp_path / "full"), _rows(tmp_path / "cut")
    assert len(full_rows) == 6 and cut_rows == full_rows
    assert {"step", "examples", "seed", "loss", "rate", "rec"} <= set(full_rows[0])
    assert a["final_loss"] == b["final_loss"] and a["distortion_mse_k1"] == b["distortion_mse_k1"]
    assert b["resumed"] and a["devices"] == 4 and a["updates"] == 240 and a["examples"] == 240 * 64
    assert {"final_loss", "examples_per_s", "frechet_k1", "nll_k16"} <= set(a)
    cut = tmp_path / "cut"
    assert (cut / "metrics.jsonl").is_file() and list((cut / "tb").glob("events.*"))
    saved = json.loads((cut / "config.json").read_text())
    assert saved["model"]["name"] == "bwlc_codec" and "agent" not in saved and saved["steps"] == 120
    assert saved["arch"]["name"] == "trainer" and saved["arch"]["batch_size"] == 64


@pytest.mark.parametrize("args, words", [
    (("--model", "bwlc_codec"), ["--dataset", "digits"]),
    (("--model", "bwlc_codec", "--dataset", "cifar"), ["unknown dataset 'cifar'", "mnist"]),
    (("--model", "bwlc_codec", "--dataset", "fashion_mnist", "-o", "dataset.path=/nonexistent"),
     ["apt install dataset-fashion-mnist"]),
])
def test_bad_model_run_input_is_one_line(cli, tmp_path, args, words):
    proc = cli("train", *args, "--steps", "10", "--run-dir", str(tmp_path / "r"), check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for w in words:
        assert w in proc.stderr


@pytest.mark.slow
def test_sigint_of_model_run_exits_130_and_resume_equals_uninterrupted(tmp_path):
    """`rlk train --model ...` interrupted by SIGINT after its first checkpoint exits 130 with a
    checkpoint; `rlk train --resume` then writes the rows and metrics of the uninterrupted run
    (trained in this process meanwhile, on one device as the CLI's are, to keep the test short)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from rlk.core import run as run_mod
    from rlk.core.config import build_run_config

    options = {"model": {"name": "bwlc_codec", "hidden": 32, "code_dim": 4, "prior_hidden": 8, "eval_ks": [1, 4],
                         "eval_fill_samples": 2},
               "arch": {"eval_examples": 100}, "backend": {"num_devices": 1},
               "log_every_steps": 20, "checkpoint_every_steps": 1000}
    flags = [f"{section}.{k}={json.dumps(v).replace(' ', '')}" for section, d in options.items() if isinstance(d, dict)
             for k, v in d.items() if k != "name"] + [f"{k}={v}" for k, v in options.items() if not isinstance(v, dict)]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    env["JAX_PLATFORMS"] = "cpu"
    cut = tmp_path / "cut"

    def rlk(*args):
        return subprocess.Popen([sys.executable, "-m", "rlk.cli", "train", *args, "-q"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env)

    proc = rlk("--model", "bwlc_codec", "--dataset", "digits", "--seed", "2", "--steps", "4000", "--run-dir", str(cut),
               *[a for f in flags for a in ("-o", f)])
    deadline = time.monotonic() + 120
    while not ((cut / "checkpoints").is_dir() and run_mod.has_checkpoint(cut)):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint after 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, (stdout, stderr)
    assert "SIGINT: stopped at" in stdout + stderr and "--resume" in stdout + stderr
    assert 50 <= len(_rows(cut)) < 200 and run_mod.has_checkpoint(cut) and not (cut / "summary.json").exists()

    resumed = rlk("--resume", str(cut))
    _, a = run_mod.train(build_run_config({**options, "dataset": "digits", "seed": 2, "steps": 4000,
                                           "run_dir": str(tmp_path / "full")}))
    assert resumed.wait(timeout=300) == 0, resumed.communicate()
    full_rows, cut_rows = _rows(tmp_path / "full"), _rows(cut)
    assert len(full_rows) == 200 and cut_rows == full_rows
    b = json.loads((cut / "summary.json").read_text())
    assert b["resumed"] and not a["resumed"] and a["devices"] == b["devices"] == 1
    for k in ("final_loss", "distortion_mse_k1", "distortion_mse_k4", "nll_k4"):
        assert a[k] == b[k], k
    # The Frechet distance reads the features of a classifier each process fits for itself (1,000 Adam steps);
    # this process and the resumed subprocess run XLA with different device counts, so its last bits differ.
    assert abs(a["frechet_k1"] - b["frechet_k1"]) <= 1e-3 * abs(a["frechet_k1"])
