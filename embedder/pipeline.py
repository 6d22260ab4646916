"""Embed many image files fast: worker threads decode and resize while the model runs on earlier batches."""

import os
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torchvision.transforms.v2 import functional

from embedder.embedding import Embedder
from embedder.errors import ImageLoadError
from embedder.images import DEFAULT_MAX_PIXELS, load_image
from embedder.preprocessing import Preprocessing

Pixels = npt.NDArray[np.uint8]

# Batches decoded ahead of the one the model is on: enough that it never waits, few enough to bound memory.
_BATCHES_AHEAD = 2


def usable_cores() -> int:
    """How many CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def crop_pixels(image: Image.Image, preprocessing: Preprocessing) -> Pixels:
    """Resize and centre-crop as Preprocessing.to_tensor does; returns (crop, crop, 3) uint8 pixels."""
    resized = functional.resize(
        image, [preprocessing.resize], interpolation=functional.InterpolationMode.BILINEAR, antialias=True
    )
    return np.asarray(functional.center_crop(resized, [preprocessing.crop]), dtype=np.uint8)


def read_pixels(
    path: str | os.PathLike[str],
    preprocessing: Preprocessing,
    *,
    draft: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Pixels:
    """Load one image file and crop it to model input pixels; raises ImageLoadError naming the file."""
    # A JPEG is drafted and other large formats are shrunk by a whole factor, down to what the
    # resize keeps: the decode's memory follows the model's input size instead of the photo's.
    image = load_image(path, max_pixels=max_pixels, reduce_to=preprocessing.resize if draft else None)
    return crop_pixels(image, preprocessing)


def normalise_batch(pixels: Pixels, preprocessing: Preprocessing) -> torch.Tensor:
    """Turn (N, crop, crop, 3) uint8 pixels into a normalised channels-last float32 (N, 3, crop, crop)."""
    # Permuting NHWC gives a channels-last NCHW view for free; the float ops below keep that layout.
    # They are Preprocessing.to_tensor's own ops, run once per batch and on this thread only, so
    # worker threads never start PyTorch thread pools of their own.
    batch = torch.from_numpy(pixels).permute(0, 3, 1, 2)
    scaled = functional.to_dtype(batch, torch.float32, scale=True)
    normalised: torch.Tensor = functional.normalize(scaled, list(preprocessing.mean), list(preprocessing.std))
    return normalised


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run PyTorch's intra-op work on count threads for a while, then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass(frozen=True)
class EmbeddedBatch:
    """One batch of a stream: the rows it embedded and the files it could not read, by input position."""

    positions: list[int]
    vectors: npt.NDArray[np.float32]
    failures: list[tuple[int, ImageLoadError]]


def embed_batches(
    embedder: Embedder,
    paths: Sequence[str | os.PathLike[str]],
    *,
    batch_size: int = 32,
    decode_workers: int = 1,
    threads: int | None = None,
    draft: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Generator[EmbeddedBatch, None, None]:
    """Embed image files batch by batch, decoding ahead in threads; a file that cannot be read is a failure.

    Each batch covers the next `batch_size` paths in order. `threads` sets PyTorch's intra-op
    threads while the stream runs (None leaves the process's setting alone, as a server wants).
    """
    if batch_size < 1 or decode_workers < 1:
        raise ValueError(f"batch_size and decode_workers must be positive: {batch_size}, {decode_workers}")
    crop = embedder.preprocessing.crop
    with (
        torch_threads(threads) if threads else nullcontext(),
        ThreadPoolExecutor(decode_workers, thread_name_prefix="decode") as pool,
    ):
        pending: deque[Future[Pixels]] = deque()
        queued = iter(paths)

        def refill() -> None:
            """Keep the decoders a few batches ahead of the model."""
            while len(pending) < batch_size * _BATCHES_AHEAD:
                path = next(queued, None)
                if path is None:
                    return
                pending.append(
                    pool.submit(read_pixels, path, embedder.preprocessing, draft=draft, max_pixels=max_pixels)
                )

        try:
            for start in range(0, len(paths), batch_size):
                refill()
                count = min(batch_size, len(paths) - start)
                pixels = np.empty((count, crop, crop, 3), dtype=np.uint8)
                positions: list[int] = []
                failures: list[tuple[int, ImageLoadError]] = []
                for position in range(start, start + count):
                    try:
                        pixels[len(positions)] = pending.popleft().result()
                    except ImageLoadError as error:
                        failures.append((position, error))
                        continue
                    positions.append(position)
                refill()
                vectors = (
                    embedder.embed_batch(normalise_batch(pixels[: len(positions)], embedder.preprocessing))
                    if positions
                    else np.empty((0, embedder.info.dimension), dtype=np.float32)
                )
                yield EmbeddedBatch(positions, vectors, failures)
        finally:
            for future in pending:
                future.cancel()


def embed_files(
    embedder: Embedder,
    paths: Sequence[str | os.PathLike[str]],
    *,
    batch_size: int = 32,
    decode_workers: int = 1,
    threads: int | None = None,
    draft: bool = True,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> npt.NDArray[np.float32]:
    """Embed image files in order, decoding ahead in threads; rows match Embedder.embed_paths.

    Raises ImageLoadError naming the first file that cannot be read.
    """
    vectors = np.empty((len(paths), embedder.info.dimension), dtype=np.float32)
    # One PyTorch thread per core: decoding is a few percent of the work, and Pillow releases the GIL
    # while it decodes and resizes, so the workers slot into the gaps rather than need cores of their own.
    batches = embed_batches(
        embedder,
        paths,
        batch_size=batch_size,
        decode_workers=decode_workers,
        threads=threads or usable_cores(),
        draft=draft,
        max_pixels=max_pixels,
    )
    with closing(batches):  # stops the decoders at once when a file fails
        for batch in batches:
            if batch.failures:
                raise batch.failures[0][1]
            vectors[batch.positions] = batch.vectors
    return vectors
