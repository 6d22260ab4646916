"""Embedding speed of a model's int8 variant (`vitrine quantize`) against its fp32 ONNX form.

Run from the repository root:
    .venv/bin/vitrine quantize --model efficientnet_lite0 \
        --photos ../shared/datasets/grocery-store/dataset/train --count 64 --out var/models/lite0-int8.onnx
    .venv/bin/python benchmarks/int8_inference.py --int8 var/models/lite0-int8.onnx [--photos 256]

In one run, on the same decoded val-split photos (never calibrated on: calibration reads train),
batches of 32 through each model's ONNX Runtime session on all usable cores, the two models
alternating for --repeats rounds (median images/s, so a load change hits both): baseline fp32
(the onnx backend of the model the int8 file was made from), ours int8. Decoding is excluded;
it is the same for both. Also the cosine between the two vectors of each photo. Retrieval quality
of the two comes from benchmarks/retrieval_quality.py (docs/quality.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import onnx
import torch

from embedder import Embedder, load_embedder
from embedder.pipeline import normalise_batch, read_pixels
from embedder.quantization import METADATA_KEY

DATASET = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "grocery-store" / "dataset"
BATCH = 32


def images_per_second(embedder: Embedder, batches: list[torch.Tensor]) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    vectors = np.concatenate([embedder.embed_batch(batch) for batch in batches])
    return len(vectors) / (time.perf_counter() - started), vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--int8", type=Path, required=True, help="a file written by vitrine quantize")
    parser.add_argument("--data", type=Path, default=DATASET)
    parser.add_argument("--photos", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    values = {entry.key: entry.value for entry in onnx.load(str(arguments.int8)).metadata_props}
    source = json.loads(values[METADATA_KEY])["source"]
    architecture = json.loads(values[METADATA_KEY])["architecture"]
    int8 = load_embedder(str(arguments.int8))
    fp32 = load_embedder(architecture, backend="onnx")
    if fp32.info.key != source:
        raise SystemExit(f"{arguments.int8} was made from {source}, not {fp32.info.key}")
    every = sorted((arguments.data / "val").rglob("*.jpg"))
    paths = every[:: max(1, len(every) // arguments.photos)][: arguments.photos]
    pixels = np.stack([read_pixels(path, fp32.preprocessing) for path in paths])
    batches = [
        normalise_batch(pixels[i : i + BATCH], fp32.preprocessing) for i in range(0, len(pixels), BATCH)
    ]
    print(f"{len(paths)} val photos, batches of {BATCH}, {os.cpu_count()} cores; load {os.getloadavg()}")
    speeds: dict[str, list[float]] = {"fp32": [], "int8": []}
    vectors: dict[str, np.ndarray] = {}
    images_per_second(fp32, batches[:1]), images_per_second(int8, batches[:1])  # warm both sessions
    for _ in range(arguments.repeats):
        for name, embedder in (("fp32", fp32), ("int8", int8)):
            speed, vectors[name] = images_per_second(embedder, batches)
            speeds[name].append(speed)
    base, ours = statistics.median(speeds["fp32"]), statistics.median(speeds["int8"])
    cosines = (vectors["fp32"] * vectors["int8"]).sum(axis=1)
    fp32_file: Path = fp32.model.path  # type: ignore[assignment]
    size = {"fp32": fp32_file.stat().st_size, "int8": arguments.int8.stat().st_size}
    print(f"{'model':28} {'images/s':>9} {'file MiB':>9}")
    print(f"{'baseline fp32 ' + fp32.info.name:28} {base:9.1f} {size['fp32'] / 2**20:9.1f}")
    print(f"{'ours int8 ' + int8.info.name:28} {ours:9.1f} {size['int8'] / 2**20:9.1f}")
    print(f"ratio int8 / fp32: {ours / base:.2f}x speed, {size['int8'] / size['fp32']:.2f}x file")
    print(
        f"cosine int8 vs fp32 per photo: mean {cosines.mean():.4f}, min {cosines.min():.4f}; "
        f"finished, load {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
