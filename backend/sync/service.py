"""Catalog -> vector index sync. The database is the truth; the index is derived from it.

A sync compares what the index should hold (every catalog image with its product's fields)
with what it does hold (each point's payload, which names the image content and the model
its vector came from), then: embeds images that are new or whose content changed, writes
the payload fields that are stale (price, stock, ... never re-embeds; only the fields that
differ, one operation for points given the same change), and deletes points whose image is
gone. Because it works from that comparison, running it twice does nothing the second time,
and a sync that was interrupted is finished by the next one.
"""

from __future__ import annotations

import gc
import json
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import live_collections as search_indexes
from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.image_store import ImageStore
from backend.catalog.queries import IndexedImage
from backend.json_values import same_json
from backend.model_provider import ModelProvider
from backend.vectors.store import VectorIndex
from backend.vectors.types import IndexPoint, PayloadUpdate, PointState
from embedder import Embedder, ImageLoadError

T = TypeVar("T")
# Payload operations handed to the store at a time while the comparison goes on.
PAYLOAD_CHUNK = 2000
UpdateSink = Callable[[list[PayloadUpdate]], None]
Progress = Callable[[str, int, int], None]


@dataclass
class SyncReport:
    """What one sync did."""

    collection: str
    model: str
    embedded: int = 0
    reused: int = 0
    payload_updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    active: bool = False

    @property
    def changed(self) -> bool:
        """Whether the sync wrote anything."""
        return bool(self.embedded or self.reused or self.payload_updated or self.deleted)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class SyncPlan:
    """The differences between the catalog and the index."""

    to_embed: list[IndexedImage]
    to_update: list[PayloadUpdate]
    to_delete: list[int]
    unchanged: int
    missing: int = 0
    content_changed: int = 0
    other_model: int = 0
    # Points of this model by image content hash, whose vectors new images with the same bytes reuse.
    vectors_by_hash: dict[str, int] = field(default_factory=dict)

    @cached_property
    def stale_points(self) -> int:
        """Points whose payload needs writing."""
        return sum(len(update.point_ids) for update in self.to_update)

    def drift(self) -> dict[str, int]:
        """Counts of each kind of difference; all zero when the index is current."""
        return {
            "missing_points": self.missing,
            "changed_images": self.content_changed,
            "other_model_vectors": self.other_model,
            "stale_payloads": self.stale_points,
            "orphan_points": len(self.to_delete),
        }


class SyncProgress:
    """What this process's sync is doing, for the status endpoint."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.running = False
        self.stage = ""
        self.done = 0
        self.total = 0
        self.started_at: str | None = None
        self.last_report: SyncReport | None = None

    def start(self) -> None:
        with self._guard:
            self.running, self.stage, self.done, self.total = True, "planning", 0, 0
            self.started_at = datetime.now(UTC).isoformat()

    def advance(self, stage: str, done: int, total: int) -> None:
        with self._guard:
            self.stage, self.done, self.total = stage, done, total

    def finish(self, report: SyncReport | None) -> None:
        with self._guard:
            self.running, self.stage = False, "idle"
            if report is not None:
                self.last_report = report

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot."""
        with self._guard:
            return {
                "running": self.running,
                "stage": self.stage,
                "done": self.done,
                "total": self.total,
                "started_at": self.started_at,
                "last_report": self.last_report.to_dict() if self.last_report else None,
            }


