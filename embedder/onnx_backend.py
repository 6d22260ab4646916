"""Run an embedder's backbone with ONNX Runtime: exported once, checked against PyTorch, cached on disk."""

import hashlib
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn
from torch.jit._trace import TracerWarning
from torch.nn import functional

from embedder.embedding import Embedder
from embedder.errors import ModelLoadError
from embedder.pipeline import usable_cores

logger = logging.getLogger(__name__)

OPSET = 17
# Largest difference allowed between PyTorch's and ONNX Runtime's unit embeddings, per coordinate.
TOLERANCE = 1e-4
_CHECK_BATCH = 2


def onnx_cache_dir() -> Path:
    """Where exported models are kept: $VITRINE_ONNX_CACHE, else ~/.cache/vitrine/onnx."""
    configured = os.environ.get("VITRINE_ONNX_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "vitrine" / "onnx"


def weights_fingerprint(model: nn.Module) -> str:
    """The start of a SHA-256 over every parameter and buffer, so changed weights never hit a stale file."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype};".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def cached_onnx_path(embedder: Embedder, model: nn.Module, cache_dir: Path) -> Path:
    """The file an embedder's backbone is exported to: model key, input size and weights fingerprint."""
    crop = embedder.preprocessing.crop
    return cache_dir / f"{embedder.info.key}__{crop}px__{weights_fingerprint(model)}.onnx"


class OnnxBackbone(nn.Module):
    """An ONNX Runtime session behind the nn.Module interface: (N, 3, H, W) images to (N, D) features."""

    def __init__(self, path: Path, *, threads: int | None = None) -> None:
        super().__init__()
        self.path = path
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        # Spinning threads burn the cores that decoding threads and other processes need between
        # operators; measured faster without it on a shared 2-core machine (docs/performance.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:
            # onnxruntime reports unreadable models with its own exception types, not a common base.
            raise ModelLoadError(f"cannot load ONNX model {path}: {error}") from error
        self._input = self._session.get_inputs()[0].name

    @property
    def output_dimension(self) -> int | None:
        """The feature size the graph declares, or None where it leaves it open."""
        shape = self._session.get_outputs()[0].shape
        return shape[-1] if shape and isinstance(shape[-1], int) else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Run the exported backbone on a float32 batch."""
        pixels = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        (features,) = self._session.run(None, {self._input: pixels})
        return torch.from_numpy(np.asarray(features, dtype=np.float32))


def export_onnx(model: nn.Module, crop: int, path: Path) -> None:
    """Export a backbone for (N, 3, crop, crop) input, check it against PyTorch, then move it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.randn(_CHECK_BATCH, 3, crop, crop, generator=torch.Generator().manual_seed(0))
    # Write beside the target and rename, so a crash never leaves a half-written model in the cache.
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".partial")
    os.close(descriptor)
    partial = Path(name)
    try:
        _trace(model, example, partial)
        with torch.inference_mode():
            expected = functional.normalize(model(example).float(), dim=1)
            actual = functional.normalize(OnnxBackbone(partial, threads=1)(example), dim=1)
        difference = float((actual - expected).abs().max())
        if not difference <= TOLERANCE:
            raise ModelLoadError(
                f"ONNX export of {path.name} differs from PyTorch by {difference:.2e} (> {TOLERANCE:.0e})"
            )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("exported %s (largest difference from PyTorch %.1e)", path, difference)


def _trace(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Write the model as ONNX with a variable batch size and every other dimension fixed."""
    with warnings.catch_warnings(), torch.no_grad():
        # The torch.export-based exporter needs onnxscript, which Vitrine does not ship; the
        # TorchScript one works and warns that it is deprecated. Tracing also warns where Python
        # reads tensor shapes (SamePadConv2d's padding): those depend only on the fixed height and width.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", TracerWarning)
        try:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=["images"],
                output_names=["features"],
                dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            )
        except Exception as error:
            # Unsupported operators and tracing failures surface as many unrelated exception types.
            raise ModelLoadError(f"cannot export {path.name} to ONNX: {error}") from error


def onnx_embedder(
    embedder: Embedder, *, cache_dir: Path | None = None, threads: int | None = None
) -> Embedder:
    """The same embedder with its backbone run by ONNX Runtime, exporting it on first use."""
    if embedder.device.type != "cpu":
        raise ModelLoadError(f"the ONNX backend runs on the CPU, not on {embedder.device}")
    model = embedder.model
    path = cached_onnx_path(embedder, model, cache_dir or onnx_cache_dir())
    if not path.is_file():
        export_onnx(model, embedder.preprocessing.crop, path)
    backbone = OnnxBackbone(path, threads=threads)
    return Embedder(backbone, embedder.preprocessing, embedder.info, channels_last=False)
