"""Dataset plugins: shapes, splits, deterministic and resumable shuffles, Fashion-MNIST files."""

import gzip
import struct

import numpy as np
import pytest

from rlk.core.errors import RlkError
from rlk.core.data import batch_indices
from rlk.plugins.datasets.sources import FashionConfig, ShapesConfig, make_digits, make_fashion_mnist, make_mnist, make_shapes


def test_digits_and_mnist_shapes_and_disjoint_stratified_splits():
    d = make_digits()
    assert d.spec.shape == (8, 8) and d.spec.num_classes == 10
    assert d.spec.sizes["train"] + d.spec.sizes["test"] == 1797 and 350 <= d.spec.sizes["test"] <= 370
    m = make_mnist()
    assert m.spec.shape == (28, 28) and m.spec.sizes == {"train": 4000, "test": 1000}
    for ds in (d, m):
        tr, te = ds.arrays("train"), ds.arrays("test")
        assert tr["x"].dtype == np.float32 and 0.0 <= tr["x"].min() and tr["x"].max() <= 1.0 and tr["x"].max() > 0.9
        assert set(np.unique(te["y"])) == set(range(10))
        # no test image is also a training image
        train_rows = {r.tobytes() for r in tr["x"].reshape(len(tr["x"]), -1)}
        assert sum(r.tobytes() in train_rows for r in te["x"].reshape(len(te["x"]), -1)) <= 2  # digits has a few duplicates
    np.testing.assert_array_equal(np.bincount(m.arrays("test")["y"]), np.full(10, 100))


def test_shuffles_deterministic_per_seed_and_resumable():
    d = make_digits()
    take = lambda seed, start, n: [b["y"] for b, _ in zip(d.batches("train", 64, seed, start=start), range(n))]
    a, b, c = take(1, 0, 30), take(1, 0, 30), take(2, 0, 30)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    resumed = take(1, 17, 13)
    assert all(np.array_equal(x, y) for x, y in zip(a[17:], resumed))
    # each epoch visits every training example exactly once
    n = d.spec.sizes["train"]
    idx = np.concatenate([batch_indices(n, 50, 5, i) for i in range(n // 50)])
    assert len(np.unique(idx)) == len(idx) == (n // 50) * 50
    full = np.concatenate([batch_indices(n, n, 5, 0), batch_indices(n, n, 5, 1)])
    assert sorted(full[:n]) == list(range(n)) and not np.array_equal(full[:n], full[n:])


def test_synthetic_shapes_seeded():
    a, b = make_shapes(ShapesConfig(num_train=50, num_test=20)), make_shapes(ShapesConfig(num_train=50, num_test=20))
    c = make_shapes(ShapesConfig(num_train=50, num_test=20, seed=1))
    np.testing.assert_array_equal(a.arrays("train")["x"], b.arrays("train")["x"])
    assert not np.array_equal(a.arrays("train")["x"], c.arrays("train")["x"])
    assert a.spec.shape == (16, 16) and a.spec.num_classes == 4 and a.spec.sizes == {"train": 50, "test": 20}


def _write_idx(path, arr):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes())


def test_fashion_mnist_reads_idx_files_and_missing_package_is_one_line(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n, dtype=np.uint8))
    ds = make_fashion_mnist(FashionConfig(path=str(tmp_path)))
    assert ds.spec.shape == (28, 28) and ds.spec.sizes == {"train": 30, "test": 10}
    assert ds.arrays("train")["x"].max() <= 1.0
    with pytest.raises(RlkError, match="apt install dataset-fashion-mnist"):
        make_fashion_mnist(FashionConfig(path=str(tmp_path / "none")))
