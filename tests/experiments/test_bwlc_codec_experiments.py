"""The BWLC codec figures (``experiments/bwlc_codec/figures.py``)."""

import numpy as np

from experiments.bwlc_codec import figures


def test_figures_write_the_table_and_plots_from_per_seed_metrics(tmp_path):
    """figures.py's table and PNGs from made-up per-seed `rlk eval` metrics (no training)."""
    ks = [1, 4]
    metrics = lambda base, seed: {"baseline_mse_mean_image": 0.07, "classifier_test_accuracy": 0.97, **{f"{m}_k{k}": base / k + 0.01 * seed
                                  for m in ("distortion_mse", "frechet", "nll") for k in ks}}
    results = {s: {"metrics_per_seed": [metrics(b, i) for i in range(2)], "seeds": [0, 1], "examples_per_s": 1e4,
                   "updates": 10, "grid": np.zeros((1 + len(ks), 3, 8, 8))} for s, b in (("joint", 1.0), ("separate", 2.0))}
    figures.plot_curves(results, ks, tmp_path / "c.png", "t")
    figures.plot_samples(results, ks, tmp_path / "s.png")
    md = figures.table(results, ks, ["rlk train ..."], {"cpu": "x", "cores": 2}, 1.0)
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "s.png").stat().st_size > 1000
    assert "| joint | **1.0050** [1.0000, 1.0100] | **0.2550** [0.2500, 0.2600] |" in md
    assert "| separate | 2.0050 [2.0000, 2.0100] |" in md
    assert "test accuracy 0.970" in md


def test_ablation_table_reports_the_mean_and_a_bootstrap_interval_per_arm(tmp_path):
    """ablation.py's summary and table from made-up per-seed metrics (no training): the mean over seeds
    and a 95% interval inside the seeds' range."""
    import argparse

    from experiments.bwlc_codec import ablation

    ks = [1, 16]
    values = {"full": [0.030, 0.034, 0.038], "no_aux": [0.050, 0.052, 0.060]}
    results = {arm: {"seeds": [0, 1, 2], "updates": 10, "wall_s": 1.0, "metrics_per_seed": [
        {"baseline_mse_mean_image": 0.07, "classifier_test_accuracy": 0.97,
         **{f"{m}_k{k}": v / k for m in ("distortion_mse", "frechet") for k in ks}} for v in vs]}
        for arm, vs in values.items()}
    summary = ablation.summarise(results, ks, reps=200)
    mean, lo, hi = summary["no_aux"]["distortion_mse_k{}"]["mean"]
    assert mean[0] == np.mean(values["no_aux"]) and 0.050 <= lo[0] < mean[0] < hi[0] <= 0.060
    args = argparse.Namespace(dataset="mnist", steps=10, reps=200)
    md = ablation.table(results, summary, ks, ["rlk train ..."], args, 1.0)
    lo_full = summary["full"]["distortion_mse_k{}"]["mean"][1][0]
    assert f"| full | **0.0340** [{lo_full:.4f}" in md and "| no_aux | 0.0540 [" in md
    ablation.plot(results, summary, ks, tmp_path / "a.png", "t")
    assert (tmp_path / "a.png").stat().st_size > 1000
