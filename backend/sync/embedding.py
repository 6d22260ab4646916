"""The sync's embedding step: each distinct image content embedded once, through the batch pipeline.

Images whose bytes the collection already holds a vector for (another product's copy of the
photo, or a replaced image's old content) reuse that vector. The others are read by
`embedder.pipeline`: decoder threads draft-decode and crop the next batches while the model
runs on this one (benchmarks/embed_throughput.py measures both). Images sharing bytes are
decoded once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.catalog.image_store import ImageStore
from backend.catalog.queries import IndexedImage
from backend.filters.fields import point_payload
from backend.vectors.store import VectorIndex
from backend.vectors.types import IndexPoint
from embedder import Embedder
from embedder.pipeline import embed_batches

# Stored vectors fetched per call when reusing them.
REUSE_CHUNK = 256
# Points to write, and how many of the images to embed are done once they are written.
PointSink = Callable[[list[IndexPoint], int], None]


@dataclass
class EmbedOutcome:
    """How the images to embed were handled."""

    embedded: int = 0
    reused: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)


def embed_images(
    to_embed: Sequence[IndexedImage],
    *,
    embedder: Embedder,
    images: ImageStore,
    store: VectorIndex,
    collection: str,
    vectors_by_hash: dict[str, int],
    write: PointSink,
    batch_size: int = 32,
    decode_workers: int = 1,
) -> EmbedOutcome:
    """Give every image in `to_embed` a point, handing them to `write` a batch at a time.

    With each batch `write` is told how many of `to_embed` are done once it is written (an
    empty batch when all of one failed). An image that cannot be read is listed in the
    outcome's `failed` and gets no point.
    """
    model_key = embedder.info.key
    outcome = EmbedOutcome()
    by_hash: dict[str, list[IndexedImage]] = {}
    for item in to_embed:
        by_hash.setdefault(item.content_hash, []).append(item)
    done = 0

    def points(vector: np.ndarray, group: list[IndexedImage]) -> Iterator[IndexPoint]:
        return (IndexPoint(item.image_id, vector, point_payload(item, model_key)) for item in group)

    # Stored vectors first: no decoding, and what remains is the pipeline's work alone.
    stored = [content_hash for content_hash in by_hash if content_hash in vectors_by_hash]
    for start in range(0, len(stored), REUSE_CHUNK):
        chunk = stored[start : start + REUSE_CHUNK]
        found = store.vectors(collection, [vectors_by_hash[content_hash] for content_hash in chunk])
        batch: list[IndexPoint] = []
        for content_hash in chunk:
            vector = found.get(vectors_by_hash[content_hash])
            if vector is not None:
                group = by_hash.pop(content_hash)
                batch.extend(points(vector, group))
                outcome.reused += len(group)
        if batch:
            done += len(batch)
            write(batch, done)

    groups = list(by_hash.values())
    stream = embed_batches(
        embedder,
        [images.path(group[0].storage_key) for group in groups],
        batch_size=batch_size,
        decode_workers=decode_workers,
        max_pixels=images.max_pixels,
    )
    for embedded in stream:
        batch = []
        for position, vector in zip(embedded.positions, embedded.vectors, strict=True):
            group = groups[position]
            batch.extend(points(vector, group))
            outcome.embedded += 1
            outcome.reused += len(group) - 1
        for position, error in embedded.failures:
            outcome.failed.extend(
                {"image_id": item.image_id, "reason": str(error)} for item in groups[position]
            )
            done += len(groups[position])
        done += len(batch)
        write(batch, done)
    return outcome
