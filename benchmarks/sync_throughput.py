"""Images/s of `vitrine sync` against the batch pipeline alone, on shop photos and on phone-size photos.

Run from the repository root:  .venv/bin/python benchmarks/sync_throughput.py [--count 256 --large 64]

Each photo set becomes a catalog (one product per photo) imported into a fresh SQLite database and image
store, and synced into a fresh Qdrant Edge collection, as `vitrine import` and `vitrine sync` do. In the same
run, on the same image-store files and with the same embedder (the configured model and backend):

- pipeline: `embedder.pipeline.embed_files`, the batch pipeline on its own (the goal's reference);
- sync: `SyncService.run()` from an empty collection: plan, embed through the pipeline, upserts, optimize;
- per-image: how the sync embedded before it used the pipeline (each image loaded whole on the main
  thread, then `Embedder.embed` per batch), embedding only, as a baseline.

The large set is grocery photos upscaled (bicubic) so that the longer side is 3,000-4,000 pixels, as phone
photos are, saved as JPEG quality 90. Every figure is the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from embed_throughput import GROCERY_TRAIN, sample_images  # the script beside this one
from PIL import Image

from backend.catalog import queries
from backend.catalog.database import upgrade_schema
from backend.settings import Settings
from backend.wiring import Services, build_services
from embedder import load_image
from embedder.pipeline import embed_files, usable_cores

GOAL = 0.90  # sync at least this share of the pipeline's rate


@dataclass(frozen=True)
class Rates:
    """Images/s of each method on one photo set."""

    photos: str
    count: int
    pipeline: float
    sync: float
    per_image: float


def upscale(photos: Sequence[Path], folder: Path) -> list[Path]:
    """Copies of the photos with the longer side 3,000-4,000 pixels (seeded), as phones take them."""
    folder.mkdir(parents=True, exist_ok=True)
    chooser = random.Random(0)
    large = []
    for index, photo in enumerate(photos):
        with Image.open(photo) as image:
            scale = chooser.randint(3000, 4000) / max(image.size)
            size = (round(image.width * scale), round(image.height * scale))
            target = folder / f"large-{index}.jpg"
            image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(target, quality=90)
        large.append(target)
    return large


def catalog_services(photos: Sequence[Path], folder: Path) -> Services:
    """A fresh data folder whose catalog holds one product per photo, imported as `vitrine import` does."""
    lines = [
        json.dumps(
            {
                "sku": f"P-{index}",
                "name": f"Product {index}",
                "category": photo.parent.name,
                "price": 10 + index % 50,
                "currency": "SEK",
                "in_stock": index % 3 != 0,
                "images": [str(photo)],
            }
        )
        for index, photo in enumerate(photos)
    ]
    catalog_file = folder / "catalog.jsonl"
    folder.mkdir(parents=True, exist_ok=True)
    catalog_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # SQLite and the embedded engine, whatever the environment names: the defaults a shop starts with.
    environment = {
        **os.environ,
        "VITRINE_DATA_DIR": str(folder / "data"),
        "DATABASE_URL": "",
        "QDRANT_URL": "",
    }
    settings = Settings.from_env(environment)
    upgrade_schema(settings.database_url)
    services = build_services(settings)
    services.catalog.import_file(catalog_file, Path("/"))
    return services


def stored_paths(services: Services) -> list[Path]:
    """The image-store files of the catalog, in image order: what the sync reads."""
    with services.sessions() as session:
        return [services.images.path(item.storage_key) for item in queries.iter_indexed_images(session)]


def best_rate(
    work: Callable[[], object], items: int, repeats: int, setup: Callable[[], object] | None = None
) -> float:
    """Images per second of the fastest of `repeats` runs; `setup` runs before each, untimed."""
    fastest = float("inf")
    for _ in range(repeats):
        if setup is not None:
            setup()
        started = time.perf_counter()
        work()
        fastest = min(fastest, time.perf_counter() - started)
    return items / fastest


def measure(name: str, photos: Sequence[Path], folder: Path, args: argparse.Namespace) -> Rates:
    """The three rates on one photo set."""
    services = catalog_services(photos, folder / name)
    try:
        embedder = services.models.get()
        paths = stored_paths(services)
        batch = services.settings.embed_batch_size
        embed_files(embedder, paths[:batch], batch_size=batch)  # warm-up: thread pools, allocations
        pipeline = best_rate(lambda: embed_files(embedder, paths, batch_size=batch), len(paths), args.repeats)

        def empty_the_collection() -> None:
            collection = services.store.collection_name(embedder.info.key)
            if services.store.has_collection(collection):
                services.store.delete(
                    collection, [state.id for state in services.store.point_states(collection)]
                )

        def sync_from_empty() -> None:
            report = services.sync.run()
            if report.embedded != len(paths) or report.failed:
                raise SystemExit(f"sync embedded {report.embedded} of {len(paths)}: {report.failed[:3]}")

        sync = best_rate(sync_from_empty, len(paths), args.repeats, setup=empty_the_collection)

        def per_image() -> None:
            for start in range(0, len(paths), batch):
                pictures = [
                    load_image(path, max_pixels=services.images.max_pixels)
                    for path in paths[start : start + batch]
                ]
                embedder.embed(pictures, batch_size=batch)

        before = best_rate(per_image, len(paths), args.repeats)
        return Rates(name, len(paths), pipeline, sync, before)
    finally:
        services.close()


def print_table(rates: Sequence[Rates]) -> None:
    """Baseline and ours side by side, with ratios."""
    print(
        "| photos | images | pipeline alone, img/s | sync, img/s | sync / pipeline | goal >= 0.90 "
        "| per-image (before), img/s | sync / before |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for rate in rates:
        ratio, met = rate.sync / rate.pipeline, "yes" if rate.sync >= GOAL * rate.pipeline else "no"
        print(
            f"| {rate.photos} | {rate.count} | {rate.pipeline:.1f} | {rate.sync:.1f} | {ratio:.2f} | {met} "
            f"| {rate.per_image:.1f} | {rate.sync / rate.per_image:.2f} |"
        )


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--images", type=Path, default=GROCERY_TRAIN, help="folder searched for JPEGs")
    parser.add_argument("--count", type=int, default=256, help="grocery photos in the first set")
    parser.add_argument("--large", type=int, default=64, help="photos upscaled to 3,000-4,000 px")
    parser.add_argument("--repeats", type=int, default=2, help="runs per method; the best is reported")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Measure both photo sets and print the table."""
    args = parse_arguments(argv)
    photos = sample_images(args.images, args.count)
    settings = Settings.from_env()
    print(
        f"# model {settings.model}, backend {settings.inference_backend}, batch {settings.embed_batch_size};"
        f" {usable_cores()} usable cores, torch {torch.__version__} with {torch.get_num_threads()} threads;"
        f" load {os.getloadavg()}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        large = upscale(photos[:: max(1, len(photos) // args.large)][: args.large], folder / "large-photos")
        rates = [
            measure("grocery (shop photos)", photos, folder, args),
            measure("upscaled to 3000-4000 px", large, folder, args),
        ]
    print_table(rates)
    print(f"# finished; load {os.getloadavg()}")


if __name__ == "__main__":
    main()
