"""Tests for embedder.embedding with a tiny model, so that they run in milliseconds."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from embedder import Embedder, ImageLoadError, ModelInfo
from embedder.embedding import corner_crops
from embedder.preprocessing import Preprocessing

PREPROCESSING = Preprocessing(resize=20, crop=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def tiny_embedder() -> Embedder:
    """An embedder whose model is a seeded conv and pooling: 8-d output."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Embedder(model, PREPROCESSING, ModelInfo("tiny", "seed 0", 8))


def pictures(count: int) -> list[Image.Image]:
    """Distinct random pictures."""
    generator = np.random.default_rng(0)
    return [Image.fromarray(generator.integers(0, 256, (24, 30, 3), dtype=np.uint8)) for _ in range(count)]


@pytest.mark.parametrize(
    ("info", "key"),
    [
        (ModelInfo("efficientnet_lite0", "imagenet", 1280), "efficientnet_lite0__imagenet__1280"),
        (
            ModelInfo("resnet50", "ResNet50_Weights.IMAGENET1K_V2", 2048),
            "resnet50__resnet50_weights_imagenet1k_v2__2048",
        ),
        (ModelInfo("resnet18", "file:0123abcdef45", 512), "resnet18__file_0123abcdef45__512"),
        (ModelInfo("Odd  Name__", "-", 3), "odd_name__none__3"),
    ],
)
def test_key_is_a_stable_slug(info: ModelInfo, key: str) -> None:
    assert info.key == key


def test_rows_are_unit_float32() -> None:
    vectors = tiny_embedder().embed(pictures(5))
    assert vectors.shape == (5, 8)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_empty_input_gives_an_empty_matrix() -> None:
    assert tiny_embedder().embed([]).shape == (0, 8)
    assert tiny_embedder().embed_paths([]).shape == (0, 8)


def test_batching_does_not_change_results() -> None:
    embedder = tiny_embedder()
    images = pictures(7)
    whole = embedder.embed(images, batch_size=3)
    one_by_one = np.concatenate([embedder.embed([image]) for image in images])
    assert np.allclose(whole, one_by_one, atol=1e-5)
    assert not np.allclose(whole[0], whole[1])


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        tiny_embedder().embed(pictures(1), batch_size=0)


def test_embed_paths_matches_embed(tmp_path: Path) -> None:
    images = pictures(3)
    paths = [tmp_path / f"{index}.png" for index in range(3)]
    for image, path in zip(images, paths, strict=True):
        image.save(path)
    embedder = tiny_embedder()
    assert np.allclose(embedder.embed_paths(paths, batch_size=2), embedder.embed(images), atol=1e-6)


def test_embed_paths_names_a_bad_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    pictures(1)[0].save(good)
    bad.write_bytes(b"not a png")
    with pytest.raises(ImageLoadError, match=r"bad\.png"):
        tiny_embedder().embed_paths([good, bad])


def test_model_runs_in_eval_mode() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.9), nn.Linear(3 * 16 * 16, 4))
    embedder = Embedder(model, PREPROCESSING, ModelInfo("dropout", "none", 4))
    images = pictures(2)
    # Dropout in training mode would make repeated calls differ.
    assert np.array_equal(embedder.embed(images), embedder.embed(images))


def test_flip_averaging_gives_a_photo_and_its_mirror_image_one_vector() -> None:
    plain, flipping = tiny_embedder(), tiny_embedder()
    flipping.flip_average = True
    # Square pictures: the centre crop of a mirror image is then the mirror image of the centre crop.
    images = [image.crop((0, 0, 24, 24)) for image in pictures(3)]
    mirrored = [image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for image in images]
    averaged = flipping.embed(images)
    assert np.allclose(averaged, flipping.embed(mirrored), atol=1e-6)
    assert np.allclose(np.linalg.norm(averaged, axis=1), 1.0, atol=1e-6)
    assert not np.allclose(
        plain.embed(images), plain.embed(mirrored), atol=1e-3
    )  # the model alone tells them apart
    expected = plain.embed(images) + plain.embed(mirrored)
    assert np.allclose(averaged, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)


def test_multi_crop_averages_the_whole_view_and_its_four_corners() -> None:
    plain, cropping = tiny_embedder(), tiny_embedder()
    cropping.multi_crop = True
    batch = torch.stack([PREPROCESSING.to_tensor(image) for image in pictures(3)])
    corners = corner_crops(batch)
    assert len(corners) == 4 and all(corner.shape == batch.shape for corner in corners)
    # A mark in the bottom-right pixel: only the views that hold that corner see it.
    marked = torch.zeros(1, 3, 16, 16)
    marked[..., -1, -1] = 1.0
    seen = [float(corner.max()) for corner in corner_crops(marked)]
    assert seen[0] == seen[1] == seen[2] == 0.0 and seen[3] > 0.5
    views = [plain.embed_batch(view) for view in [batch, *corners]]
    expected = np.sum(views, axis=0)
    averaged = cropping.embed_batch(batch)
    assert np.allclose(averaged, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
    assert not np.allclose(averaged, views[0], atol=1e-3)  # the corners change the vector
