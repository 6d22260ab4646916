"""Random training augmentations (PIL RGB image in, normalised (3, size, size) float tensor out), and
the deterministic preprocessing that embeds images for a model trained with them.

Both pipelines end with the model's own normalisation (EfficientNet-Lite0: mean = std = 0.5;
ResNet: ImageNet mean and std), taken from its Preprocessing, so that training sees the inputs
that embedding will.
"""

from collections.abc import Callable

import torch
from PIL import Image
from torchvision.transforms import v2

from embedder.preprocessing import Preprocessing

Transform = Callable[[Image.Image], torch.Tensor]


def _to_normalised_tensor(preprocessing: Preprocessing) -> list[v2.Transform]:
    """Convert to a float tensor in [0, 1] and normalise as the model expects."""
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(list(preprocessing.mean), list(preprocessing.std)),
    ]


def supervised_augmentation(size: int, preprocessing: Preprocessing) -> Transform:
    """The standard classification recipe: random resized crop, horizontal flip, colour jitter."""
    transform: Transform = v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            # Hue stays nearly fixed: colour is what tells a red apple variety from a green one.
            v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.02),
            *_to_normalised_tensor(preprocessing),
        ]
    )
    return transform


def contrastive_augmentation(size: int, preprocessing: Preprocessing) -> Transform:
    """SimCLR's view generator (Chen et al. 2020, appendix A), milder on colour for products.

    SimCLR crops down to 8% of the image; products fill only part of a shelf photo, so crops keep at
    least 20% here. Strong colour distortion stops the network from matching views by their colour
    histogram alone, but hue is what distinguishes many products, so hue jitter is 0.05, not 0.1.
    """
    blur_kernel = max(3, (size // 10) | 1)  # about a tenth of the image, odd
    transform: Transform = v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.05)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.RandomApply([v2.GaussianBlur(blur_kernel, sigma=(0.1, 2.0))], p=0.5),
            *_to_normalised_tensor(preprocessing),
        ]
    )
    return transform


def catalog_augmentation(size: int, preprocessing: Preprocessing) -> Transform:
    """Heavy augmentation of a product's one catalog image, to look like a shop photo of it.

    A catalog image is a studio shot, centred and evenly lit; shop photos show the product cropped,
    at an angle, in other light, blurred. Each product has a single catalog image, so without strong
    changes the network would learn that one image rather than the product: crops down to 15%,
    perspective, rotation, light and blur, with hue kept nearly fixed as for the shop photos.
    """
    blur_kernel = max(3, (size // 10) | 1)
    transform: Transform = v2.Compose(
        [
            v2.RandomResizedCrop(size, scale=(0.15, 1.0), ratio=(0.6, 1.67), antialias=True),
            v2.RandomHorizontalFlip(),
            # White fill: the corners continue the studio backdrop instead of adding black edges.
            v2.RandomPerspective(distortion_scale=0.4, p=0.5, fill=255),
            v2.RandomRotation(20, fill=255),
            v2.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.03),
            v2.RandomApply([v2.GaussianBlur(blur_kernel, sigma=(0.1, 2.0))], p=0.5),
            *_to_normalised_tensor(preprocessing),
        ]
    )
    return transform


def evaluation_preprocessing(size: int, preprocessing: Preprocessing) -> Preprocessing:
    """The deterministic resize and centre crop that embeds images for a model trained at size."""
    # Keep the usual 256 -> 224 ratio between the resized shorter side and the crop.
    return Preprocessing(
        resize=round(size * 256 / 224), crop=size, mean=preprocessing.mean, std=preprocessing.std
    )
