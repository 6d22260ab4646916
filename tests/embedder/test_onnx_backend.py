"""Tests for embedder.onnx_backend and the registry's backend choice: same vectors, exported once."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from embedder import (
    Embedder,
    ModelInfo,
    ModelLoadError,
    available_models,
    load_embedder,
    onnx_backend,
    registry,
)
from embedder.onnx_backend import OnnxBackbone, cached_onnx_path, onnx_cache_dir, onnx_embedder
from embedder.preprocessing import Preprocessing
from embedder.registry import FASTER_CPU_BACKEND, choose_backend

# A small input keeps export and inference to a second or so; the graph is the full ResNet-18.
SMALL = Preprocessing(resize=72, crop=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
CPU = torch.device("cpu")


def random_resnet18(seed: int = 0) -> Embedder:
    """ResNet-18 with seeded random weights at 64x64 input: speed and export need no trained weights."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    return Embedder(model, SMALL, ModelInfo("resnet18", f"random seed {seed}", 512))


def pictures(count: int) -> list[Image.Image]:
    """Distinct random pictures."""
    generator = np.random.default_rng(0)
    return [Image.fromarray(generator.integers(0, 256, (80, 90, 3), dtype=np.uint8)) for _ in range(count)]


def tiny_embedder() -> Embedder:
    """A seeded conv and pooling: exports in a blink."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    return Embedder(model, SMALL, ModelInfo("tiny", "seed 0", 8))


@pytest.fixture(scope="module")
def resnet18_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder into which random_resnet18() has been exported once."""
    folder = tmp_path_factory.mktemp("onnx")
    onnx_embedder(random_resnet18(), cache_dir=folder)
    return folder


def test_export_matches_pytorch_within_tolerance(resnet18_cache: Path) -> None:
    original = random_resnet18()
    exported = onnx_embedder(original, cache_dir=resnet18_cache)
    assert isinstance(exported.model, OnnxBackbone)
    assert exported.info == original.info
    images = pictures(3)
    assert np.abs(exported.embed(images, batch_size=2) - original.embed(images)).max() <= 1e-4


def test_second_load_reuses_the_cached_file(resnet18_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = random_resnet18()
    (cached,) = resnet18_cache.iterdir()
    modified = cached.stat().st_mtime_ns
    first = onnx_embedder(original, cache_dir=resnet18_cache)

    def no_export(*arguments: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "export_onnx", no_export)
    second = onnx_embedder(original, cache_dir=resnet18_cache)
    assert [*resnet18_cache.iterdir()] == [cached]
    assert cached.stat().st_mtime_ns == modified
    images = pictures(2)
    assert np.array_equal(first.embed(images), second.embed(images))


def test_other_weights_get_their_own_file(tmp_path: Path) -> None:
    first = random_resnet18(seed=0)
    # Same model key (as "imagenet" weights keep across package versions): only the fingerprint differs.
    second = Embedder(random_resnet18(seed=1).model, SMALL, first.info)
    path = cached_onnx_path(first, first.model, tmp_path)
    assert path == cached_onnx_path(random_resnet18(seed=0), first.model, tmp_path)
    assert path != cached_onnx_path(second, second.model, tmp_path)


def test_export_that_disagrees_is_rejected_and_not_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_backend, "TOLERANCE", -1.0)
    with pytest.raises(ModelLoadError, match="differs from PyTorch"):
        onnx_embedder(tiny_embedder(), cache_dir=tmp_path)
    assert [*tmp_path.iterdir()] == []


def test_cache_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITRINE_ONNX_CACHE", str(tmp_path))
    assert onnx_cache_dir() == tmp_path
    monkeypatch.delenv("VITRINE_ONNX_CACHE")
    assert onnx_cache_dir() == Path.home() / ".cache" / "vitrine" / "onnx"


def test_auto_choice_is_a_fixed_table() -> None:
    assert set(FASTER_CPU_BACKEND) == set(available_models())
    for name in available_models():
        choices = {choose_backend(name, CPU, "auto") for _ in range(3)}
        assert choices == {FASTER_CPU_BACKEND[name]}
    assert choose_backend("some_checkpoint_architecture", CPU, "auto") == "torch"
    assert choose_backend("resnet50", torch.device("cuda"), "auto") == "torch"
    assert choose_backend("resnet50", CPU, "torch") == "torch"


def test_unknown_or_impossible_backends_are_refused() -> None:
    with pytest.raises(ModelLoadError, match="unknown backend"):
        choose_backend("resnet50", CPU, "tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ModelLoadError, match="CPU"):
        choose_backend("resnet50", torch.device("cuda"), "onnx")


def test_load_embedder_wires_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    converted: list[str] = []

    def fake_onnx_embedder(embedder: Embedder) -> Embedder:
        converted.append(embedder.info.name)
        return embedder

    monkeypatch.setattr(registry, "onnx_embedder", fake_onnx_embedder)
    load_embedder("efficientnet_lite0")
    assert converted == []
    load_embedder("efficientnet_lite0", backend="auto")
    assert converted == ["efficientnet_lite0"]


def test_auto_falls_back_to_pytorch_when_export_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_export(embedder: Embedder) -> Embedder:
        raise ModelLoadError("cannot export")

    monkeypatch.setattr(registry, "onnx_embedder", failing_export)
    assert not isinstance(load_embedder("efficientnet_lite0", backend="auto").model, OnnxBackbone)
    with pytest.raises(ModelLoadError, match="cannot export"):
        load_embedder("efficientnet_lite0", backend="onnx")
