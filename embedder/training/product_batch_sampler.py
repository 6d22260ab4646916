"""Batches of P products x K photos each, as supervised contrastive and metric learning need."""

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class ProductBatchSampler(Sampler[list[int]]):
    """Yields index lists of exactly P distinct labels with K indices each (batch size P * K).

    Each epoch every index is used at least once: the photos of each label are shuffled and cut
    into groups of K (the last group, or a label with fewer than K photos, is topped up by drawing
    that label's photos again), and each batch takes one group from each of the P labels with the
    most groups left. That schedule needs the fewest batches possible, max(ceil(groups / P),
    most groups of one label); batches short of P labels with groups left are filled with fresh
    groups of random other labels. The batch order is then shuffled. Iteration is determined by
    (seed, epoch): call set_epoch before each epoch, as with DistributedSampler.
    """

    def __init__(
        self, labels: Sequence[int], products_per_batch: int, photos_per_product: int, seed: int = 0
    ):
        if products_per_batch < 1 or photos_per_product < 1:
            raise ValueError("products_per_batch and photos_per_product must be positive")
        self.products_per_batch = products_per_batch
        self.photos_per_product = photos_per_product
        self.seed = seed
        self.epoch = 0
        by_label: dict[int, list[int]] = {}
        for index, label in enumerate(labels):
            by_label.setdefault(int(label), []).append(index)
        if len(by_label) < products_per_batch:
            raise ValueError(
                f"a batch needs {products_per_batch} distinct products but the data has {len(by_label)}"
            )
        self._indices = [np.array(indices) for _label, indices in sorted(by_label.items())]

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose batches __iter__ yields."""
        self.epoch = epoch

    def _group_counts(self) -> list[int]:
        """How many groups of K each label is cut into."""
        k = self.photos_per_product
        return [-(-len(indices) // k) for indices in self._indices]

    def __len__(self) -> int:
        counts = self._group_counts()
        return max(-(-sum(counts) // self.products_per_batch), max(counts))

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        groups = [self._groups(indices, rng) for indices in self._indices]
        batches: list[list[int]] = []
        for _ in range(len(self)):
            # Random keys break ties, so equal-sized labels share batches in a random order.
            order = np.lexsort(
                (rng.random(len(groups)), -np.array([len(label_groups) for label_groups in groups]))
            )
            chosen = [int(label) for label in order[: self.products_per_batch] if groups[label]]
            batch = [index for label in chosen for index in groups[label].pop()]
            spare = np.setdiff1d(np.arange(len(groups)), chosen)
            for label in rng.choice(spare, self.products_per_batch - len(chosen), replace=False):
                batch.extend(self._groups(self._indices[label], rng)[0])
            batches.append(batch)
        for position in rng.permutation(len(batches)):
            yield batches[position]

    def _groups(self, indices: np.ndarray, rng: np.random.Generator) -> list[list[int]]:
        """Shuffle one label's indices into groups of K, topping up the last from the same label."""
        k = self.photos_per_product
        shuffled = rng.permutation(indices)
        shortfall = -len(shuffled) % k
        if shortfall:
            # Top up from the photos outside the last group, so a group repeats a photo only when
            # the label has fewer than K.
            outside = shuffled[: len(shuffled) - (k - shortfall)]
            if len(outside) >= shortfall:
                extra = rng.choice(outside, shortfall, replace=False)
            else:
                extra = rng.choice(indices, shortfall, replace=True)
            shuffled = np.concatenate([shuffled, extra])
        return [[int(index) for index in shuffled[start : start + k]] for start in range(0, len(shuffled), k)]
