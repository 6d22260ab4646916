"""Images/s from JPEG file to unit vector: the naive way, our pipeline, each backend and the CPU's ceiling.

Run from the repository root:  .venv/bin/python benchmarks/embed_throughput.py [--model resnet50 ...]

ResNet ImageNet weights are not available offline, so ResNets run with seeded random weights written to a
temporary state-dict file: speed does not depend on the weight values. EfficientNet-Lite0 uses its real
ImageNet weights. Every figure is the best of --repeats runs, and each line says how busy the rest of the
machine was meanwhile (other processes' CPU use, in cores), because that moves the numbers a lot.
"""

import argparse
import copy
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime
import torch
import torchvision
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from embedder import Embedder, load_embedder, load_image
from embedder.onnx_backend import onnx_embedder
from embedder.pipeline import draft_size, embed_files, normalise_batch, read_pixels, usable_cores
from embedder.registry import FASTER_CPU_BACKEND, available_models

NAIVE = "naive: 1 at a time, PIL, defaults"
GROCERY_TRAIN = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "grocery-store" / "dataset" / "train"
)


@dataclass(frozen=True)
class Timing:
    """One measured run: its rate, per wall-clock and per CPU second, and how busy other processes were."""

    per_second: float
    per_cpu_second: float  # items per second of this process's own CPU time, all threads together
    others_cores: float  # other processes' average CPU use during the run, in cores
    load: float  # 1-minute load average when the run started


def busy_jiffies() -> int:
    """CPU time spent busy on the whole machine so far, in clock ticks (from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle, iowait = fields[3], fields[4]
    # Guest time is already counted in user time; the first eight fields are the busy and idle states.
    return sum(fields[:8]) - idle - iowait


def timed(work: Callable[[], object], items: int) -> Timing:
    """Run work once and return items per second, with the other processes' CPU use meanwhile."""
    load = os.getloadavg()[0]
    ticks = os.sysconf("SC_CLK_TCK")
    busy_before, own_before, start = busy_jiffies(), os.times(), time.perf_counter()
    work()
    wall = time.perf_counter() - start
    busy, own = busy_jiffies() - busy_before, os.times()
    own_seconds = (own.user - own_before.user) + (own.system - own_before.system)
    others = max(0.0, busy / ticks - own_seconds) / wall
    return Timing(items / wall, items / max(own_seconds, 1e-9), others, load)


def best(timings: Sequence[Timing]) -> Timing:
    """The fastest of several runs."""
    return max(timings, key=lambda timing: timing.per_second)


def matmul_flops(size: int = 2048, repeats: int = 7) -> tuple[float, float]:
    """The best fp32 FLOP per wall-clock second and per CPU second of a large square matmul, all cores."""
    generator = torch.Generator().manual_seed(0)
    left = torch.randn(size, size, generator=generator)
    right = torch.randn(size, size, generator=generator)
    left @ right
    runs = [timed(lambda: left @ right, 2 * size**3) for _ in range(repeats)]
    return max(run.per_second for run in runs), max(run.per_cpu_second for run in runs)


def model_flops(embedder: Embedder) -> float:
    """Floating-point operations per image of the backbone (multiply and add counted apart)."""
    crop = embedder.preprocessing.crop
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        embedder.model(torch.zeros(1, 3, crop, crop).to(memory_format=torch.channels_last))
    return float(counter.get_total_flops())


def load_model(name: str, weights_dir: Path) -> Embedder:
    """The PyTorch embedder: real weights for EfficientNet-Lite0, seeded random ones for ResNets."""
    if name == "efficientnet_lite0":
        return load_embedder(name)
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)()
    model.fc = torch.nn.Identity()
    path = weights_dir / f"{name}-random.pth"
    torch.save(model.state_dict(), path)
    return load_embedder(f"{name}:{path}")


def naive(embedder: Embedder, count: int) -> Callable[[Sequence[Path]], object]:
    """One image at a time: PIL decode, to_tensor, a contiguous-format model under no_grad."""
    model = copy.deepcopy(embedder.model).to(memory_format=torch.contiguous_format)

    def run(paths: Sequence[Path]) -> None:
        for path in paths[:count]:
            with Image.open(path) as image:
                tensor = embedder.preprocessing.to_tensor(image.convert("RGB"))
            with torch.no_grad():
                torch.nn.functional.normalize(model(tensor[None]), dim=1).numpy()

    return run


