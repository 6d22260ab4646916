"""ImageNet weights for torchvision ResNets, read from the local torch hub cache."""

import os
from pathlib import Path

import torch
import torchvision
from torchvision.models import ResNet18_Weights, ResNet50_Weights, WeightsEnum

from embedder.errors import ModelLoadError
from embedder.preprocessing import Preprocessing

DEFAULT_WEIGHTS: dict[str, WeightsEnum] = {
    "resnet18": ResNet18_Weights.DEFAULT,
    "resnet50": ResNet50_Weights.DEFAULT,
}


def weights_preprocessing(weights: WeightsEnum) -> Preprocessing:
    """Return the preprocessing that torchvision's weights.transforms() applies."""
    transforms = weights.transforms()
    if transforms.interpolation != torchvision.transforms.InterpolationMode.BILINEAR:
        raise ModelLoadError(f"{weights} expects {transforms.interpolation} resizing")
    mean, std = transforms.mean, transforms.std
    return Preprocessing(
        resize=transforms.resize_size[0],
        crop=transforms.crop_size[0],
        mean=(mean[0], mean[1], mean[2]),
        std=(std[0], std[1], std[2]),
    )


def cached_weights_path(weights: WeightsEnum) -> Path:
    """Where torch.hub keeps the file for these weights (under $TORCH_HOME/hub/checkpoints)."""
    url: str = weights.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def imagenet_state_dict(name: str, *, allow_download: bool) -> dict[str, torch.Tensor]:
    """Load the default ImageNet weights of a ResNet, downloading only when allowed."""
    weights = DEFAULT_WEIGHTS[name]
    path = cached_weights_path(weights)
    if path.is_file():
        try:
            state: dict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError) as error:
            raise ModelLoadError(f"cannot read {name} weights from {path}: {error}") from error
        return state
    if not allow_download:
        raise ModelLoadError(
            f"{name} weights ({weights}) are not in the torch hub cache: {path} is missing "
            f"(the cache lives under TORCH_HOME, now {Path(torch.hub.get_dir()).parent}). "
            f"Allow downloads (allow_download=True), put {weights.url} there, "
            f"or pass '{name}:/path/to/state_dict.pth' or a Vitrine checkpoint path."
        )
    try:
        downloaded: dict[str, torch.Tensor] = weights.get_state_dict(progress=False, check_hash=True)
        return downloaded
    except (OSError, RuntimeError) as error:
        raise ModelLoadError(f"cannot download {name} weights from {weights.url}: {error}") from error
