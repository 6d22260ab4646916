"""Tests for Vitrine checkpoint files."""

import copy
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from embedder import (
    Embedder,
    ModelInfo,
    ModelLoadError,
    ProjectionHead,
    load_checkpoint,
    load_embedder,
    save_checkpoint,
)
from embedder.preprocessing import Preprocessing

PREPROCESSING = Preprocessing(resize=72, crop=64, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


@functools.cache
def _seeded_backbone() -> nn.Module:
    """Build the seeded model once; initialising resnet18 costs a noticeable fraction of a second."""
    torch.manual_seed(0)
    model: nn.Module = torchvision.models.resnet18()
    model.fc = nn.Identity()
    return model.eval()


def seeded_backbone() -> nn.Module:
    """A reproducible resnet18 with its classifier removed, as fine-tuning code would save it."""
    return copy.deepcopy(_seeded_backbone())


def sample_images() -> list[Image.Image]:
    """Three different pictures."""
    generator = np.random.default_rng(2)
    return [Image.fromarray(generator.integers(0, 256, (80, 90, 3), dtype=np.uint8)) for _ in range(3)]


def test_round_trip_gives_identical_embeddings(tmp_path: Path) -> None:
    path = tmp_path / "fine-tuned.pt"
    backbone = seeded_backbone()
    save_checkpoint(path, backbone, "resnet18", PREPROCESSING, config={"epochs": 3})
    loaded = load_embedder(str(path))
    assert loaded.info.name == "resnet18"
    assert loaded.info.dimension == 512
    assert loaded.info.weights.startswith("file:")
    assert loaded.preprocessing == PREPROCESSING
    direct = Embedder(seeded_backbone(), PREPROCESSING, ModelInfo("resnet18", "direct", 512))
    images = sample_images()
    assert np.array_equal(loaded.embed(images), direct.embed(images))


def test_projection_head_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "with-head.pt"
    torch.manual_seed(1)
    head = ProjectionHead([512, 128, 64])
    save_checkpoint(path, seeded_backbone(), "resnet18", PREPROCESSING, head=head)
    loaded = load_embedder(str(path))
    assert loaded.info.dimension == 64
    model = nn.Sequential(seeded_backbone(), head)
    direct = Embedder(model, PREPROCESSING, ModelInfo("resnet18", "direct", 64))
    images = sample_images()
    assert np.allclose(loaded.embed(images), direct.embed(images), atol=1e-6)


def test_linear_head_and_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "linear.pt"
    save_checkpoint(
        path,
        seeded_backbone(),
        "resnet18",
        PREPROCESSING,
        head=nn.Linear(512, 32),
        config={"lr": 1e-4, "layers": ("layer4",), "note": None},
        metrics={"recall@1": np.float64(0.75), "epoch": np.int64(3)},
    )
    checkpoint = load_checkpoint(path)
    assert checkpoint.dimension == 32
    assert checkpoint.config == {"lr": 1e-4, "layers": ["layer4"], "note": None}
    assert checkpoint.metrics == {"recall@1": 0.75, "epoch": 3}
    assert type(checkpoint.metrics["recall@1"]) is float


def test_head_must_fit_the_backbone(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="head takes 2048 features"):
        save_checkpoint(
            tmp_path / "x.pt", seeded_backbone(), "resnet18", PREPROCESSING, head=nn.Linear(2048, 8)
        )


def test_backbone_must_match_the_architecture(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="resnet50"):
        save_checkpoint(tmp_path / "x.pt", seeded_backbone(), "resnet50", PREPROCESSING)
    assert not (tmp_path / "x.pt").exists()


def test_objects_that_need_pickle_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"config\.when"):
        save_checkpoint(
            tmp_path / "x.pt", seeded_backbone(), "resnet18", PREPROCESSING, config={"when": object()}
        )
    assert list(tmp_path.iterdir()) == []


def test_plain_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "plain.pth"
    torch.save(seeded_backbone().state_dict(), path)
    with pytest.raises(ModelLoadError, match=r"not a Vitrine checkpoint.*resnet50:/path"):
        load_embedder(str(path))


def test_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.pt"
    torch.save({"format": "vitrine-checkpoint", "version": 2}, path)
    with pytest.raises(ModelLoadError, match="version 2"):
        load_checkpoint(path)


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "vitrine-checkpoint", "payload": Preprocessing}, path)
    with pytest.raises(ModelLoadError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_tampered_dimension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tampered.pt"
    save_checkpoint(path, seeded_backbone(), "resnet18", PREPROCESSING)
    payload = torch.load(path, weights_only=True)
    payload["dimension"] = 128
    torch.save(payload, path)
    with pytest.raises(ModelLoadError, match="claims dimension 128"):
        load_checkpoint(path)