def model_only(embedder: Embedder, paths: Sequence[Path], batch_size: int) -> Callable[[], object]:
    """The backbone alone on already decoded batches: what inference costs without any decoding."""
    pixels = np.stack([read_pixels(path, embedder.preprocessing) for path in paths])
    batches = [
        normalise_batch(pixels[start : start + batch_size], embedder.preprocessing)
        for start in range(0, len(pixels), batch_size)
    ]
    return lambda: [embedder.embed_batch(batch) for batch in batches]


def latencies(search: Callable[[bytes], object], uploads: Sequence[bytes], requests: int) -> list[float]:
    """Seconds per search request, one uploaded JPEG each, after one warm-up request."""
    search(uploads[0])
    seconds = []
    for index in range(requests):
        start = time.perf_counter()
        search(uploads[index % len(uploads)])
        seconds.append(time.perf_counter() - start)
    return seconds


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which the given fraction of values lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


@dataclass(frozen=True)
class ModelResult:
    """The headline figures of one model."""

    name: str
    naive: Timing
    ours: Timing
    ceiling: float  # images per second at the measured matmul FLOP/s
    cpu_ceiling: float  # images per CPU second at the matmul's FLOP per CPU second
    chosen: str
    faster: str


def benchmark_model(
    name: str, paths: Sequence[Path], uploads: Sequence[bytes], args: argparse.Namespace, weights_dir: Path
) -> ModelResult:
    """Measure every way of embedding for one model and print them side by side."""
    torch_embedder = load_model(name, weights_dir)
    backends = {"torch": torch_embedder, "onnx": onnx_embedder(torch_embedder, threads=args.threads)}
    chosen = FASTER_CPU_BACKEND[name]
    flops = model_flops(torch_embedder)
    batch = args.batch_size

    def pipeline(embedder: Embedder) -> Callable[[Sequence[Path]], object]:
        return lambda subset: embed_files(
            embedder, subset, batch_size=batch, decode_workers=args.decode_workers, threads=args.threads
        )

    runs: dict[str, Callable[[Sequence[Path]], object]] = {
        NAIVE: naive(torch_embedder, args.naive_count),
        "Embedder.embed_paths, batch 32": lambda subset: torch_embedder.embed_paths(subset, batch_size=batch),
        "pipeline + torch": pipeline(backends["torch"]),
        "pipeline + onnx": pipeline(backends["onnx"]),
    }
    decoded = paths[: min(len(paths), 2 * batch)]
    model_runs = {
        f"model only, {key} (no decode)": model_only(embedder, decoded, batch)
        for key, embedder in backends.items()
    }
    for run in runs.values():
        run(paths[:batch])  # warm-up: thread pools, oneDNN primitives, ONNX Runtime allocations
    for prepared in model_runs.values():
        prepared()
    timings: dict[str, list[Timing]] = {label: [] for label in [*runs, *model_runs]}
    peaks = [matmul_flops()]
    for _ in range(args.repeats):
        # Interleaved, so that a burst of load from other processes hits every method alike.
        for label, run in runs.items():
            items = min(len(paths), args.naive_count) if label == NAIVE else len(paths)
            timings[label].append(timed(partial(run, paths), items))
        for label, prepared in model_runs.items():
            timings[label].append(timed(prepared, len(decoded)))
        peaks.append(matmul_flops())
    peak, cpu_peak = max(wall for wall, _ in peaks), max(cpu for _, cpu in peaks)
    ceiling, cpu_ceiling = peak / flops, cpu_peak / flops
    fastest = {label: best(values) for label, values in timings.items()}
    naive_rate = fastest[NAIVE].per_second
    faster = max(backends, key=lambda key: fastest[f"pipeline + {key}"].per_second)

    print(
        f"\n## {name}  ({torch_embedder.info.weights}; {flops / 1e9:.2f} GFLOP per image; "
        f"matmul peak {peak / 1e9:.0f} GFLOP/s, best of {len(peaks)} -> ceiling {ceiling:.1f} images/s; "
        f"per CPU second {cpu_peak / 1e9:.0f} GFLOP -> {cpu_ceiling:.1f} images)"
    )
    print(
        f"{'method':40} {'images/s':>9} {'x naive':>8} {'% ceiling':>10} {'per CPU s':>10} {'% ceil CPU':>11}"
        f" {'others':>7} {'load1':>6}"
    )
    for label, timing in fastest.items():
        mark = "  <- ours (auto)" if label == f"pipeline + {chosen}" else ""
        print(
            f"{label:40} {timing.per_second:9.2f} {timing.per_second / naive_rate:8.2f}"
            f" {100 * timing.per_second / ceiling:9.1f}% {timing.per_cpu_second:10.2f}"
            f" {100 * timing.per_cpu_second / cpu_ceiling:10.1f}% {timing.others_cores:7.2f}"
            f" {timing.load:6.2f}{mark}"
        )
    print(f"faster backend in this run: {faster}; auto uses {chosen}")
    print_latency(torch_embedder, backends[chosen], uploads, args.requests)
    return ModelResult(
        name,
        fastest[NAIVE],
        fastest[f"pipeline + {chosen}"],
        ceiling,
        cpu_ceiling,
        chosen,
        faster,
    )


