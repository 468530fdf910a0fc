"""Checkpoints restore exactly what was saved, including zero-size leaves orbax cannot write; a
checkpoint that does not fit the state is a one-line error; retention keeps the last N and the best;
a damaged checkpoint falls back to the newest intact one with a one-line warning."""

import jax.numpy as jnp
import numpy as np
import pytest

from rlk.core.checkpoint import Checkpointer
from rlk.core.errors import RlkError


def test_zero_size_leaves_survive_save_and_restore(tmp_path):
    # pgx's MinAtar Asterix state holds a zero-length field: saving it used to fail in orbax
    state = {"params": jnp.arange(6.0).reshape(2, 3), "empty": jnp.zeros((4, 0), jnp.int32),
             "host": np.ones((0,), np.float32), "step": jnp.int32(7)}
    saver = Checkpointer(tmp_path)
    saver.save(3, state, {"train_s": 1.5})
    saver.close()
    template = {"params": jnp.zeros((2, 3)), "empty": jnp.zeros((4, 0), jnp.int32),
                "host": np.zeros((0,), np.float32), "step": jnp.int32(0)}
    loader = Checkpointer(tmp_path)
    call, restored, meta = loader.restore(template, ["train_s"])
    loader.close()
    assert call == 3 and meta == {"train_s": 1.5}
    for key in state:
        got, want = np.asarray(restored[key]), np.asarray(state[key])
        assert got.shape == want.shape and got.dtype == want.dtype, key
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("template", [
    {"params": jnp.zeros((3, 2)), "step": jnp.int32(0)},  # another shape (e.g. a transposed layer)
    {"params": jnp.zeros((2, 3)), "step": jnp.int32(0), "extra": jnp.zeros(1)},  # another tree
    {"params": jnp.zeros((2, 3))},
], ids=["shape", "more-leaves", "fewer-leaves"])
def test_a_checkpoint_of_another_state_is_a_one_line_error(tmp_path, template):
    saver = Checkpointer(tmp_path)
    saver.save(2, {"params": jnp.ones((2, 3)), "step": jnp.int32(1)}, {"train_s": 0.5})
    saver.close()
    loader = Checkpointer(tmp_path)
    with pytest.raises(RlkError) as err:
        loader.restore(template, ["train_s"])
    loader.close()
    message = str(err.value)
    assert "\n" not in message and "step 2" in message and str(tmp_path) in message


def test_a_checkpoint_of_an_older_format_is_refused(tmp_path, monkeypatch):
    import rlk.core.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "FORMAT", 1)
    saver = Checkpointer(tmp_path)
    saver.save(1, {"w": jnp.ones((4, 4))}, {"train_s": 0.5})  # a square layer: same shape either way
    saver.close()
    monkeypatch.setattr(checkpoint, "FORMAT", 2)
    loader = Checkpointer(tmp_path)
    with pytest.raises(RlkError, match="has format 1, this rlk reads format 2"):
        loader.restore({"w": jnp.zeros((4, 4))}, ["train_s"])
    loader.close()


def _saved(tmp_path, steps_returns, keep=2, keep_best=False):
    """A checkpoint folder with one save per ``(step, eval_return)``; each state is ``{"w": step}``."""
    saver = Checkpointer(tmp_path, keep, keep_best)
    for step, ret in steps_returns:
        saver.save(step, {"w": jnp.full((64,), float(step))}, {"train_s": 0.5}, ret)
    saver.close()
    return tmp_path / "checkpoints"


def _restore(tmp_path, which=None):
    loader = Checkpointer(tmp_path)
    try:
        step, state, _ = loader.restore({"w": jnp.zeros(64)}, ["train_s"], which)
    finally:
        loader.close()
    assert float(state["w"][0]) == step  # the state saved at that step, not another's
    return step


def test_retention_keeps_the_last_n_and_the_best(tmp_path):
    folder = _saved(tmp_path, [(100, 0.5), (200, 0.9), (300, None), (400, 0.1), (500, 0.2)], keep=2, keep_best=True)
    assert sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) == [200, 400, 500]
    assert _restore(tmp_path, "best") == 200 and _restore(tmp_path, "last") == 500 and _restore(tmp_path, 400) == 400


def test_without_keep_best_only_the_last_n_are_kept(tmp_path):
    folder = _saved(tmp_path, [(100, 0.9), (200, 0.1), (300, 0.2), (400, 0.3)], keep=3)
    assert sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) == [200, 300, 400]
    assert _restore(tmp_path, "best") == 400  # the best of those kept


@pytest.mark.parametrize("which,message", [(250, r"no checkpoint of step 250 \(it holds 100, 200\)"),
                                           ("best", "no best checkpoint")])
def test_an_unknown_step_or_no_best_is_a_one_line_error(tmp_path, which, message):
    _saved(tmp_path, [(100, None), (200, None)])
    with pytest.raises(RlkError, match=message) as err:
        _restore(tmp_path, which)
    assert "\n" not in str(err.value)


def _truncate(step_dir):
    for f in step_dir.rglob("*"):
        if f.is_file() and f.parent.name == "d":  # the data files of orbax's OCDBT store
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _drop_manifests(step_dir):
    for f in step_dir.rglob("manifest.ocdbt"):
        f.unlink()


@pytest.mark.parametrize("damage", ["truncated", "no-manifest", "empty-folder"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, capsys, damage):
    folder = _saved(tmp_path, [(100, None), (200, None)])
    if damage == "truncated":
        _truncate(folder / "200")
    elif damage == "no-manifest":
        _drop_manifests(folder / "200")
    latest, intact = (300, 200) if damage == "empty-folder" else (200, 100)
    if damage == "empty-folder":
        (folder / "300").mkdir()
    assert _restore(tmp_path) == intact
    warning = capsys.readouterr().err.strip()
    assert "\n" not in warning and warning.startswith(f"warning: checkpoint {latest} in {folder} is damaged")
    assert warning.endswith(f"using checkpoint {intact}")
    with pytest.raises(RlkError, match=f"checkpoint {latest} in .* is damaged"):  # asked for by step: no fallback
        _restore(tmp_path, latest)


def test_no_intact_checkpoint_is_a_one_line_error(tmp_path):
    folder = _saved(tmp_path, [(100, None), (200, None)])
    _truncate(folder / "100")
    _drop_manifests(folder / "200")
    with pytest.raises(RlkError, match=r"no intact checkpoint in .*: all 2 are damaged \(newest, 200: ") as err:
        _restore(tmp_path)
    assert "\n" not in str(err.value)
