"""Tests for the EfficientNet-Lite0 port: padding, loading, ImageNet sanity and embeddings."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.models import ResNet50_Weights

from embedder import Embedder, load_image
from embedder.efficientnet_lite import (
    PREPROCESSING,
    EfficientNetLite0,
    SamePadConv2d,
    imagenet_state_dict,
    same_padding,
)

# One photo per class (the first of each folder) with the ImageNet class it shows.
PHOTOS_AND_CLASSES = [
    ("Fruit/Banana/Banana_001.jpg", 954),
    ("Fruit/Lemon/Lemon_001.jpg", 951),
    ("Fruit/Orange/Orange_001.jpg", 950),
    ("Fruit/Apple/Granny-Smith/Granny-Smith_001.jpg", 948),
    ("Fruit/Pineapple/Pineapple_001.jpg", 953),
    ("Vegetables/Pepper/Red-Bell-Pepper/Red-Bell-Pepper_001.jpg", 945),
    ("Vegetables/Cucumber/Cucumber_001.jpg", 943),
    ("Vegetables/Brown-Cap-Mushroom/Brown-Cap-Mushroom_001.jpg", 947),
]

# Three photos each of four products, for the nearest-neighbour check.
PRODUCTS = [
    "Fruit/Banana",
    "Vegetables/Aubergine",
    "Packages/Milk/Arla-Standard-Milk",
    "Packages/Juice/Tropicana-Apple-Juice",
]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (112, 5, 1, (2, 2)), (28, 5, 2, (1, 2)), (7, 1, 1, (0, 0))],
)
def test_same_padding_matches_tensorflow(
    size: int, kernel: int, stride: int, expected: tuple[int, int]
) -> None:
    assert same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize("size", [15, 16])
def test_same_padded_conv_output_size(size: int) -> None:
    conv = SamePadConv2d(1, 1, 3, stride=2, bias=False)
    torch.nn.init.ones_(conv.weight)
    output = conv(torch.ones(1, 1, size, size))
    assert output.shape[-2:] == (math.ceil(size / 2),) * 2
    # TensorFlow pads the extra row after, so the first output sees no padding on an even input.
    assert output[0, 0, 0, 0].item() == (9.0 if size % 2 == 0 else 4.0)


def test_imagenet_weights_fit_the_architecture_exactly() -> None:
    model = EfficientNetLite0()
    model.load_state_dict(imagenet_state_dict(), strict=True)
    assert sum(parameter.numel() for parameter in model.parameters()) == 4_652_008


def test_classifies_grocery_photos_as_imagenet_would(grocery_train: Path) -> None:
    model = EfficientNetLite0().eval()
    model.load_state_dict(imagenet_state_dict(), strict=True)
    batch = torch.stack(
        [PREPROCESSING.to_tensor(load_image(grocery_train / photo)) for photo, _ in PHOTOS_AND_CLASSES]
    )
    with torch.inference_mode():
        top5 = model(batch).topk(5).indices.tolist()
    names = ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    hits = 0
    for (photo, expected), predicted in zip(PHOTOS_AND_CLASSES, top5, strict=True):
        hits += expected in predicted
        print(f"{photo}: {', '.join(f'{index} {names[index]}' for index in predicted)}")
    # A random or mis-ported network would essentially never get these right.
    assert hits >= 6, f"only {hits} of {len(PHOTOS_AND_CLASSES)} photos have the right class in top-5"


def test_embeddings_have_the_promised_shape_and_norm(lite0: Embedder, grocery_train: Path) -> None:
    images = [load_image(grocery_train / photo) for photo, _ in PHOTOS_AND_CLASSES[:3]]
    vectors = lite0.embed(images)
    assert lite0.info.dimension == 1280
    assert lite0.info.key == "efficientnet_lite0__imagenet__1280"
    assert vectors.shape == (3, 1280)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors, lite0.embed(images))
    one_by_one = np.concatenate([lite0.embed([image]) for image in images])
    assert np.allclose(vectors, one_by_one, atol=1e-5)
    assert lite0.embed([]).shape == (0, 1280)


def test_photos_of_one_product_are_closer_than_photos_of_others(lite0: Embedder, grocery_train: Path) -> None:
    paths = [path for product in PRODUCTS for path in sorted((grocery_train / product).glob("*.jpg"))[:3]]
    labels = np.repeat(np.arange(len(PRODUCTS)), 3)
    vectors = lite0.embed_paths(paths)
    similarity = vectors @ vectors.T
    same = labels[:, None] == labels[None, :]
    off_diagonal = ~np.eye(len(paths), dtype=bool)
    within = similarity[same & off_diagonal].mean()
    between = similarity[~same].mean()
    print(f"mean cosine similarity: same product {within:.3f}, different products {between:.3f}")
    assert within > between + 0.1
    # And each photo's nearest other photo shows the same product, for most photos.
    nearest = np.where(off_diagonal, similarity, -np.inf).argmax(axis=1)
    assert (labels[nearest] == labels).mean() >= 0.75
