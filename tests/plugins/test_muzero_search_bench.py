"""``rlk bench --muzero-search``: MuZero's acting step beside bare ``mctx`` search at the same shape, rounds
alternating in one process (issue 30: the acting step within 1.3x of bare search)."""

import math

from rlk import bench


def test_muzero_search_row_times_act_and_bare_search_at_the_agents_shape():
    small = {"num_envs": 4, "num_simulations": 2, "latent_size": 8, "hidden_sizes": [16], "num_atoms": 11}
    row = bench.muzero_search_row("catch", bench.Budget(calls=1, repeats=2, log_every_steps=2), overrides=small)
    assert set(row) == set(bench.SEARCH_KEYS)
    assert (row["name"], row["batch"], row["simulations"]) == ("muzero-act-vs-mctx/catch/4x2", 4, 2)
    assert row["act_ms"] > 0 and row["bare_ms"] > 0 and row["act_cpu_ms"] > 0 and row["bare_cpu_ms"] > 0
    assert math.isclose(row["ratio"], row["act_ms"] / row["bare_ms"])
    assert math.isclose(row["cpu_ratio"], row["act_cpu_ms"] / row["bare_cpu_ms"])
    assert "| catch | 4 x 2 |" in bench.search_markdown([row])
