"""Tests for torchvision ResNets: weights from files and from the torch hub cache, never random."""

import copy
import functools
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from embedder import ModelLoadError, load_embedder
from embedder.preprocessing import IMAGENET


@functools.cache
def _seeded_resnet18() -> nn.Module:
    """Build the seeded model once; initialising resnet18 costs a noticeable fraction of a second."""
    torch.manual_seed(0)
    model: nn.Module = torchvision.models.resnet18()
    return model.eval()


def seeded_resnet18() -> nn.Module:
    """A randomly initialised but reproducible resnet18 classifier (a fresh copy each call)."""
    return copy.deepcopy(_seeded_resnet18())


def sample_images() -> list[Image.Image]:
    """Two different pictures."""
    generator = np.random.default_rng(1)
    return [Image.fromarray(generator.integers(0, 256, (240, 260, 3), dtype=np.uint8)) for _ in range(2)]


@functools.cache
def expected_vectors() -> np.ndarray:
    """What embedding sample_images() should give: the seeded model's pooled features, normalised."""
    model = seeded_resnet18()
    model.fc = nn.Identity()
    with torch.inference_mode():
        features = model(torch.stack([IMAGENET.to_tensor(image) for image in sample_images()]))
    return torch.nn.functional.normalize(features, dim=1).numpy()


@pytest.fixture
def hub_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TORCH_HOME, so nothing from the real cache is seen."""
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


def test_state_dict_file_is_loaded_not_random(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(seeded_resnet18().state_dict(), path)
    embedder = load_embedder(f"resnet18:{path}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert embedder.info.name == "resnet18"
    assert embedder.info.dimension == 512
    assert embedder.info.weights == f"file:{digest[:12]}"
    images = sample_images()
    vectors = embedder.embed(images)
    assert vectors.shape == (2, 512)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors, expected_vectors(), atol=1e-5)


def test_state_dict_without_classifier_is_accepted(tmp_path: Path) -> None:
    model = seeded_resnet18()
    model.fc = nn.Identity()
    path = tmp_path / "headless.pth"
    torch.save(model.state_dict(), path)
    images = sample_images()
    vectors = load_embedder(f"resnet18:{path}").embed(images)
    assert np.allclose(vectors, expected_vectors(), atol=1e-5)


def test_state_dict_of_another_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "resnet18.pth"
    torch.save(seeded_resnet18().state_dict(), path)
    with pytest.raises(ModelLoadError, match="does not hold resnet50 weights"):
        load_embedder(f"resnet50:{path}")


def test_file_that_is_not_a_state_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("hello")
    with pytest.raises(ModelLoadError, match=r"notes\.pth"):
        load_embedder(f"resnet18:{path}")


def test_missing_hub_weights_are_an_error_not_random(hub_home: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        load_embedder("resnet50")
    message = str(caught.value)
    assert str(hub_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth") in message
    assert "allow_download=True" in message
    assert "resnet50:/path/to/" in message


def test_weights_in_the_hub_cache_are_used(hub_home: Path) -> None:
    checkpoints = hub_home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(seeded_resnet18().state_dict(), checkpoints / "resnet18-f37072fd.pth")
    embedder = load_embedder("resnet18")
    assert embedder.info.weights == "ResNet18_Weights.IMAGENET1K_V1"
    assert embedder.info.key == "resnet18__resnet18_weights_imagenet1k_v1__512"
    assert embedder.preprocessing == IMAGENET  # what weights.transforms() does for these weights
    images = sample_images()
    assert np.allclose(embedder.embed(images), expected_vectors(), atol=1e-5)