class SyncService:
    """Keeps one model's collection equal to the catalog."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: VectorIndex,
        models: ModelProvider,
        images: ImageStore,
        *,
        lock: Callable[[], AbstractContextManager[None]],
        batch_size: int = 32,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.models = models
        self.images = images
        self.batch_size = batch_size
        self._lock = lock
        self.progress = SyncProgress()

    def run(
        self, progress: Progress | None = None, *, model_spec: str | None = None, activate: bool = True
    ) -> SyncReport:
        """Bring a model's collection in line with the catalog (default: the active model's).

        A collection of a new model is built beside the active one and, when complete and
        `activate` is set, becomes the one search uses. A sync already running anywhere is a Conflict.
        """
        with self._lock():
            self.progress.start()
            try:
                report = self._run(progress or _no_progress, model_spec, activate)
            except BaseException:
                self.progress.finish(None)
                raise
            self.progress.finish(report)
            return report

    def check(self, model_spec: str | None = None) -> SyncPlan:
        """What a sync would do now, without doing it (drift detection)."""
        _spec, embedder, collection = self._target(model_spec)
        return self._plan(collection, embedder.info.key, indexed=self.store.has_collection(collection))

    def _plan(
        self, collection: str, model_key: str, write: UpdateSink | None = None, *, indexed: bool = True
    ) -> SyncPlan:
        with (
            _collector_paused(),
            self.sessions() as session,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-catalog") as reader,
        ):
            # The database answers the catalog's first page while the index is read here.
            images = _read_ahead(catalog.iter_indexed_pages(session), reader)
            states = {state.id: state for state in self.store.point_states(collection)} if indexed else {}
            return plan_sync(images, states, model_key, write)

    def _target(self, model_spec: str | None) -> tuple[str, Embedder, str]:
        if model_spec is None:
            with self.sessions() as session:
                active = search_indexes.active_index(session)
            model_spec = active.model_spec if active else self.models.spec
        embedder = self.models.get(model_spec)
        return model_spec, embedder, self.store.collection_name(embedder.info.key)

    def _run(self, progress: Progress, model_spec: str | None, activate: bool) -> SyncReport:
        spec, embedder, collection = self._target(model_spec)
        model_key = embedder.info.key
        self.store.ensure_collection(collection, embedder.info.dimension)
        with transaction(self.sessions) as session:
            index = search_indexes.register_index(
                session, collection, spec, model_key, embedder.info.dimension
            )
            already_active = index.state == "active"
        # Stale payloads are written on a second thread while the comparison goes on.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-payload") as writer:
            writes: list[tuple[int, Future[None]]] = []

            def write(updates: list[PayloadUpdate]) -> None:
                points = sum(len(update.point_ids) for update in updates)
                store_call = partial(self.store.update_payloads, collection, updates, durable=False)
                writes.append((points, writer.submit(store_call)))

            plan = self._plan(collection, model_key, write)
            report = SyncReport(collection, model_key, unchanged=plan.unchanged)
            for points, written in writes:
                written.result()
                report.payload_updated += points
                self.progress.advance("payload", report.payload_updated, plan.stale_points)
                progress("payload", report.payload_updated, plan.stale_points)
        if writes:
            self.store.flush(collection)

        reusable = KnownVectors(self.store, collection, plan.vectors_by_hash)
        for done, batch in _batches(plan.to_embed, self.batch_size):
            self._embed_batch(collection, model_key, embedder, batch, reusable, report)
            self.progress.advance("embed", done, len(plan.to_embed))
            progress("embed", done, len(plan.to_embed))

        # Deleting last keeps a replaced image's old vector available for reuse above.
        self.store.delete(collection, plan.to_delete)
        report.deleted = len(plan.to_delete)
        if report.changed:
            self.store.optimize(collection)  # engines that index on demand (Edge) index changes now
        # A new model goes live only complete; the live one stays live whatever happens.
        if activate and not already_active and not report.failed:
            self.store.point_alias(self.store.active_alias, collection)
            with transaction(self.sessions) as session:
                search_indexes.activate_index(session, collection)
        report.active = already_active or (activate and not report.failed)
        return report

    def _embed_batch(
        self,
        collection: str,
        model_key: str,
        embedder: Embedder,
        batch: Sequence[IndexedImage],
        reusable: KnownVectors,
        report: SyncReport,
    ) -> None:
        points: list[IndexPoint] = []
        pending: list[IndexedImage] = []
        pictures = []
        for item in batch:
            vector = reusable.get(item.content_hash)
            if vector is not None:
                points.append(IndexPoint(item.image_id, vector, point_payload(item, model_key)))
                report.reused += 1
                continue
            try:
                pictures.append(self.images.load(item.storage_key))
            except (ImageLoadError, OSError) as error:
                report.failed.append({"image_id": item.image_id, "reason": str(error)})
                continue
            pending.append(item)
        if pending:
            vectors = embedder.embed(pictures, batch_size=self.batch_size)
            for item, vector in zip(pending, vectors, strict=True):
                reusable.remember(item.content_hash, vector)
                points.append(IndexPoint(item.image_id, vector, point_payload(item, model_key)))
            report.embedded += len(pending)
        self.store.upsert(collection, points)


def plan_sync(
    images: Iterator[IndexedImage],
    states: dict[int, PointState],
    model_key: str,
    write: UpdateSink | None = None,
) -> SyncPlan:
    """Compare the catalog's images with the index's points.

    With `write`, payload updates are handed to it in chunks as they are found (so they can
    be written while the comparison goes on); the plan lists them all either way.
    """
    to_embed: list[IndexedImage] = []
    to_update: list[PayloadUpdate] = []
    updates: dict[Hashable, PayloadUpdate] = {}  # points given the same fields share one operation
    seen: set[int] = set()
    unchanged = missing = content_changed = other_model = 0

    def hand_over() -> None:
        chunk = list(updates.values())
        updates.clear()
        to_update.extend(chunk)
        if write is not None and chunk:
            write(chunk)

    for item in images:
        seen.add(item.image_id)
        state = states.get(item.image_id)
        if state is None:
            missing += 1
            to_embed.append(item)
        elif state.model != model_key:
            other_model += 1
            to_embed.append(item)
        elif state.content_hash != item.content_hash:
            content_changed += 1
            to_embed.append(item)
        else:
            update = payload_update(item.image_id, state.payload, point_payload(item, model_key))
            if update is None:
                unchanged += 1
            else:
                _add(updates, update)
                if len(updates) >= PAYLOAD_CHUNK:
                    hand_over()
    hand_over()
    to_delete = sorted(point_id for point_id in states if point_id not in seen)
    vectors_by_hash = (
        {
            state.content_hash: state.id
            for state in states.values()
            if state.content_hash and state.model == model_key
        }
        if to_embed
        else {}
    )
    return SyncPlan(
        to_embed, to_update, to_delete, unchanged, missing, content_changed, other_model, vectors_by_hash
    )


def point_payload(item: IndexedImage, model_key: str) -> dict[str, Any]:
    """The payload stored with an image's vector: product fields, image content hash, model."""
    payload = item.payload()
    payload["content_hash"] = item.content_hash
    payload["model"] = model_key
    return payload


