"""Tests for model specs and names accepted by load_embedder."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from embedder import ModelLoadError, available_models, load_embedder
from embedder.registry import resolve_device


def test_available_models() -> None:
    assert available_models() == ["efficientnet_lite0", "resnet18", "resnet50"]


def test_default_is_efficientnet_lite0() -> None:
    assert load_embedder().info == load_embedder("efficientnet_lite0").info


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        ModelLoadError, match=r"unknown model 'vgg16'.*efficientnet_lite0, resnet18, resnet50"
    ):
        load_embedder("vgg16")


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"no resnet18 weights file at .*absent\.pth.*resnet50"):
        load_embedder(f"resnet18:{tmp_path / 'absent.pth'}")


def test_missing_checkpoint_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"absent\.pt.*Valid model specs"):
        load_embedder(str(tmp_path / "absent.pt"))


def test_invalid_device() -> None:
    with pytest.raises(ModelLoadError, match="invalid device"):
        load_embedder(device="toaster")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda() -> None:
    with pytest.raises(ModelLoadError, match="CUDA is not available"):
        load_embedder(device="cuda")


def test_auto_device_is_the_gpu_where_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert load_embedder("efficientnet_lite0", device="auto").device == torch.device("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU, which CI's machines never have")
def test_the_gpu_gives_the_cpus_vectors() -> None:
    images = [Image.new("RGB", (300, 240), colour) for colour in ("red", "navy", "olive")]
    gpu, cpu = load_embedder(device="cuda"), load_embedder(device="cpu")
    assert gpu.device.type == "cuda"
    on_gpu, on_cpu = gpu.embed(images), cpu.embed(images)
    assert (on_gpu * on_cpu).sum(axis=1).min() > 0.999
