"""``ArrayDataset``: a dataset held in memory as numpy arrays, with deterministic, resumable batches.

Every split is a dict ``{"x": float32 [N, *shape] in [0, 1], "y": int32 [N]}``. Training batches
walk through an endless sequence of epochs; epoch ``e`` is the permutation
``numpy.random.default_rng([seed, e]).permutation(N)`` of the split, so batch ``b`` depends on
``(seed, b)`` only: ``batches(..., start=b)`` continues exactly where a run stopped. Other splits
are served in their stored order (cycling), unshuffled.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from rlk.core.errors import RlkError
from rlk.core.interfaces import Dataset, DatasetSpec

TRAIN = "train"


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order of epoch ``epoch`` of an ``n``-example training split under run seed ``seed``."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def batch_indices(n: int, batch_size: int, seed: int, index: int, shuffle: bool = True) -> np.ndarray:
    """Indices of batch ``index`` in the endless sequence of epochs (a batch may span two epochs)."""
    pos = index * batch_size + np.arange(batch_size)
    epoch, within = np.divmod(pos, n)
    if not shuffle:
        return within
    out = np.empty(batch_size, np.int64)
    for e in np.unique(epoch):
        sel = epoch == e
        out[sel] = epoch_permutation(n, seed, int(e))[within[sel]]
    return out


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: ``test_fraction`` of each class, drawn with ``seed``, both sorted."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class ArrayDataset(Dataset):
    """Splits held as arrays; subclasses fill ``self.splits`` (and may set ``num_classes``)."""

    name = "dataset"

    def __init__(self, splits: dict[str, dict[str, np.ndarray]], num_classes: int):
        self.splits = {s: {"x": np.ascontiguousarray(d["x"], np.float32), "y": np.asarray(d["y"], np.int32)}
                       for s, d in splits.items()}
        self.num_classes = num_classes

    @property
    def spec(self) -> DatasetSpec:
        x = self.splits[TRAIN]["x"]
        return DatasetSpec(tuple(x.shape[1:]), self.num_classes, {s: len(d["y"]) for s, d in self.splits.items()})

    def arrays(self, split: str) -> dict[str, np.ndarray]:
        if split not in self.splits:
            raise RlkError(f"dataset '{self.name}' has no split '{split}' (splits: {', '.join(self.splits)})")
        return self.splits[split]

    def batches(self, split: str, batch_size: int, seed: int, start: int = 0) -> Iterator[dict[str, np.ndarray]]:
        data = self.arrays(split)
        n = len(data["y"])
        b = start
        while True:
            idx = batch_indices(n, batch_size, seed, b, shuffle=split == TRAIN)
            yield {k: v[idx] for k, v in data.items()}
            b += 1
