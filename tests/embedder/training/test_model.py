"""Tests for the trainable model: the backbone's stages, its initialisation and freezing."""

from pathlib import Path

import pytest
import torch

from embedder.efficientnet_lite import EfficientNetLite0
from embedder.training.config import TrainConfig
from embedder.training.loop import TrainingRun
from embedder.training.model import (
    backbone_stages,
    embedding_head,
    freeze_stages,
    initial_backbone,
    training_head,
)


def test_stages_are_the_stem_then_the_block_groups() -> None:
    resnet = initial_backbone(TrainConfig("resnet18", "supervised", Path("."), Path("."), from_scratch=True))
    assert len(backbone_stages(resnet)) == 5
    assert len(backbone_stages(EfficientNetLite0(num_classes=None))) == 8


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_from_scratch_resnet_blocks_start_as_the_identity(arch: str) -> None:
    # Zero-initialised residual branches: without them a from-scratch ResNet-50 never left
    # SimCLR's chance-level loss on the Grocery Store data (docs/quality.md).
    backbone = initial_backbone(TrainConfig(arch, "simclr", Path("."), Path("."), from_scratch=True))
    block = backbone.layer2[1]  # type: ignore[index]  # no downsampling: input and output shapes agree
    width = block.conv1.in_channels
    backbone.train()
    features = torch.randn(2, width, 8, 8)
    assert torch.allclose(block(features), torch.relu(features), atol=1e-6)


def test_frozen_stages_get_no_gradients_and_keep_their_statistics() -> None:
    config = TrainConfig("resnet18", "supervised", Path("."), Path("."), from_scratch=True, freeze_stages=2)
    run = TrainingRun.start(config, class_count=3, steps_per_epoch=1)
    run.set_training_mode()
    backbone = run.backbone
    assert not backbone.bn1.training and not backbone.layer1.training and backbone.layer2.training
    backbone(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in [*backbone.conv1.parameters(), *backbone.layer1.parameters()])
    assert all(p.grad is not None for p in backbone.layer2.parameters())
    with pytest.raises(ValueError, match="5 stages"):
        freeze_stages(backbone, 6)


def test_embedding_head_projects_pooled_features_to_the_chosen_size() -> None:
    config = TrainConfig("resnet18", "proxyanchor", Path("."), Path("."), embedding_dim=64)
    head = embedding_head(config)
    assert isinstance(head, torch.nn.Linear) and head.weight.shape == (64, 512)
    # Orthonormal rows: the untrained head is a projection that keeps the features' geometry.
    assert torch.allclose(head.weight @ head.weight.T, torch.eye(64), atol=1e-5)
    assert head(torch.randn(3, 512)).shape == (3, 64)
    assert isinstance(
        embedding_head(TrainConfig("resnet18", "proxyanchor", Path("."), Path("."))), torch.nn.Identity
    )
    # The metric losses see the embedding itself; the others get their head on top of it.
    assert isinstance(training_head(config, class_count=5), torch.nn.Identity)
    classifier = training_head(
        TrainConfig("resnet18", "supervised", Path("."), Path("."), embedding_dim=64), 5
    )
    assert isinstance(classifier, torch.nn.Linear) and classifier.in_features == 64