def print_latency(naive_embedder: Embedder, ours: Embedder, uploads: Sequence[bytes], requests: int) -> None:
    """Search latency for one uploaded JPEG: decode its bytes and embed it, as the API does."""
    size = draft_size(ours.preprocessing)
    before = latencies(lambda data: naive_embedder.embed([load_image(data)]), uploads, requests)
    after = latencies(lambda data: ours.embed([load_image(data, draft=size)]), uploads, requests)
    print(
        f"search latency over {requests} requests (ms):   p50 before {1e3 * percentile(before, 0.5):.1f}"
        f"  ours {1e3 * percentile(after, 0.5):.1f}   p99 before {1e3 * percentile(before, 0.99):.1f}"
        f"  ours {1e3 * percentile(after, 0.99):.1f}"
    )


def print_summary(results: Sequence[ModelResult]) -> None:
    """Baseline and ours side by side, with the goals: >= 2x naive and >= 80% of the ceiling."""
    print("\n## summary (goals: ours >= 2x naive and >= 80% of the ceiling)")
    print(
        f"{'model':20} {'naive/s':>8} {'ours/s':>8} {'ours/naive':>10} {'ceiling/s':>10} {'% ceiling':>10}"
        f" {'% ceil CPU':>11} {'backend':>8} {'2x':>4} {'80%':>4}"
    )
    for result in results:
        ratio = result.ours.per_second / result.naive.per_second
        share = result.ours.per_second / result.ceiling
        cpu_share = result.ours.per_cpu_second / result.cpu_ceiling
        print(
            f"{result.name:20} {result.naive.per_second:8.2f} {result.ours.per_second:8.2f} {ratio:10.2f}"
            f" {result.ceiling:10.1f} {100 * share:9.1f}% {100 * cpu_share:10.1f}% {result.chosen:>8}"
            f" {_yes(ratio >= 2):>4} {_yes(share >= 0.8):>4}"
        )


def _yes(met: bool) -> str:
    """A goal as yes or no."""
    return "yes" if met else "no"


def sample_images(folder: Path, count: int) -> list[Path]:
    """count JPEGs spread evenly over the sorted files under folder, so every class is represented."""
    files = sorted(path for path in folder.rglob("*") if path.suffix.lower() in (".jpg", ".jpeg"))
    if len(files) < count:
        raise SystemExit(f"need {count} JPEGs under {folder}, found {len(files)}")
    step = len(files) / count
    return [files[int(index * step)] for index in range(count)]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=Path, default=GROCERY_TRAIN, help="folder searched for JPEGs")
    parser.add_argument("--count", type=int, default=256, help="images embedded per run")
    parser.add_argument("--model", nargs="+", choices=available_models(), default=available_models())
    parser.add_argument(
        "--naive-count", type=int, default=64, help="images for the slow one-at-a-time baseline (its rate)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--decode-workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="inference threads (default: usable cores)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per method; the best is reported")
    parser.add_argument("--requests", type=int, default=100, help="search requests for the latency")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Benchmark the chosen models and print the tables."""
    args = parse_arguments(argv)
    paths = sample_images(args.images, args.count)
    uploads = [path.read_bytes() for path in paths]  # also warms the page cache for every method
    cpu = cpu_model()
    print(
        f"# {len(paths)} JPEGs ({min(len(paths), args.naive_count)} for the naive baseline)"
        f" from {args.images}\n# {cpu}, {usable_cores()} usable cores; torch {torch.__version__},"
        f" {torch.get_num_threads()} threads by default; onnxruntime {onnxruntime.__version__};"
        f" load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as weights_dir:
        results = [benchmark_model(name, paths, uploads, args, Path(weights_dir)) for name in args.model]
    print_summary(results)
    print(f"# finished; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
