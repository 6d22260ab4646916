"""Tests for the NT-Xent (SimCLR) and supervised contrastive (SupCon) loss."""

import math

import pytest
import torch

from embedder.training.nt_xent_loss import NTXentLoss


def reference_loss(
    z_a: torch.Tensor, z_b: torch.Tensor, temperature: float, labels: list[int] | None = None
) -> float:
    """The loss written out pair by pair, as in the papers' equations."""
    z = [vector / vector.norm() for vector in torch.cat([z_a, z_b]).double()]
    n = len(z_a)
    # Without labels, view i of z_a and view i of z_b form the only positive pair.
    per_view = list(range(n)) if labels is None else labels
    both = per_view + per_view
    total = 0.0
    for i in range(2 * n):
        denominator = sum(math.exp(float(z[i] @ z[k]) / temperature) for k in range(2 * n) if k != i)
        positives = [p for p in range(2 * n) if p != i and both[p] == both[i]]
        total += -sum(
            math.log(math.exp(float(z[i] @ z[p]) / temperature) / denominator) for p in positives
        ) / len(positives)
    return total / (2 * n)


def views(n: int = 6, dimension: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two seeded batches of embeddings, each row of z_b near the same row of z_a."""
    generator = torch.Generator().manual_seed(seed)
    z_a = torch.randn(n, dimension, generator=generator)
    return z_a, z_a + 0.5 * torch.randn(n, dimension, generator=generator)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_unsupervised_loss_matches_reference(temperature: float) -> None:
    z_a, z_b = views()
    loss = NTXentLoss(temperature)(z_a, z_b)
    assert loss.item() == pytest.approx(reference_loss(z_a, z_b, temperature), rel=1e-5)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_supervised_loss_matches_reference(temperature: float) -> None:
    z_a, z_b = views(n=8, seed=1)
    labels = [0, 1, 0, 2, 1, 0, 3, 2]
    loss = NTXentLoss(temperature)(z_a, z_b, torch.tensor(labels))
    assert loss.item() == pytest.approx(reference_loss(z_a, z_b, temperature, labels), rel=1e-5)


def test_distinct_labels_give_the_unsupervised_loss() -> None:
    z_a, z_b = views(seed=2)
    loss = NTXentLoss(0.2)
    assert loss(z_a, z_b, torch.arange(len(z_a)) * 7).item() == pytest.approx(loss(z_a, z_b).item())


def test_lower_temperature_sharpens_the_loss() -> None:
    # Aligned views: each positive is the most similar candidate, so a colder softmax puts more
    # mass on it and the loss falls toward zero.
    z_a, z_b = views(dimension=64, seed=3)
    z_b = z_a + 0.01 * z_b
    losses = [NTXentLoss(temperature)(z_a, z_b).item() for temperature in (1.0, 0.5, 0.1)]
    assert losses[0] > losses[1] > losses[2]
    assert losses[2] < 0.01


def test_is_finite_and_has_gradients_at_a_very_low_temperature() -> None:
    z_a, _ = views(seed=4)
    z_a.requires_grad_(True)
    loss = NTXentLoss(0.001)(z_a, z_a.detach().clone())
    loss.backward()
    assert torch.isfinite(loss)
    assert z_a.grad is not None and torch.isfinite(z_a.grad).all()


def test_rejects_bad_arguments() -> None:
    z_a, z_b = views()
    with pytest.raises(ValueError, match="temperature"):
        NTXentLoss(0.0)
    with pytest.raises(ValueError, match="same shape"):
        NTXentLoss()(z_a, z_b[:-1])
    with pytest.raises(ValueError, match="labels"):
        NTXentLoss()(z_a, z_b, torch.zeros(len(z_a) + 1, dtype=torch.long))
