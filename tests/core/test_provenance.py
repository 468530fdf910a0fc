import json
import shutil
import subprocess

import pytest

from rlk.core import provenance


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_working_folders_commit_is_recorded(tmp_path, monkeypatch):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (tmp_path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a")
    monkeypatch.chdir(tmp_path)
    info = provenance.collect()
    assert info["git"]["cwd"] == {"commit": git("rev-parse", "HEAD").strip(), "dirty": False,
                                  "root": str(tmp_path.resolve())}
    (tmp_path / "a.txt").write_text("b")
    assert provenance.collect()["git"]["cwd"]["dirty"] is True


def test_no_git_leaves_the_commit_out_and_a_resume_appends_its_launch(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # git cannot be found
    first = provenance.record(tmp_path)
    assert first["git"] == {} and first["versions"]["jax"] and first["machine"]["device_count"] >= 1
    provenance.record(tmp_path, {"step": 2, "env_steps": 2048})
    data = json.loads((tmp_path / provenance.FILE).read_text())
    assert data["started_at"] == first["started_at"] and [r["resumed_at"] for r in data["resumes"]] == [
        {"step": 2, "env_steps": 2048}]
