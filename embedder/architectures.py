"""The backbone architectures an embedder can use, and how to load weights into them."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from embedder import efficientnet_lite
from embedder.errors import ModelLoadError


@dataclass(frozen=True)
class Architecture:
    """An ImageNet classifier whose pooled features serve as embeddings."""

    name: str
    feature_dimension: int
    classifier: str  # the attribute holding the final classification layer
    build: Callable[[], nn.Module]  # the full classifier, untrained


ARCHITECTURES = {
    architecture.name: architecture
    for architecture in (
        Architecture(
            "efficientnet_lite0",
            efficientnet_lite.FEATURE_DIMENSION,
            "_fc",
            efficientnet_lite.EfficientNetLite0,
        ),
        Architecture("resnet18", 512, "fc", torchvision.models.resnet18),
        Architecture("resnet50", 2048, "fc", torchvision.models.resnet50),
    )
}


def get_architecture(name: str) -> Architecture:
    """Look up an architecture by name."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ModelLoadError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None


def build_backbone(name: str, state_dict: Mapping[str, torch.Tensor], *, source: str) -> nn.Module:
    """Build an architecture from weights (with or without its classifier), classifier removed."""
    architecture = get_architecture(name)
    # Building on the meta device skips random initialisation; every tensor comes from state_dict.
    with torch.device("meta"):
        model = architecture.build()
    has_classifier = any(key.startswith(architecture.classifier + ".") for key in state_dict)
    if not has_classifier:
        setattr(model, architecture.classifier, nn.Identity())
    try:
        model.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as error:
        raise ModelLoadError(f"{source} does not hold {name} weights: {error}") from error
    setattr(model, architecture.classifier, nn.Identity())
    return model.eval()
