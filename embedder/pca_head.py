"""Smaller vectors from a trained model: a linear head of the catalog's principal axes (PCA).

`vitrine reduce --model SPEC --photos FOLDER [--photos FOLDER...] --dimension 256 --out FILE.pt`
embeds the photos with the model, finds the first `dimension` principal axes of those unit
vectors, and writes a Vitrine checkpoint: the model's backbone and a head that normalises the
backbone's features, subtracts the photos' mean and projects onto the axes (with --whiten, each
axis also divided by its standard deviation). The embedder normalises the head's output as it
does every model's, so search compares unit vectors of `dimension` floats. The file is a model
of its own (its key names the file), so switching to it builds its own collection.

Fit on photos like those the model will embed, the catalog's own (the image store folder, or a
Grocery Store dataset/'s train/ and iconic-images-and-descriptions/ folders), never on the
photos it will be judged on. docs/quality.md compares it with a head trained at that width.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from embedder.architectures import get_architecture
from embedder.checkpoint import load_checkpoint, save_checkpoint
from embedder.embedding import Embedder, ModelInfo
from embedder.errors import ModelLoadError
from embedder.preprocessing import Preprocessing
from embedder.projection_head import ProjectionHead
from embedder.quantization import calibration_photos

DEFAULT_FIT_PHOTOS = 4000
# Added to each axis's variance before whitening, so near-empty axes are not blown up into noise.
WHITEN_EPSILON = 1e-6


def pca_head(vectors: npt.NDArray[np.float32], dimension: int, *, whiten: bool = False) -> ProjectionHead:
    """A linear head (D -> dimension) that centres unit vectors (N, D) and projects them onto their axes."""
    count, width = vectors.shape
    if not 0 < dimension < width:
        raise ValueError(f"dimension must be between 1 and {width - 1}, got {dimension}")
    if count <= dimension:
        raise ValueError(f"{dimension} axes need more than {dimension} photos, got {count}")
    data = vectors.astype(np.float64)
    mean = data.mean(axis=0)
    _, singular, axes = np.linalg.svd(data - mean, full_matrices=False)
    weight = axes[:dimension]
    if whiten:
        variance = singular[:dimension] ** 2 / (count - 1)
        weight = weight / np.sqrt(variance + WHITEN_EPSILON)[:, None]
    head = ProjectionHead([width, dimension], normalise_input=True)
    linear = cast(nn.Linear, head.layers[0])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(weight))
        linear.bias.copy_(torch.from_numpy(-weight @ mean))
    return head.eval()


def backbone_of(spec: str) -> tuple[nn.Module, str, Preprocessing, dict[str, object]]:
    """The backbone, architecture, preprocessing and config of a registry name or checkpoint file."""
    from embedder.registry import available_models, pretrained_backbone

    if spec in available_models():
        model, preprocessing, _ = pretrained_backbone(spec)
        return model, spec, preprocessing, {"weights": spec}
    checkpoint = load_checkpoint(Path(spec))
    if checkpoint.dimension != get_architecture(checkpoint.architecture).feature_dimension:
        raise ModelLoadError(
            f"{spec} already has a {checkpoint.dimension}-d head: reduce the model it was trained from"
        )
    return checkpoint.model, checkpoint.architecture, checkpoint.preprocessing, dict(checkpoint.config)


def reduce(spec: str, photos: Sequence[Path], dimension: int, out: Path, *, whiten: bool = False) -> Path:
    """Write `spec` with a PCA head of `dimension` fitted on `photos` as a checkpoint at `out`."""
    backbone, architecture, preprocessing, config = backbone_of(spec)
    info = ModelInfo(architecture, "pca-fit", get_architecture(architecture).feature_dimension)
    # A copy, as an Embedder turns its model's gradients off and the checkpoint keeps the original.
    vectors = Embedder(copy.deepcopy(backbone), preprocessing, info).embed_paths(photos)
    head = pca_head(vectors, dimension, whiten=whiten)
    reduced = {"source": spec, "fit_photos": len(photos), "dimension": dimension, "whiten": whiten}
    save_checkpoint(out, backbone, architecture, preprocessing, config={**config, "pca": reduced}, head=head)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """`vitrine reduce`: write a model with a PCA head of fewer dimensions, fitted on photos."""
    parser = argparse.ArgumentParser(prog="vitrine reduce", description=main.__doc__)
    parser.add_argument("--model", default="efficientnet_lite0", help="model name or checkpoint (no head)")
    parser.add_argument(
        "--photos",
        type=Path,
        action="append",
        required=True,
        help="folder of photos (repeat; searched deeply)",
    )
    parser.add_argument("--dimension", type=int, required=True, help="width of the new vectors, e.g. 256")
    parser.add_argument("--whiten", action="store_true", help="scale each axis to unit variance too")
    parser.add_argument("--count", type=int, default=DEFAULT_FIT_PHOTOS, help="photos per folder, at most")
    parser.add_argument("--out", type=Path, required=True, help="the .pt checkpoint to write")
    arguments = parser.parse_args(argv)
    if arguments.count < 1:
        parser.error("--count must be positive")
    try:
        photos = [path for folder in arguments.photos for path in calibration_photos(folder, arguments.count)]
        written = reduce(arguments.model, photos, arguments.dimension, arguments.out, whiten=arguments.whiten)
    except (ModelLoadError, ValueError) as error:
        parser.exit(1, f"vitrine reduce: {error}\n")
    print(f"wrote {written} ({arguments.dimension}-d vectors, fitted on {len(photos)} photos)")
