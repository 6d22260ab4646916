"""Tests for the P products x K photos batch sampler."""

from collections import Counter

import pytest

from embedder.training.product_batch_sampler import ProductBatchSampler

# Ten products with 2 to 11 photos: some have fewer than K = 4, most have a partial last group.
LABELS = [label for label in range(10) for _ in range(label + 2)]


def batches(sampler: ProductBatchSampler, epoch: int = 0) -> list[list[int]]:
    sampler.set_epoch(epoch)
    return list(sampler)


def test_each_batch_holds_p_products_with_k_photos_each() -> None:
    sampler = ProductBatchSampler(LABELS, products_per_batch=3, photos_per_product=4, seed=0)
    produced = batches(sampler)
    assert len(produced) == len(sampler)
    for batch in produced:
        counts = Counter(LABELS[index] for index in batch)
        assert len(counts) == 3
        assert set(counts.values()) == {4}


def test_every_photo_is_used_each_epoch_with_little_repetition() -> None:
    sampler = ProductBatchSampler(LABELS, products_per_batch=3, photos_per_product=4, seed=0)
    for epoch in range(3):
        used = Counter(index for batch in batches(sampler, epoch) for index in batch)
        assert set(used) == set(range(len(LABELS)))
        # 2..11 photos make 20 groups of 4, so 7 batches of 3 groups (one padded with a spare group):
        # the 65 photos are used 84 times.
        assert len(sampler) == 7
        assert sum(used.values()) == 7 * 3 * 4


def test_products_with_fewer_than_k_photos_repeat_them() -> None:
    labels = [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    sampler = ProductBatchSampler(labels, products_per_batch=3, photos_per_product=4, seed=5)
    for batch in batches(sampler):
        product_zero = [index for index in batch if labels[index] == 0]
        assert sorted(set(product_zero)) == [0, 1]
        assert len(product_zero) == 4


def test_a_group_repeats_no_photo_when_the_product_has_k() -> None:
    sampler = ProductBatchSampler(LABELS, products_per_batch=2, photos_per_product=3, seed=1)
    photos = Counter(LABELS)
    for batch in batches(sampler):
        for start in range(0, len(batch), 3):
            group = batch[start : start + 3]
            if photos[LABELS[group[0]]] >= 3:
                assert len(set(group)) == 3


def test_batches_depend_only_on_seed_and_epoch() -> None:
    first = ProductBatchSampler(LABELS, 3, 4, seed=7)
    second = ProductBatchSampler(LABELS, 3, 4, seed=7)
    assert batches(first, epoch=2) == batches(second, epoch=2)
    assert batches(first, epoch=2) != batches(first, epoch=3)
    assert batches(first) != batches(ProductBatchSampler(LABELS, 3, 4, seed=8))


def test_needs_at_least_p_products() -> None:
    with pytest.raises(ValueError, match="distinct products"):
        ProductBatchSampler([0, 0, 1, 1], products_per_batch=3, photos_per_product=2)
    with pytest.raises(ValueError, match="positive"):
        ProductBatchSampler(LABELS, products_per_batch=0, photos_per_product=2)
