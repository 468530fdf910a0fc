"""``rlk plot`` and ``rlk compare`` through the real CLI, on run folders written as rlk writes them (config.json
from the resolved RunConfig, metrics.csv's columns, summary.json's final_return_per_seed), with made-up numbers
so that every expected value is computed here from the same numbers, independently of rlk."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import scipy.stats

COLUMNS = ["step", "env_steps", "seed", "episode_return", "episodes", "loss", "steps_per_s", "wall_s"]
RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def ppo_config():
    """config.json of a PPO-on-Catch run, exactly as ``rlk train`` saves it."""
    from rlk.core.config import build_run_config
    from rlk.core.run import LAUNCH_OPTIONS, resolve

    saved = resolve(build_run_config({"agent": {"name": "ppo"}, "env": {"name": "catch"}})).config.model_dump(mode="json")
    saved["backend"] = {k: v for k, v in saved["backend"].items() if k not in LAUNCH_OPTIONS}
    return saved


def make_run(path, config, lr, seed=0, num_seeds=2, rows=4, steps=4096):
    """A run folder; returns ``{seed: [(env_steps, episode_return), ...]}`` and its final returns."""
    cfg = json.loads(json.dumps(config))
    cfg["agent"]["learning_rate"], cfg["seed"], cfg["num_seeds"], cfg["steps"] = lr, seed, num_seeds, steps
    cfg["run_dir"] = str(path)
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    curves = {s: [(1024 * (i + 1), float(RNG.uniform(-1, 1))) for i in range(rows)] for s in range(seed, seed + num_seeds)}
    with (path / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for i in range(rows):
            for s, pts in curves.items():
                w.writerow([i + 1, pts[i][0], s, pts[i][1], 64, 0.1, 1000.0, 1.0 + i])
    finals = [float(v) for v in RNG.uniform(-1, 1, num_seeds)]
    (path / "summary.json").write_text(json.dumps({"final_return": float(np.mean(finals)), "final_return_per_seed": finals,
                                                   "seeds": list(curves), "env_steps": rows * 1024}))
    return curves, finals


def plot_json(cli, *args):
    proc = cli("plot", *args, "--json", "--reps", "200")
    return {c["label"]: c for c in json.loads(proc.stdout)}, proc


def test_two_learning_rates_draw_two_curves_of_their_own_data(cli, tmp_path, ppo_config):
    a, _ = make_run(tmp_path / "lr-1e-3", ppo_config, 1e-3)
    b, _ = make_run(tmp_path / "lr-3e-4", ppo_config, 3e-4)
    out = tmp_path / "figs" / "curves.png"
    curves, proc = plot_json(cli, str(tmp_path / "lr-1e-3"), str(tmp_path / "lr-3e-4"), "--out", str(out))
    assert set(curves) == {"lr-1e-3", "lr-3e-4"}
    assert out.stat().st_size > 1000 and "wrote" in proc.stderr
    for label, data in (("lr-1e-3", a), ("lr-3e-4", b)):
        c = curves[label]
        ys = np.array([[v for _, v in pts] for pts in data.values()])  # [S, T]
        assert c["x"] == [x for x, _ in data[min(data)]] and c["seeds"] == 2
        np.testing.assert_allclose(c["center"], scipy.stats.trim_mean(ys, 0.25, axis=0))
        assert np.all(np.array(c["low"]) <= np.array(c["center"]) + 1e-12)
        assert np.all(np.array(c["center"]) <= np.array(c["high"]) + 1e-12)


def test_group_by_pools_seeds_and_band_is_rliables(cli, tmp_path, ppo_config):
    from rliable import library, metrics

    a0, _ = make_run(tmp_path / "a0", ppo_config, 1e-3, seed=0)
    a2, _ = make_run(tmp_path / "a2", ppo_config, 1e-3, seed=2, rows=2)  # shorter: the pooled curve stops at it
    b, _ = make_run(tmp_path / "b", ppo_config, 3e-4, seed=0, rows=3)
    curves, proc = plot_json(cli, *(str(tmp_path / n) for n in ("a0", "a2", "b")), "--group-by", "agent.learning_rate",
                             "--out", str(tmp_path / "g.pdf"))
    assert set(curves) == {"agent.learning_rate=0.001", "agent.learning_rate=0.0003"}
    pooled, other = curves["agent.learning_rate=0.001"], curves["agent.learning_rate=0.0003"]
    assert pooled["seeds"] == 4 and pooled["x"] == [1024, 2048]  # never beyond the shorter run's last point
    assert other["x"] == [1024, 2048, 3072]  # its own last point, not extended to the longest run's
    assert "drawn up to env_steps=2048" in proc.stderr
    ys = np.array([[v for _, v in pts[:2]] for pts in [*a0.values(), *a2.values()]])  # [4, 2]
    np.random.seed(0)  # rlk seeds numpy's generator, which rliable draws from, with --seed (default 0)
    point, ci = library.get_interval_estimates(
        {"g": ys[:, None, :]}, lambda s: np.array([metrics.aggregate_iqm(s[..., t]) for t in range(s.shape[-1])]), reps=200)
    np.testing.assert_allclose(pooled["center"], point["g"])
    np.testing.assert_allclose([pooled["low"], pooled["high"]], ci["g"])


def test_group_by_refuses_runs_that_differ_beyond_seed(cli, tmp_path, ppo_config):
    make_run(tmp_path / "a", ppo_config, 1e-3, seed=0)
    make_run(tmp_path / "b", ppo_config, 1e-3, seed=2, steps=8192)
    proc = cli("plot", str(tmp_path / "a"), str(tmp_path / "b"), "--group-by", "agent.learning_rate",
               "--out", str(tmp_path / "p.png"), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "differ in steps" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "p.png").exists()


def test_compare_matches_rliable(cli, tmp_path, ppo_config):
    from rliable import library, metrics

    a, fa = make_run(tmp_path / "a", ppo_config, 1e-3, num_seeds=5)
    _, fb = make_run(tmp_path / "b", ppo_config, 3e-4, num_seeds=3)
    proc = cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--label", "fast", "--label", "slow",
               "--json", "--reps", "300", "--seed", "4")
    result = json.loads(proc.stdout)
    fast, slow = result["groups"]
    assert (fast["label"], fast["scores"], slow["scores"]) == ("fast", fa, fb)
    x, y = np.array(fa)[:, None], np.array(fb)[:, None]
    for row, s in ((fast, x), (slow, y)):
        np.random.seed(4)
        point, ci = library.get_interval_estimates(
            {"k": s}, lambda v: np.array([metrics.aggregate_iqm(v), metrics.aggregate_mean(v)]), reps=300)
        np.testing.assert_allclose([row["iqm"], row["mean"]], point["k"])
        np.testing.assert_allclose(np.array([row["iqm_ci"], row["mean_ci"]]).T, ci["k"])
    np.random.seed(4)
    point, ci = library.get_interval_estimates({"k": (x, y)}, metrics.probability_of_improvement, reps=300)
    (poi,) = result["improvement"]
    assert (poi["x"], poi["y"]) == ("fast", "slow")
    np.testing.assert_allclose(poi["p"], point["k"])
    np.testing.assert_allclose(poi["ci"], ci["k"][:, 0])
    last = json.loads(cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--score", "last", "--json").stdout)
    assert last["groups"][0]["scores"] == [pts[-1][1] for pts in a.values()]
    assert "last logged episode_return" in last["score"]
    table = cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--reps", "300").stdout
    assert "P(X > Y)" in table and f"{poi['p']:.3f}" in table


@pytest.mark.parametrize("out, culprit", [("curves.xyz", "unknown image type '.xyz'"), ("curves", "unknown image type"),
                                          ("afile/curves.png", "is a file"), ("adir.png", "is a folder")])
def test_bad_output_is_one_line(cli, tmp_path, out, culprit):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.png").mkdir()
    proc = cli("plot", str(tmp_path / "missing-run"), "--out", str(tmp_path / out), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert culprit in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
