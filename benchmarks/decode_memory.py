"""Peak memory and time of decoding one uploaded photo, whole (the old path) and reduced (ours).

Run from the repository root:  .venv/bin/python benchmarks/decode_memory.py [--repeats 3]

Each decode runs in a fresh Python process, which resets Linux's peak-RSS mark (VmHWM, through
/proc/self/clear_refs) just before decoding and reports how far the peak rose above what the
process held then; the photo's bytes are already in memory. For each photo, in the same run:

- baseline: what load_image did before this change: load the whole image, turn it as its EXIF says
  (a copy), convert to RGB at once (compositing transparency: RGBA, background, composite, RGB);
- ours: `ImageStore.decode` as the API calls it: JPEGs drafted in the DCT, other formats shrunk by a
  whole factor in strips, down to a shorter side of DECODE_SIZE (512) pixels.

The photos are Grocery Store test photos upscaled to each size (read from --dataset, never kept).
Both images then go through EfficientNet-Lite0's preprocessing and model in this process; the cosine
between their vectors says what the reduction costs in quality (1.0: none).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, time
from pathlib import Path
from PIL import Image, ImageOps
from backend.catalog.image_store import ImageStore
from embedder.images import to_rgb

path, how = Path(sys.argv[1]), sys.argv[2]
data = path.read_bytes()

def status(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024

Path("/proc/self/clear_refs").write_text("5")
before, started = status("VmRSS"), time.perf_counter()
if how == "baseline":
    import io
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        image = to_rgb(ImageOps.exif_transpose(opened))
else:
    image = ImageStore(Path("."), max_pixels=40_000_000).decode(data, name=path.name)
seconds = time.perf_counter() - started
image.save(sys.argv[3], format="PNG", compress_level=1)
print(json.dumps({"peak": status("VmHWM") - before, "seconds": seconds, "size": image.size}))
"""


def photos(folder: Path, dataset: Path) -> dict[str, Path]:
    """The photos measured: each the kind of upload that cost most before, made from a shop photo."""
    shots = sorted((dataset / "test").rglob("*.jpg"))
    if not shots:
        raise SystemExit(f"no shop photos under {dataset / 'test'}: pass --dataset")

    def shop_photo(index: int, size: tuple[int, int]) -> np.ndarray:
        # A real photo upscaled, with a little sensor noise, so the model sees what a shop's looks like.
        with Image.open(shots[index * 97 % len(shots)]) as shot:
            pixels = np.asarray(shot.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
        noise = np.random.default_rng(index).integers(-6, 7, pixels.shape, dtype=np.int16)
        return (pixels + noise).clip(0, 255).astype(np.uint8)

    made = {}
    y, x = np.mgrid[0:6000, 0:6000]
    alpha = np.where((x - 3000) ** 2 + (y - 3000) ** 2 < 2800**2, 255, 0).astype(np.uint8)
    made["6000x6000 RGBA PNG (cut-out)"] = folder / "rgba.png"
    rgba = np.concatenate([shop_photo(0, (6000, 6000)), alpha[..., None]], axis=-1)
    Image.fromarray(rgba, "RGBA").save(made["6000x6000 RGBA PNG (cut-out)"], compress_level=6)
    exif = Image.Exif()
    exif[0x0112] = 6  # phones store photos sideways and say so in EXIF
    made["4032x3024 phone JPEG (EXIF turned)"] = folder / "phone.jpg"
    Image.fromarray(shop_photo(1, (4032, 3024))).save(
        made["4032x3024 phone JPEG (EXIF turned)"], quality=92, exif=exif
    )
    made["8000x400 PNG (20:1)"] = folder / "strip.png"
    Image.fromarray(shop_photo(2, (8000, 400))).save(made["8000x400 PNG (20:1)"])
    return made


def decode(path: Path, how: str, out: Path) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), how, str(out)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, object] = json.loads(run.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="decodes per photo and path (median)")
    parser.add_argument("--dataset", type=Path, default=ROOT.parent / "shared/datasets/grocery-store/dataset")
    arguments = parser.parse_args()
    from embedder import load_embedder

    model = load_embedder("efficientnet_lite0")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; median of {arguments.repeats}")
    header = f"{'photo':36} {'path':9} {'peak MiB':>9} {'ms':>7} {'decoded':>11} {'cosine':>7}"
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for label, path in photos(folder, arguments.dataset).items():
            print(f"\n{label}: {path.stat().st_size / 2**20:.1f} MiB file")
            print(header)
            measured = {}
            for how in ("baseline", "ours"):
                out = folder / f"{how}.png"
                runs = [decode(path, how, out) for _ in range(arguments.repeats)]
                peak = statistics.median(float(str(run["peak"])) for run in runs) / 2**20
                ms = statistics.median(float(str(run["seconds"])) for run in runs) * 1000
                with Image.open(out) as decoded:
                    vector = model.embed([decoded.convert("RGB")])[0]
                measured[how] = (peak, ms, vector)
                cosine = float(vector @ measured["baseline"][2])
                size = "x".join(str(side) for side in runs[0]["size"])  # type: ignore[attr-defined]
                print(f"{'':36} {how:9} {peak:9.1f} {ms:7.1f} {size:>11} {cosine:7.4f}")
            (base_peak, base_ms, _), (peak, ms, _) = measured["baseline"], measured["ours"]
            print(f"{'':36} {'ratio':9} {base_peak / peak:8.1f}x {base_ms / ms:6.1f}x  (baseline / ours)")


if __name__ == "__main__":
    main()
