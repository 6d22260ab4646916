"""The test run keeps every cache inside its own temporary folder, never under the real home cache."""

import subprocess
import sys
from pathlib import Path

import matplotlib
import torch

from embedder.onnx_backend import onnx_cache_dir


def resolved_caches() -> dict[str, Path]:
    """Where each cache the code writes would go now."""
    return {
        "onnx": onnx_cache_dir(),
        "torch hub": Path(torch.hub.get_dir()),
        "matplotlib": Path(matplotlib.get_cachedir()),
    }


def test_caches_resolve_inside_the_test_folder(test_cache_base: Path) -> None:
    home_cache = Path.home() / ".cache"
    for name, folder in resolved_caches().items():
        assert folder.is_relative_to(test_cache_base), f"{name} cache at {folder}"
        assert not folder.is_relative_to(home_cache), f"{name} cache at {folder}"


def test_subprocesses_inherit_the_test_caches(test_cache_base: Path) -> None:
    script = "\n".join(
        [
            "import torch",
            "from embedder.onnx_backend import onnx_cache_dir",
            "print(onnx_cache_dir())",
            "print(torch.hub.get_dir())",
        ]
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    folders = [Path(line) for line in result.stdout.splitlines()]
    assert len(folders) == 2, result.stdout
    for folder in folders:
        assert folder.is_relative_to(test_cache_base), folder
