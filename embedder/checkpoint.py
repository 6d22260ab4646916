"""Vitrine checkpoint files: a fine-tuned backbone, optional projection head and their settings.

A checkpoint is a torch.save'd dict of tensors and plain values only, so that it loads with
torch.load(weights_only=True) and never runs pickled code.
"""

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from embedder.architectures import build_backbone, get_architecture
from embedder.errors import ModelLoadError
from embedder.preprocessing import Preprocessing
from embedder.projection_head import ProjectionHead

CHECKPOINT_FORMAT = "vitrine-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the model (backbone, then head if any) and what describes it."""

    architecture: str
    dimension: int
    preprocessing: Preprocessing
    model: nn.Module
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | os.PathLike[str],
    backbone: nn.Module,
    architecture: str,
    preprocessing: Preprocessing,
    *,
    config: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    head: ProjectionHead | nn.Linear | None = None,
) -> None:
    """Write a backbone (classifier removed) and optional head as a Vitrine checkpoint file."""
    dimension = get_architecture(architecture).feature_dimension
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "architecture": architecture,
        "preprocessing": preprocessing.to_dict(),
        "state_dict": _tensors(backbone),
        "config": _plain(dict(config or {}), "config"),
        "metrics": _plain(dict(metrics or {}), "metrics"),
    }
    if head is not None:
        projection = ProjectionHead.from_linear(head) if isinstance(head, nn.Linear) else head
        if projection.dims[0] != dimension:
            raise ValueError(f"head takes {projection.dims[0]} features but {architecture} gives {dimension}")
        dimension = projection.out_features
        payload["head"] = _tensors(projection)
        payload["head_config"] = projection.config()
    payload["dimension"] = dimension
    # Check the weights fit before writing, so a bad checkpoint fails here rather than in serving.
    build_backbone(architecture, payload["state_dict"], source="backbone")
    save_atomically(Path(path), payload)


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a Vitrine checkpoint file written by save_checkpoint."""
    payload = _read(Path(path))
    architecture = payload.get("architecture")
    if not isinstance(architecture, str):
        raise ModelLoadError(f"{path}: checkpoint names no architecture")
    try:
        preprocessing = Preprocessing.from_dict(payload["preprocessing"])
        dimension = int(payload["dimension"])
        head_config = payload.get("head_config")
        head = ProjectionHead.from_config(head_config) if head_config is not None else None
    except (KeyError, TypeError, ValueError) as error:
        raise ModelLoadError(f"{path}: malformed checkpoint ({error!r})") from error
    model = build_backbone(architecture, payload["state_dict"], source=str(path))
    expected = get_architecture(architecture).feature_dimension
    if head is not None:
        try:
            head.load_state_dict(payload["head"], strict=True)
        except (KeyError, RuntimeError) as error:
            raise ModelLoadError(f"{path}: head weights do not match head_config") from error
        model = nn.Sequential(model, head.eval())
        expected = head.out_features
    if dimension != expected:
        raise ModelLoadError(f"{path}: claims dimension {dimension} but the model gives {expected}")
    return Checkpoint(
        architecture=architecture,
        dimension=dimension,
        preprocessing=preprocessing,
        model=model,
        config=dict(payload.get("config", {})),
        metrics=dict(payload.get("metrics", {})),
    )


def _read(path: Path) -> dict[str, Any]:
    """Load a checkpoint file's dict and check its format and version."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ModelLoadError(f"checkpoint file not found: {path}") from error
    except Exception as error:
        # torch.load reports bad files as several unrelated types (pickle, zip, runtime errors).
        raise ModelLoadError(f"{path}: not a readable checkpoint ({error})") from error
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelLoadError(
            f"{path} is not a Vitrine checkpoint; for a plain torchvision state dict "
            "pass 'resnet50:/path/to/file.pth' (or resnet18:..., efficientnet_lite0:...)"
        )
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ModelLoadError(
            f"{path}: checkpoint version {payload.get('version')!r} is not supported "
            f"(this code reads version {CHECKPOINT_VERSION})"
        )
    return payload


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Copy a module's state dict to plain CPU tensors."""
    return {key: value.detach().cpu().clone() for key, value in module.state_dict().items()}


def _plain(value: Any, where: str) -> Any:
    """Copy value as plain Python types (numpy scalars become numbers); raise TypeError if it can't."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings, got {key!r}")
        return {key: _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    for plain_type in (bool, int, float, str):
        if isinstance(value, plain_type):
            # Subclasses (numpy.float64, IntEnum) would be pickled as themselves and then refused
            # by torch.load(weights_only=True).
            return plain_type(value)
    if value is None:
        return None
    raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a checkpoint")


def save_atomically(path: Path, payload: Mapping[str, Any]) -> None:
    """torch.save payload to a temporary file beside path, then rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(dict(payload), file)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
