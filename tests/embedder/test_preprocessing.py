"""Tests for embedder.preprocessing."""

import pytest
import torch
from PIL import Image

from embedder.preprocessing import IMAGENET, Preprocessing

SMALL = Preprocessing(resize=32, crop=24, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))


def test_tensor_shape_and_type_for_a_wide_image() -> None:
    tensor = IMAGENET.to_tensor(Image.new("RGB", (400, 300)))
    assert tensor.shape == (3, 224, 224)
    assert tensor.dtype == torch.float32


def test_uniform_colour_is_scaled_and_normalised() -> None:
    tensor = SMALL.to_tensor(Image.new("RGB", (50, 40), (255, 51, 0)))
    expected = torch.tensor([(1.0 - 0.5) / 0.5, (0.2 - 0.25) / 0.25, 0.0])
    assert torch.allclose(tensor.mean(dim=(1, 2)), expected, atol=1e-6)


def test_centre_crop_cuts_away_the_sides() -> None:
    image = Image.new("RGB", (100, 40), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 20, 40))  # a white band on the far left
    image.paste((255, 255, 255), (80, 0, 100, 40))  # and on the far right
    tensor = SMALL.to_tensor(image)
    # Shorter side 40 -> 32 makes the image 80 wide; the 24 wide centre is all black.
    assert torch.allclose(tensor[0], torch.full((24, 24), -1.0))


def test_non_rgb_images_are_converted() -> None:
    tensor = SMALL.to_tensor(Image.new("RGBA", (30, 30), (0, 0, 0, 0)))
    assert torch.allclose(tensor[0], torch.ones(24, 24))  # transparent is white


def test_dict_round_trip() -> None:
    assert Preprocessing.from_dict(SMALL.to_dict()) == SMALL
    assert SMALL.to_dict() == {"resize": 32, "crop": 24, "mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 1.0]}


@pytest.mark.parametrize(
    "arguments",
    [
        {"resize": 200, "crop": 224, "mean": (0, 0, 0), "std": (1, 1, 1)},
        {"resize": 256, "crop": 0, "mean": (0, 0, 0), "std": (1, 1, 1)},
        {"resize": 256, "crop": 224, "mean": (0, 0), "std": (1, 1, 1)},
        {"resize": 256, "crop": 224, "mean": (0, 0, 0), "std": (1, 0, 1)},
    ],
)
def test_invalid_settings_are_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Preprocessing(**arguments)  # type: ignore[arg-type]
