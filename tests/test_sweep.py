"""``rlk sweep``: one field over values and seeds through the real CLI; its table, CSV and plot agree
with each run's own summary, and a repeated sweep reads finished runs back instead of training."""

from __future__ import annotations

import csv
import json


def test_sweep_writes_table_csv_plot_and_resumes(cli, tmp_path):
    out = tmp_path / "sweep"
    args = ("sweep", "agent.learning_rate=1e-5,3e-3", "--steps", "4096", "--num-seeds", "2", "--out", str(out), "-q")
    proc = cli(*args)
    rows = list(csv.DictReader(open(out / "sweep.csv")))
    assert [(r["value"], r["seed"]) for r in rows] == [("1e-5", "0"), ("1e-5", "1"), ("3e-3", "0"), ("3e-3", "1")]
    for value in ("1e-5", "3e-3"):
        run = out / f"agent.learning_rate={value}"
        summary = json.loads((run / "summary.json").read_text())
        assert json.loads((run / "config.json").read_text())["agent"]["learning_rate"] == float(value)
        assert [float(r["final_return"]) for r in rows if r["value"] == value] == summary["final_return_per_seed"]
        mean = sum(summary["final_return_per_seed"]) / 2
        assert f"| {value} | {mean:.3f} +- " in (out / "sweep.md").read_text() and f"| {value} | {mean:.3f}" in proc.stdout
    assert (out / "sweep.png").stat().st_size > 1000
    stamp = (out / "agent.learning_rate=3e-3" / "summary.json").stat().st_mtime_ns
    cli(*args)  # finished values are read back, not trained again
    assert (out / "agent.learning_rate=3e-3" / "summary.json").stat().st_mtime_ns == stamp
    assert list(csv.DictReader(open(out / "sweep.csv"))) == rows


def test_sweep_bad_spec_is_one_line(cli, tmp_path):
    proc = cli("sweep", "learning_rate", "--out", str(tmp_path), check=False)
    assert proc.returncode == 2 and "SECTION.FIELD=V1,V2" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("sweep", "agent.no_such_field=1,2", "--out", str(tmp_path), check=False)
    assert proc.returncode == 2 and "agent.no_such_field" in proc.stderr and not (tmp_path / "sweep.csv").exists()
