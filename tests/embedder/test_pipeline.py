"""Tests for embedder.pipeline: same vectors as Embedder.embed_paths, in order, with clear errors."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from embedder import Embedder, ImageLoadError, ModelInfo, load_image
from embedder.pipeline import crop_pixels, embed_batches, embed_files, normalise_batch
from embedder.preprocessing import Preprocessing

TINY = Preprocessing(resize=20, crop=16, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))

# Draft mode decodes a big JPEG at 1/2, 1/4 or 1/8 scale in the DCT before the antialiased resize:
# pixels move by a few levels, embeddings barely. Images already near model size are not drafted at all.
DRAFT_COSINE = 0.99


def tiny_embedder() -> Embedder:
    """A seeded conv and pooling: 8-d output, milliseconds per image."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Embedder(model, TINY, ModelInfo("tiny", "seed 0", 8))


def write_pictures(folder: Path, count: int) -> list[Path]:
    """Distinct random JPEGs of assorted shapes."""
    generator = np.random.default_rng(0)
    paths = []
    for index in range(count):
        height, width = int(generator.integers(18, 60)), int(generator.integers(18, 60))
        path = folder / f"{index}.jpg"
        Image.fromarray(generator.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def grocery_photos(train: Path, count: int) -> list[Path]:
    """Photos spread over the sorted training files, so that they show different products."""
    files = sorted(train.rglob("*.jpg"))
    return [files[index * len(files) // count] for index in range(count)]


def photos_width(path: Path) -> int:
    """The width of an image file, from its header."""
    with Image.open(path) as image:
        return image.width


def test_batch_pixels_match_preprocessing_to_tensor(tmp_path: Path) -> None:
    images = [load_image(path) for path in write_pictures(tmp_path, 3)]
    pixels = np.stack([crop_pixels(image, TINY) for image in images])
    batch = normalise_batch(pixels, TINY)
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch, torch.stack([TINY.to_tensor(image) for image in images]))


def test_rows_follow_the_input_order(tmp_path: Path) -> None:
    embedder = tiny_embedder()
    paths = write_pictures(tmp_path, 11)
    # No draft: some of these pictures are big enough for it next to the tiny model's 20-pixel resize.
    forward = embed_files(embedder, paths, batch_size=3, decode_workers=3, draft=False)
    backward = embed_files(embedder, paths[::-1], batch_size=4, decode_workers=2, draft=False)
    assert np.allclose(forward, embedder.embed_paths(paths), atol=1e-6)
    assert np.allclose(backward, forward[::-1], atol=1e-6)


def test_matches_embed_paths_on_grocery_photos(lite0: Embedder, grocery_train: Path, tmp_path: Path) -> None:
    photos = grocery_photos(grocery_train, 3)
    # A photo four times the size, so that draft mode really decodes it at reduced scale.
    big = tmp_path / "big.jpg"
    with Image.open(photos[0]) as photo:
        photo.resize((photo.width * 4, photo.height * 4), Image.Resampling.BICUBIC).save(big, quality=95)
    assert load_image(big, reduce_to=lite0.preprocessing.resize).width == photos_width(photos[0])
    paths = [*photos, big]
    reference = lite0.embed_paths(paths)
    drafted = embed_files(lite0, paths, batch_size=4)
    # These photos are about model size, too small to draft: identical up to float summation order.
    assert np.allclose(drafted[:-1], reference[:-1], atol=1e-5)
    assert float(drafted[-1] @ reference[-1]) > DRAFT_COSINE
    assert np.allclose(embed_files(lite0, paths[-1:], draft=False), reference[-1:], atol=1e-5)


def test_corrupt_file_raises_image_load_error_naming_it(tmp_path: Path) -> None:
    paths = write_pictures(tmp_path, 5)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(paths[0].read_bytes()[:20] + b"\x00" * 50)
    with pytest.raises(ImageLoadError, match=r"broken\.jpg"):
        embed_files(tiny_embedder(), [*paths[:3], broken, *paths[3:]], batch_size=2)


def test_a_stream_reports_unreadable_files_and_embeds_the_rest(tmp_path: Path) -> None:
    embedder = tiny_embedder()
    paths = write_pictures(tmp_path, 6)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    missing = tmp_path / "missing.jpg"
    files = [paths[0], broken, *paths[1:4], missing, *paths[4:]]
    batches = list(embed_batches(embedder, files, batch_size=3, decode_workers=2, draft=False))
    assert [len(batch.positions) + len(batch.failures) for batch in batches] == [3, 3, 2]
    failures = {position: str(error) for batch in batches for position, error in batch.failures}
    assert sorted(failures) == [1, 5]
    assert "broken.jpg" in failures[1] and "missing.jpg" in failures[5]
    positions = [position for batch in batches for position in batch.positions]
    assert positions == [0, 2, 3, 4, 6, 7]
    vectors = np.concatenate([batch.vectors for batch in batches])
    assert np.allclose(vectors, embedder.embed_paths([files[position] for position in positions]), atol=1e-6)


def test_a_stream_of_only_bad_files_embeds_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    (batch,) = embed_batches(tiny_embedder(), [broken, broken], batch_size=4)
    assert batch.positions == [] and batch.vectors.shape == (0, 8) and len(batch.failures) == 2


def test_threads_are_restored_afterwards(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    embed_files(tiny_embedder(), write_pictures(tmp_path, 2), threads=1)
    assert torch.get_num_threads() == before


def test_empty_input_and_bad_arguments() -> None:
    embedder = tiny_embedder()
    assert embed_files(embedder, []).shape == (0, 8)
    with pytest.raises(ValueError, match="batch_size"):
        embed_files(embedder, [], batch_size=0)
    with pytest.raises(ValueError, match="decode_workers"):
        embed_files(embedder, [], decode_workers=0)
