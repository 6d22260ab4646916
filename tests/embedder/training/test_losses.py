"""Tests for the metric-learning losses: they train, they are chosen by method, proxies can be set."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from embedder.training.config import TrainConfig
from embedder.training.loop import TrainingRun
from embedder.training.losses import MultiSimilarityLoss, ProxyAnchorLoss, training_loss
from embedder.training.nt_xent_loss import NTXentLoss


def separable_case() -> tuple[torch.Tensor, torch.Tensor]:
    """4 classes x 4 points in 8-d, each class around its own centre: a linear map can separate them."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 8, generator=generator) * 2
    labels = torch.arange(4).repeat_interleave(4)
    return centres[labels] + 0.3 * torch.randn(16, 8, generator=generator), labels


@pytest.mark.parametrize("method", ["multisimilarity", "proxyanchor"])
def test_each_loss_falls_when_a_linear_map_learns_a_separable_case(method: str) -> None:
    points, labels = separable_case()
    torch.manual_seed(0)
    # A random map mixes the classes; the loss must be able to tell it to pull them apart.
    model = nn.Linear(8, 4)
    config = TrainConfig("resnet18", method, Path("."), Path("."), embedding_dim=4)
    loss_function = training_loss(config, class_count=4)
    optimizer = torch.optim.Adam([*model.parameters(), *loss_function.parameters()], lr=0.05)
    losses = []
    for _ in range(30):
        loss = loss_function(model(points), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0 and losses[-1] < 0.5 * losses[0]


def test_methods_get_their_losses() -> None:
    def loss_of(method: str) -> nn.Module:
        return training_loss(TrainConfig("resnet18", method, Path("."), Path(".")), class_count=3)

    assert isinstance(loss_of("supervised"), nn.CrossEntropyLoss)
    assert isinstance(loss_of("supcon"), NTXentLoss) and isinstance(loss_of("simclr"), NTXentLoss)
    assert isinstance(loss_of("multisimilarity"), MultiSimilarityLoss)
    proxy_anchor = loss_of("proxyanchor")
    assert isinstance(proxy_anchor, ProxyAnchorLoss)
    # One proxy per product, in the embedding space: resnet18's 512 pooled features here.
    assert proxy_anchor.proxies.shape == (3, 512)
    assert [name for name, _ in proxy_anchor.named_parameters()] == ["loss.proxies"]
    assert not list(loss_of("multisimilarity").parameters())


def test_multisimilarity_is_zero_with_a_gradient_when_no_pair_is_mined() -> None:
    embeddings = torch.randn(4, 8, requires_grad=True)
    loss = MultiSimilarityLoss()(embeddings, torch.arange(4))  # no positives: nothing to mine
    loss.backward()
    assert loss.item() == 0.0 and embeddings.grad is not None


def test_proxies_can_start_at_given_vectors() -> None:
    loss_function = ProxyAnchorLoss(class_count=4, embedding_dimension=3)
    untouched = loss_function.proxies[[0, 2]].detach().clone()
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss_function.set_proxies(torch.tensor([1, 3]), vectors)
    assert torch.equal(loss_function.proxies[[1, 3]].detach(), vectors)
    assert torch.equal(loss_function.proxies[[0, 2]].detach(), untouched)
    # Photos that sit on their product's proxy score lower than photos on another product's.
    labels = torch.tensor([1, 3])
    assert loss_function(vectors, labels) < loss_function(vectors.flip(0), labels)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU, which CI's machines never have")
def test_proxies_on_the_gpu_start_at_vectors_from_the_cpu() -> None:
    # The catalog's vectors come back from the embedder on the CPU while the run trains on the GPU.
    loss_function = ProxyAnchorLoss(class_count=4, embedding_dimension=3).to("cuda")
    vectors = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss_function.set_proxies(torch.tensor([1, 3]), vectors)
    assert loss_function.proxies.device.type == "cuda"
    assert torch.equal(loss_function.proxies[[1, 3]].detach().cpu(), vectors)


def test_proxies_and_embedding_head_survive_a_resume() -> None:
    config = TrainConfig("resnet18", "proxyanchor", Path("."), Path("."), from_scratch=True, embedding_dim=8)
    run = TrainingRun.start(config, class_count=3, steps_per_epoch=1)
    run.loss.set_proxies(torch.arange(3), torch.eye(3, 8))
    state = run.state_dict(epoch=1, history=[])
    resumed = TrainingRun.start(replace(config, seed=1), class_count=3, steps_per_epoch=1)
    assert not torch.equal(resumed.loss.proxies, run.loss.proxies)
    resumed.load_state_dict(state)
    assert torch.equal(resumed.loss.proxies, run.loss.proxies)
    assert torch.equal(resumed.embedding_head.weight, run.embedding_head.weight)
