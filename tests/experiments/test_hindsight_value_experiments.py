"""The HiMo experiments (``experiments/hindsight_value/``): the illustrative task, CI-sized."""

import pytest

from experiments.hindsight_value import illustrative as il


@pytest.mark.slow
def test_illustrative_himo_beats_both_baselines():
    """CI-sized illustrative task (3 seeds, 2000 iterations; the script runs 10 seeds x 8000): HiMo's
    final held-out value loss is below the model-free and the model-based baselines' on every seed
    average, measured in the same program."""
    c = il.IllustrativeConfig(iterations=2000, eval_every=1000, eval_size=2048)
    curves = il.run(3, c)
    final = {m: float(curves[m][:, -1].mean()) for m in il.METHODS}
    initial = {m: float(curves[m][:, 0].mean()) for m in il.METHODS}
    assert final["himo"] < 0.2 * initial["himo"], (initial, final)  # it learned at all
    assert final["himo"] < final["model_free"], final
    assert final["himo"] < final["model_based"], final
