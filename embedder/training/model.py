"""The trainable model: the backbone to start from, which of its stages to freeze, and the training head."""

import torch
import torchvision
from torch import nn

from embedder import efficientnet_lite
from embedder.architectures import build_backbone, get_architecture
from embedder.projection_head import ProjectionHead
from embedder.registry import imagenet_state_dict, read_backbone_weights
from embedder.training.config import METRIC_METHODS, TrainConfig


def initial_backbone(config: TrainConfig) -> nn.Module:
    """The backbone to start from, classifier removed: random (seeded by the caller) or pretrained."""
    architecture = get_architecture(config.arch)
    if config.from_scratch:
        model = architecture.build()
        setattr(model, architecture.classifier, nn.Identity())
        zero_init_residuals(model)
        return model
    if config.weights is not None:
        state_dict = read_backbone_weights(config.weights)
        return build_backbone(config.arch, state_dict, source=str(config.weights))
    state_dict = imagenet_state_dict(config.arch, allow_download=False)
    return build_backbone(config.arch, state_dict, source=f"{config.arch} ImageNet weights")


def zero_init_residuals(model: nn.Module) -> None:
    """Start each ResNet residual branch at zero (its last BatchNorm's scale), so every block is
    the identity at first (Goyal et al. 2017, as torchvision's zero_init_residual).

    Without it a from-scratch ResNet-50 maps all images to nearly the same features and SimCLR's
    loss stays at chance level (docs/quality.md).
    """
    for module in model.modules():
        if isinstance(module, torchvision.models.resnet.Bottleneck):
            nn.init.zeros_(module.bn3.weight)
        elif isinstance(module, torchvision.models.resnet.BasicBlock):
            nn.init.zeros_(module.bn2.weight)


def backbone_stages(backbone: nn.Module) -> list[list[nn.Module]]:
    """The backbone's stages from input to output, the units that freeze_stages counts.

    ResNet: the stem (conv1 + bn1), then layer1 to layer4 (5 stages). EfficientNet-Lite0: the stem
    (conv + bn), then its 7 groups of inverted residual blocks (8 stages); its final 1x1 conv head
    is never frozen.
    """
    if isinstance(backbone, torchvision.models.ResNet):
        return [
            [backbone.conv1, backbone.bn1],
            [backbone.layer1],
            [backbone.layer2],
            [backbone.layer3],
            [backbone.layer4],
        ]
    if isinstance(backbone, efficientnet_lite.EfficientNetLite0):
        stages: list[list[nn.Module]] = [[backbone._conv_stem, backbone._bn0]]
        start = 0
        for stage in efficientnet_lite.STAGES:
            stages.append(list(backbone._blocks[start : start + stage.repeats]))
            start += stage.repeats
        return stages
    raise TypeError(f"no stages defined for {type(backbone).__name__}")


def freeze_stages(backbone: nn.Module, count: int) -> list[nn.Module]:
    """Stop gradients through the first count stages; returns their modules, to keep in eval mode."""
    stages = backbone_stages(backbone)
    if not 0 <= count <= len(stages):
        raise ValueError(f"{type(backbone).__name__} has {len(stages)} stages; cannot freeze {count}")
    frozen = [module for stage in stages[:count] for module in stage]
    for module in frozen:
        module.requires_grad_(False)
    return frozen


def embedding_head(config: TrainConfig) -> nn.Module:
    """A linear layer from pooled features to embedding_dim, saved with the embedder; else identity."""
    if config.embedding_dim is None:
        return nn.Identity()
    head = nn.Linear(get_architecture(config.arch).feature_dimension, config.embedding_dim)
    # Orthonormal rows make the untrained head a random projection, which keeps the pretrained
    # features' cosine similarities roughly as they are (Johnson-Lindenstrauss), so training starts
    # from the backbone's retrieval quality rather than from noise.
    nn.init.orthogonal_(head.weight)
    nn.init.zeros_(head.bias)
    return head


def training_head(config: TrainConfig, class_count: int) -> nn.Module:
    """What the loss sees on top of the embedding: a linear classifier over product ids (supervised),
    SimCLR's 2-layer MLP projection head (simclr, supcon), or nothing (the metric losses)."""
    features = config.embedding_dimension
    if config.method == "supervised":
        return nn.Linear(features, class_count)
    if config.method in METRIC_METHODS:
        return nn.Identity()
    return ProjectionHead([features, features, config.projection_dim])


def memory_format(config: TrainConfig) -> torch.memory_format:
    """The tensor layout the run feeds its backbone."""
    return torch.channels_last if config.channels_last else torch.contiguous_format
