"""The Embedder: a model and its preprocessing, turning images into unit vectors."""

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch import nn
from torch.nn import functional

from embedder.images import load_image
from embedder.preprocessing import Preprocessing


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a set of embeddings: vectors from different models never mix."""

    name: str  # architecture, e.g. "efficientnet_lite0"
    weights: str  # where the weights came from, e.g. "imagenet" or "file:<sha256[:12]>"
    dimension: int

    @property
    def key(self) -> str:
        """A stable slug of [a-z0-9_], e.g. "efficientnet_lite0__imagenet__1280"."""
        return f"{_slug(self.name)}__{_slug(self.weights)}__{self.dimension}"


def _slug(text: str) -> str:
    """Lower-case text with every run of other characters as one underscore, none at the ends."""
    # Single underscores inside each part keep "__" free to separate the parts.
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "none"


class Embedder:
    """Embeds images with one model: float32 rows of unit L2 norm."""

    def __init__(
        self,
        model: nn.Module,
        preprocessing: Preprocessing,
        info: ModelInfo,
        *,
        device: str | torch.device = "cpu",
        channels_last: bool = True,
        flip_average: bool = False,
        multi_crop: bool = False,
    ) -> None:
        self.info = info
        # Test-time augmentation: each image's vector is the mean of its views' vectors: its mirror
        # image (flip_average, twice the work) and its four corners (multi_crop, five times).
        # docs/quality.md measures what they give (evaluate --flip, --multi-crop); both are off.
        self.flip_average = flip_average
        self.multi_crop = multi_crop
        self.preprocessing = preprocessing
        self.device = torch.device(device)
        # Channels-last lets oneDNN run convolutions without reordering; a backbone that runs outside
        # PyTorch (ONNX Runtime) wants plain contiguous NCHW instead.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.eval().requires_grad_(False).to(device=self.device, dtype=torch.float32)
        self._model = model.to(memory_format=self.memory_format)

    @property
    def model(self) -> nn.Module:
        """The backbone, in eval mode with gradients off."""
        return self._model

    def __repr__(self) -> str:
        return f"Embedder({self.info.key!r}, device={str(self.device)!r})"

    def embed(self, images: Sequence[Image.Image], *, batch_size: int = 32) -> npt.NDArray[np.float32]:
        """Embed images; returns shape (len(images), dimension), each row L2-normalised."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        vectors = np.empty((len(images), self.info.dimension), dtype=np.float32)
        for start in range(0, len(images), batch_size):
            batch = torch.stack(
                [self.preprocessing.to_tensor(image) for image in images[start : start + batch_size]]
            )
            vectors[start : start + len(batch)] = self.embed_batch(batch)
        return vectors

    def embed_batch(self, batch: torch.Tensor) -> npt.NDArray[np.float32]:
        """Embed preprocessed images of shape (N, 3, crop, crop); returns (N, dimension) unit rows."""
        # float32 on a GPU too, unlike training: an index holds vectors embedded on different
        # machines (a catalog on a GPU, queries on a CPU server), and bfloat16 moved them too far
        # for that (docs/quality.md); a small model's embedding is bound by decoding anyway.
        with torch.inference_mode():
            batch = batch.to(self.device, dtype=torch.float32, memory_format=self.memory_format)
            views = [batch]
            if self.flip_average:
                views.append(batch.flip(-1))
            if self.multi_crop:
                views.extend(corner_crops(batch))
            features = torch.stack(
                [functional.normalize(self._model(view).float(), dim=1) for view in views]
            ).sum(0)
            vectors: npt.NDArray[np.float32] = functional.normalize(features, dim=1).cpu().numpy()
        return vectors

    def embed_paths(
        self, paths: Sequence[str | os.PathLike[str]], *, batch_size: int = 32
    ) -> npt.NDArray[np.float32]:
        """Load and embed image files, batch by batch; raises ImageLoadError naming a bad file."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        vectors = np.empty((len(paths), self.info.dimension), dtype=np.float32)
        # Load one batch at a time so that a long list of paths never sits in memory as pixels.
        for start in range(0, len(paths), batch_size):
            images = [load_image(path) for path in paths[start : start + batch_size]]
            vectors[start : start + len(images)] = self.embed(images, batch_size=batch_size)
        return vectors


# Each corner view covers this share of the side: large enough to keep the product in view.
CORNER_SHARE = 7 / 8


def corner_crops(batch: torch.Tensor) -> list[torch.Tensor]:
    """The four corners of each image in a (N, 3, H, W) batch, each resized back to H x W."""
    height, width = batch.shape[-2:]
    rows, columns = round(height * CORNER_SHARE), round(width * CORNER_SHARE)
    corners = [
        batch[..., :rows, :columns],
        batch[..., :rows, -columns:],
        batch[..., -rows:, :columns],
        batch[..., -rows:, -columns:],
    ]
    return [
        functional.interpolate(corner, size=(height, width), mode="bilinear", align_corners=False)
        for corner in corners
    ]
