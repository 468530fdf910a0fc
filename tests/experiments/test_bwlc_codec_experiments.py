"""The BWLC codec figures (``experiments/bwlc_codec/figures.py``)."""

import numpy as np

from experiments.bwlc_codec import figures


def test_figures_write_the_table_and_plots_from_per_seed_metrics(tmp_path):
    """figures.py's table and PNGs from made-up per-seed `rlk eval` metrics (no training)."""
    ks = [1, 4]
    metrics = lambda base, seed: {"baseline_mse_mean_image": 0.07, **{f"{m}_k{k}": base / k + 0.01 * seed
                                  for m in ("distortion_mse", "frechet", "nll") for k in ks}}
    results = {s: {"metrics_per_seed": [metrics(b, i) for i in range(2)], "seeds": [0, 1], "examples_per_s": 1e4,
                   "updates": 10, "grid": np.zeros((1 + len(ks), 3, 8, 8))} for s, b in (("joint", 1.0), ("separate", 2.0))}
    figures.plot_curves(results, ks, tmp_path / "c.png", "t")
    figures.plot_samples(results, ks, tmp_path / "s.png")
    md = figures.table(results, ks, ["rlk train ..."], {"cpu": "x", "cores": 2}, 1.0)
    assert (tmp_path / "c.png").stat().st_size > 1000 and (tmp_path / "s.png").stat().st_size > 1000
    assert "| joint | **1.0050** [1.0000, 1.0100] | **0.2550** [0.2500, 0.2600] |" in md
    assert "| separate | 2.0050 [2.0000, 2.0100] |" in md
