"""Turn images into normalised model input tensors."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torchvision.transforms.v2 import functional

from embedder.images import to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """Resize the shorter side, centre-crop a square, scale to [0, 1] and normalise per channel."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise ValueError(f"need 0 < crop <= resize, got crop={self.crop} resize={self.resize}")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError("mean and std need one value per RGB channel")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """Return the image as a float32 tensor of shape (3, crop, crop)."""
        resized = functional.resize(
            to_rgb(image),
            [self.resize],
            interpolation=functional.InterpolationMode.BILINEAR,
            antialias=True,
        )
        pixels = functional.pil_to_tensor(functional.center_crop(resized, [self.crop]))
        scaled = functional.to_dtype(pixels, torch.float32, scale=True)
        normalised: torch.Tensor = functional.normalize(scaled, list(self.mean), list(self.std))
        return normalised

    def to_dict(self) -> dict[str, Any]:
        """Describe these settings with plain types, as stored in checkpoints."""
        return {
            "resize": self.resize,
            "crop": self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "Preprocessing":
        """Rebuild settings written by to_dict."""
        return cls(
            resize=int(values["resize"]),
            crop=int(values["crop"]),
            mean=_triple(values["mean"]),
            std=_triple(values["std"]),
        )


def _triple(values: Sequence[float]) -> tuple[float, float, float]:
    """Check for exactly three channel values."""
    if len(values) != 3:
        raise ValueError(f"expected three channel values, got {list(values)}")
    return (float(values[0]), float(values[1]), float(values[2]))


IMAGENET = Preprocessing(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)
