"""The HiMo experiments (``experiments/hindsight_value/``): the illustrative task, CI-sized."""

import pytest

from experiments.hindsight_value import illustrative as il


@pytest.mark.slow
def test_illustrative_himo_beats_the_capacity_matched_control_and_model_based():
    """CI-sized illustrative task (3 seeds, 2000 iterations; the script runs 10 seeds x 8000 and all five
    methods): HiMo's final held-out value loss (phi over the future trajectory) is below that of its own
    value network trained without the hindsight losses and of the model-based baseline, on the seed
    average, measured in the same program."""
    methods = ("himo", "model_free_matched", "model_based")
    c = il.IllustrativeConfig(iterations=2000, eval_every=1000, eval_size=2048)
    curves = il.run(3, c, methods)
    final = {m: float(curves[m][:, -1].mean()) for m in methods}
    initial = {m: float(curves[m][:, 0].mean()) for m in methods}
    assert final["himo"] < 0.2 * initial["himo"], (initial, final)  # it learned at all
    assert final["himo"] < final["model_free_matched"], final
    assert final["himo"] < final["model_based"], final
