"""Smoke tests: experiment scripts run end to end through their ``main(argv)`` at a tiny size, writing to tmp_path.

Scripts that need a trained run folder or train through ``rlk train`` subprocesses are run on made-up
folders where they only read (the sweeps' tables are tested beside the counterfactual study). Left out to keep
the suite's time: the Go diagnostics, partial_models' experiment (its ``make_seed_run`` is tested in
tests/plugins/test_partial_models.py), and the scripts that train through subprocesses."""

from __future__ import annotations

import json

import numpy as np

from rlk.core.images import save_gif, save_grid


def _fake_agent_run(run_dir, env="catch", seeds=(0,)):
    """A run folder as the figure scripts read it: ``config.json`` and a ``metrics.csv`` of training returns."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"env": {"name": env}}))
    with (run_dir / "metrics.csv").open("w") as f:
        f.write("seed,env_steps,wall_s,episode_return\n")
        for seed in seeds:
            for i in range(4):
                f.write(f"{seed},{1000 * (i + 1)},{0.5 * (i + 1)},{0.1 * i}\n")
    return run_dir


def test_muesli_sebulba_figure(tmp_path):
    from experiments.muesli import make_figures, sebulba_figure

    run = _fake_agent_run(tmp_path / "run", seeds=(0, 1))
    assert sorted(make_figures.curves(run)) == [0, 1]
    sebulba_figure.main(["--run", f"{run}:0.5", "--out", str(tmp_path / "s.png")])
    assert (tmp_path / "s.png").stat().st_size > 1000


def test_muesli_throughput_ppo_one_call(capsys):
    from experiments.muesli import throughput

    throughput.main(["--only", "ppo", "--repeats", "1", "--log-every", "512"])
    assert "ppo" in capsys.readouterr().out


def test_hindsight_value_illustrative_tiny(tmp_path):
    from experiments.hindsight_value import illustrative

    illustrative.main(["--seeds", "1", "--iterations", "200", "--methods", "himo", "--out", str(tmp_path / "il")])
    assert (tmp_path / "il.png").stat().st_size > 1000


def test_image_writers(tmp_path):
    """``rlk sample``'s writers, which experiments/jumpy_video/figures.py uses: a PNG and a GIF of a grid."""
    grid = np.random.default_rng(0).uniform(size=(2, 3, 8, 8))
    save_grid(grid, tmp_path / "g.png")
    save_gif(grid, tmp_path / "g.gif")
    assert (tmp_path / "g.png").stat().st_size > 100 and (tmp_path / "g.gif").stat().st_size > 100
