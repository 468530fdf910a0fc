"""``rlk sweep`` over a grid: named arms crossed with swept fields, through the real CLI; each point's run has
every override of its point, and an interrupted sweep reads finished points back."""

from __future__ import annotations

import csv
import json

import pytest

from rlk.core.errors import RlkError
from rlk.sweep import grid, parse_arm, parse_sweep


def test_grid_is_the_product_of_arms_and_fields_in_order():
    field, points = grid([parse_sweep("agent.num_simulations=1,4"), parse_sweep("agent.max_depth=2,8")],
                         [parse_arm("pg:agent.search_for_acting=false,agent.hidden_sizes=[64, 64]")])
    assert field == "arm x agent.num_simulations x agent.max_depth"
    assert [p.value for p in points] == ["pg,1,2", "pg,1,8", "pg,4,2", "pg,4,8"]
    assert points[1].name == "arm=pg,agent.num_simulations=1,agent.max_depth=8"
    assert points[1].overrides == ("agent.search_for_acting=false", "agent.hidden_sizes=[64, 64]",
                                   "agent.num_simulations=1", "agent.max_depth=8")
    field, points = grid([parse_sweep("agent.num_simulations=1,4")], [])  # one field: the folders as before
    assert field == "agent.num_simulations" and [(p.value, p.name) for p in points] == [
        ("1", "agent.num_simulations=1"), ("4", "agent.num_simulations=4")]


def test_sweep_crosses_named_arms_with_a_field_and_reads_finished_points_back(cli, tmp_path):
    """A sweep stopped after its first point (here: run with that arm alone) goes on with the same grid: the
    finished point is read back, not trained again, and the table holds both."""
    out = tmp_path / "sweep"
    small, large = "small:agent.num_envs=8,agent.unroll_length=4", "large:agent.num_envs=16,agent.unroll_length=8"
    common = ("sweep", "agent.learning_rate=3e-3", "--steps", "128", "--num-seeds", "1", "-o", "eval_episodes=2",
              "--out", str(out), "-q")
    cli(*common, "--arm", small)
    first = out / "arm=small,agent.learning_rate=3e-3"
    stamp = (first / "summary.json").stat().st_mtime_ns
    cli(*common, "--arm", small, "--arm", large)
    assert (first / "summary.json").stat().st_mtime_ns == stamp
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [(r["field"], r["value"]) for r in rows] == [("arm x agent.learning_rate", "small,3e-3"),
                                                        ("arm x agent.learning_rate", "large,3e-3")]
    for row, (arm, envs, unroll) in zip(rows, (("small", 8, 4), ("large", 16, 8))):
        run = out / f"arm={arm},agent.learning_rate=3e-3"
        assert row["run_dir"] == str(run)
        agent = json.loads((run / "config.json").read_text())["agent"]
        assert (agent["num_envs"], agent["unroll_length"], agent["learning_rate"]) == (envs, unroll, 3e-3)
        assert [float(row["final_return"])] == json.loads((run / "summary.json").read_text())["final_return_per_seed"]
    assert "| large,3e-3 |" in (out / "sweep.md").read_text()


def test_bad_grids_are_one_line(cli, tmp_path):
    proc = cli("sweep", "agent.num_envs=8,16", "--arm", "x:agent.num_envs=4", "--out", str(tmp_path), check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line] == [
        "error: sweep: field 'agent.num_envs' is set twice (in two sweeps, or in a sweep and an arm)"], proc.stderr
    for bad in ("nocolon", "x:", "x:num_envs=4", "two words:agent.gamma=0.9"):
        with pytest.raises(RlkError, match="expected NAME:SECTION.FIELD=VALUE"):
            parse_arm(bad)
    with pytest.raises(RlkError, match="give a FIELD=V1,V2"):
        grid([], [])
    with pytest.raises(RlkError, match="two arms share a name"):
        grid([], [parse_arm("a:agent.gamma=0.9"), parse_arm("a:agent.gamma=0.8")])
