"""Tests for backend.catalog.image_store: what an upload is stored as and decoded to."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.catalog.image_store import DECODE_SIZE, ImageStore
from backend.errors import InvalidRequest, PayloadTooLarge


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int]) -> Image.Image:
    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images", max_pixels=40_000_000)


def test_an_upload_is_decoded_down_to_the_decode_size(store: ImageStore) -> None:
    decoded = store.decode(encode(photo((2400, 1800)), "PNG"), name="big.png")
    # 1800 // 512 = 3: the largest whole factor that keeps the shorter side at DECODE_SIZE or more.
    assert decoded.size == (800, 600)
    assert min(decoded.size) >= DECODE_SIZE


def test_a_stored_image_keeps_its_full_size_as_shown(store: ImageStore) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter: 1800 wide, 2400 high
    stored = store.put(encode(photo((2400, 1800)), "JPEG", exif=exif), name="turned.jpg")
    assert (stored.width, stored.height) == (1800, 2400)
    assert stored.storage_key.endswith(".jpg")
    assert store.path(stored.storage_key).is_file()


def test_a_region_is_decoded_at_its_own_detail(store: ImageStore) -> None:
    data = encode(photo((4000, 3000)), "PNG")
    whole = store.decode(data, name="shelf.png")
    corner = store.decode(data, name="shelf.png", region=(0.0, 0.0, 0.25, 0.25))
    assert whole.size == (800, 600)  # factor 5
    assert corner.size == (1000, 750)  # 750 // 512 = 1: the region's pixels as they are


def test_a_too_small_region_is_a_request_error_naming_the_field(store: ImageStore) -> None:
    with pytest.raises(InvalidRequest) as caught:
        store.decode(encode(photo((200, 200)), "PNG"), name="small.png", region=(0.0, 0.0, 0.05, 1.0))
    assert caught.value.details == {"field": "region"}


def test_too_many_pixels_is_payload_too_large(tmp_path: Path) -> None:
    store = ImageStore(tmp_path, max_pixels=10_000)
    with pytest.raises(PayloadTooLarge, match="limit of 10000"):
        store.decode(encode(photo((200, 200)), "PNG"), name="large.png")
