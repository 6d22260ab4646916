"""An int8 variant of a model for the CPU: ONNX Runtime's static quantization, calibrated on photos.

`vitrine quantize --model SPEC --photos FOLDER --out FILE.onnx` exports the model to ONNX (checked
against PyTorch, as the onnx backend does), measures each activation's range on the calibration
photos, and writes a QDQ model with int8 weights (per output channel) and uint8 activations. The
file carries what loading it needs (architecture, preprocessing, dimension, where it came from)
in its metadata, and `load_embedder(FILE.onnx)` reads it back as a model of its own: its key names
the file's SHA-256, so it gets its own collection, as any model switch does.

Dynamic quantization (no calibration) was tried first: on EfficientNet-Lite0 it ran slower than
fp32 and moved vectors to cosine 0.80-0.87, as it quantizes each activation from one batch's
range; static quantization keeps cosine about 0.99 (docs/quality.md has the retrieval figures).
Calibrate on photos like those the model will embed, the catalog's own (the image store folder
will do), never on the photos it will be judged on.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from embedder.embedding import Embedder, ModelInfo
from embedder.errors import ImageLoadError, ModelLoadError
from embedder.onnx_backend import OnnxBackbone, onnx_embedder
from embedder.pipeline import normalise_batch, read_pixels
from embedder.preprocessing import Preprocessing

METADATA_KEY = "vitrine"
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
# Enough photos for stable activation ranges (MinMax calibration); more only costs time.
DEFAULT_CALIBRATION_PHOTOS = 64
_CALIBRATION_BATCH = 8
# No model of ours resizes past this; a file that says more would make every embedding costly.
MAX_RESIZE = 1024


def calibration_photos(folder: Path, count: int) -> list[Path]:
    """Up to count photos under a folder, spread evenly over its sorted file list."""
    found = sorted(path for path in folder.rglob("*") if path.suffix.lower() in PHOTO_SUFFIXES)
    if not found:
        raise ModelLoadError(f"no photos ({', '.join(PHOTO_SUFFIXES)}) under {folder}")
    step = max(1, len(found) // count)
    return found[::step][:count]


class _Batches(CalibrationDataReader):  # type: ignore[misc]
    """Feeds the calibration photos to ONNX Runtime as model input batches."""

    def __init__(self, photos: Sequence[Path], preprocessing: Preprocessing, input_name: str) -> None:
        self._batches = self._read(photos, preprocessing, input_name)

    @staticmethod
    def _read(
        photos: Sequence[Path], preprocessing: Preprocessing, input_name: str
    ) -> Iterator[dict[str, Any]]:
        for start in range(0, len(photos), _CALIBRATION_BATCH):
            pixels = np.stack(
                [read_pixels(path, preprocessing) for path in photos[start : start + _CALIBRATION_BATCH]]
            )
            yield {input_name: normalise_batch(pixels, preprocessing).contiguous().numpy()}

    def get_next(self) -> dict[str, Any] | None:
        return next(self._batches, None)


def quantize(fp32: Embedder, photos: Sequence[Path], out: Path) -> Path:
    """Write the int8 variant of an embedder (whose backbone ONNX Runtime runs) to out."""
    if not isinstance(fp32.model, OnnxBackbone):
        fp32 = onnx_embedder(fp32)
    backbone = fp32.model
    assert isinstance(backbone, OnnxBackbone)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".quantize-") as scratch:
        prepared, quantized = Path(scratch) / "prepared.onnx", Path(scratch) / "int8.onnx"
        # Shape inference and graph fusions first, as ONNX Runtime's quantization guide asks.
        quant_pre_process(str(backbone.path), str(prepared))
        try:
            quantize_static(
                str(prepared),
                str(quantized),
                _Batches(photos, fp32.preprocessing, "images"),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            )
        except ImageLoadError as error:
            raise ModelLoadError(f"a calibration photo cannot be read: {error}") from error
        model = onnx.load(str(quantized))
        entry = model.metadata_props.add()
        entry.key = METADATA_KEY
        entry.value = json.dumps(
            {
                "architecture": fp32.info.name,
                "source": fp32.info.key,
                "dimension": fp32.info.dimension,
                "preprocessing": fp32.preprocessing.to_dict(),
                "calibration_photos": len(photos),
            }
        )
        onnx.save(model, str(quantized))
        os.replace(quantized, out)
    return out


def load_int8(path: Path, *, threads: int | None = None) -> Embedder:
    """An embedder for a file written by quantize."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:
        # onnx reports unreadable files as protobuf decode errors and others, with no common base.
        raise ModelLoadError(f"cannot read ONNX model {path}: {error}") from error
    values = {entry.key: entry.value for entry in model.metadata_props}
    if METADATA_KEY not in values:
        raise ModelLoadError(f"{path} is not a Vitrine int8 model (no {METADATA_KEY!r} metadata)")
    try:
        meta = json.loads(values[METADATA_KEY])
        preprocessing = Preprocessing.from_dict(meta["preprocessing"])
        architecture, dimension = str(meta["architecture"]), int(meta["dimension"])
    except (ValueError, KeyError, TypeError, RecursionError) as error:
        # RecursionError: JSON nested past Python's limit.
        raise ModelLoadError(f"{path} has unreadable Vitrine metadata: {error}") from error
    if preprocessing.resize > MAX_RESIZE:
        raise ModelLoadError(
            f"{path}: its metadata resizes images to {preprocessing.resize} pixels (> {MAX_RESIZE})"
        )
    backbone = OnnxBackbone(path, threads=threads)
    produced = backbone.output_dimension
    if dimension < 1 or produced not in (None, dimension):
        # The collection is made of the size the metadata says; vectors of another size would
        # fail every upsert of the sync.
        raise ModelLoadError(f"{path}: its metadata says {dimension}-d vectors, the model gives {produced}")
    with path.open("rb") as file:
        label = "int8:" + hashlib.file_digest(file, "sha256").hexdigest()[:12]
    return Embedder(
        backbone,
        preprocessing,
        ModelInfo(architecture, label, dimension),
        channels_last=False,
    )


def main(argv: Sequence[str] | None = None) -> None:
    """`vitrine quantize`: write a model's int8 variant, calibrated on a folder of photos."""
    from embedder.registry import load_embedder

    parser = argparse.ArgumentParser(prog="vitrine quantize", description=main.__doc__)
    parser.add_argument("--model", default="efficientnet_lite0", help="the model spec to quantize")
    parser.add_argument(
        "--photos", type=Path, required=True, help="folder of calibration photos (searched deeply)"
    )
    parser.add_argument(
        "--count", type=int, default=DEFAULT_CALIBRATION_PHOTOS, help="calibration photos to use"
    )
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    arguments = parser.parse_args(argv)
    if arguments.out.suffix != ".onnx":
        parser.error("--out must name a .onnx file")
    if arguments.count < 1:
        parser.error("--count must be positive")
    try:
        photos = calibration_photos(arguments.photos, arguments.count)
        written = quantize(load_embedder(arguments.model, backend="onnx"), photos, arguments.out)
    except ModelLoadError as error:
        parser.exit(1, f"vitrine quantize: {error}\n")
    print(f"wrote {written} ({written.stat().st_size / 2**20:.1f} MiB, calibrated on {len(photos)} photos)")
