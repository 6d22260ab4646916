"""Catalog -> vector index sync. The database is the truth; the index is derived from it.

A sync compares what the index should hold (every catalog image with its product's fields)
with what it does hold (each point's content hash, payload hash and model), then:
embeds images that are new or whose content changed, rewrites payloads that are stale
(price, stock, ... never re-embeds), and deletes points whose image is gone. Because it
works from that comparison, running it twice does nothing the second time, and a sync
that was interrupted is finished by the next one.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from embedder import Embedder, ImageLoadError

from . import catalog, search_indexes
from .catalog import IndexedImage
from .database import transaction
from .image_store import ImageStore
from .model_provider import ModelProvider
from .vector_index import VectorIndex
from .vectors import IndexPoint, PointState

T = TypeVar("T")
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
    to_update: list[IndexedImage]
    to_delete: list[int]
    unchanged: int
    missing: int = 0
    content_changed: int = 0
    other_model: int = 0

    def drift(self) -> dict[str, int]:
        """Counts of each kind of difference; all zero when the index is current."""
        return {
            "missing_points": self.missing,
            "changed_images": self.content_changed,
            "other_model_vectors": self.other_model,
            "stale_payloads": len(self.to_update),
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
        states = (
            {state.id: state for state in self.store.point_states(collection)}
            if self.store.has_collection(collection)
            else {}
        )
        with self.sessions() as session:
            return plan_sync(catalog.iter_indexed_images(session), states, embedder.info.key)

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
        states = {state.id: state for state in self.store.point_states(collection)}
        with self.sessions() as session:
            plan = plan_sync(catalog.iter_indexed_images(session), states, model_key)
        report = SyncReport(collection, model_key, unchanged=plan.unchanged)

        for done, batch in _batches(plan.to_update, 5000):
            self.store.overwrite_payloads(
                collection, {item.image_id: point_payload(item, model_key) for item in batch}
            )
            report.payload_updated += len(batch)
            self.progress.advance("payload", done, len(plan.to_update))
            progress("payload", done, len(plan.to_update))

        reusable = KnownVectors(self.store, collection, states.values(), model_key)
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


def plan_sync(images: Iterator[IndexedImage], states: dict[int, PointState], model_key: str) -> SyncPlan:
    """Compare the catalog's images with the index's points."""
    to_embed: list[IndexedImage] = []
    to_update: list[IndexedImage] = []
    seen: set[int] = set()
    unchanged = missing = content_changed = other_model = 0
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
        elif state.payload_hash != payload_hash(item, model_key):
            to_update.append(item)
        else:
            unchanged += 1
    to_delete = sorted(point_id for point_id in states if point_id not in seen)
    return SyncPlan(to_embed, to_update, to_delete, unchanged, missing, content_changed, other_model)


def point_payload(item: IndexedImage, model_key: str) -> dict[str, Any]:
    """The payload stored with an image's vector, including the hash that dates it."""
    payload = item.payload()
    payload["content_hash"] = item.content_hash
    payload["model"] = model_key
    payload["payload_hash"] = _digest(payload)
    return payload


def payload_hash(item: IndexedImage, model_key: str) -> str:
    """A short digest of the payload's fields: changes when any filterable field changes."""
    return _digest({**item.payload(), "content_hash": item.content_hash, "model": model_key})


def _digest(document: dict[str, Any]) -> str:
    encoded = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()[:16]


class KnownVectors:
    """Vectors already computed for given image bytes, so no content is embedded twice."""

    def __init__(
        self, store: VectorIndex, collection: str, states: Iterable[PointState], model_key: str
    ) -> None:
        self.store = store
        self.collection = collection
        self._point_by_hash = {
            state.content_hash: state.id
            for state in states
            if state.content_hash and state.model == model_key
        }
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


def _batches(items: Sequence[T], size: int) -> Iterator[tuple[int, Sequence[T]]]:
    for start in range(0, len(items), size):
        batch = items[start : start + size]
        yield start + len(batch), batch


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None