def payload_update(point_id: int, stored: dict[str, Any], wanted: dict[str, Any]) -> PayloadUpdate | None:
    """What turns a point's stored payload into the wanted one: None, the changed fields, or all.

    Values compare as JSON does (True is not 1, "1" is not 1). Fields the wanted payload
    no longer has (left by an older version) need the whole payload replaced.
    """
    if stored == wanted:  # the common case, confirmed type by type
        for key, value in wanted.items():
            old = stored[key]
            if type(old) is not type(value) or (type(value) in _NESTED and not same_json(old, value)):
                break
        else:
            return None
    if stored.keys() - wanted.keys():
        return PayloadUpdate([point_id], wanted, replace=True)
    changed = {}
    for key, value in wanted.items():
        old = stored.get(key, _ABSENT)
        differs = old != value or type(old) is not type(value)
        if differs or (type(value) in _NESTED and not same_json(old, value)):
            changed[key] = value
    return PayloadUpdate([point_id], changed) if changed else None


_ABSENT = object()
_NESTED = (dict, list)


def _add(updates: dict[Hashable, PayloadUpdate], update: PayloadUpdate) -> None:
    """Add a point's update, sharing an operation with points given exactly the same fields.

    Photos of one product change together, and so do products put out of stock or moved
    to another brand: one operation each instead of one per point.
    """
    key: Hashable
    if update.replace:
        key = ("replace", update.point_ids[0])  # whole payloads differ per point (image_id)
    else:
        key = tuple((field_name, type(value), value) for field_name, value in update.fields.items())
        try:
            hash(key)
        except TypeError:  # nested values: compare them as JSON text, which keeps true apart from 1
            key = json.dumps(update.fields, sort_keys=True)
    existing = updates.get(key)
    if existing is None:
        updates[key] = update
    else:
        existing.point_ids.extend(update.point_ids)


class KnownVectors:
    """Vectors already computed for given image bytes, so no content is embedded twice."""

    def __init__(self, store: VectorIndex, collection: str, point_by_hash: dict[str, int]) -> None:
        self.store = store
        self.collection = collection
        self._point_by_hash = point_by_hash
        self._cache: dict[str, np.ndarray | None] = {}

    def get(self, content_hash: str) -> np.ndarray | None:
        """A vector for these bytes, if the index has one."""
        if content_hash not in self._cache:
            point_id = self._point_by_hash.get(content_hash)
            found = self.store.vectors(self.collection, [point_id]) if point_id else {}
            self._cache[content_hash] = found.get(point_id) if point_id else None
        return self._cache[content_hash]

    def remember(self, content_hash: str, vector: np.ndarray) -> None:
        """Record a freshly computed vector."""
        self._cache[content_hash] = vector


def _read_ahead(pages: Iterator[list[T]], reader: ThreadPoolExecutor) -> Iterator[T]:
    """The items of `pages`, the next page read on `reader`'s thread while this one is used.

    Reading starts at once, not on the first `next`. One thread at a time advances `pages`.
    """
    pending = reader.submit(next, pages, None)

    def items() -> Iterator[T]:
        nonlocal pending
        while (page := pending.result()) is not None:
            pending = reader.submit(next, pages, None)
            yield from page

    return items()


def _batches(items: Sequence[T], size: int) -> Iterator[tuple[int, Sequence[T]]]:
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        yield start + len(batch), batch


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the plan builds ~50 objects per point.

    Those objects hold no cycles; left on, the collector walks all of them again and again
    (a third of the plan's time at 10k points). Reference counting still frees memory.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None
