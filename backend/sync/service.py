"""Catalog -> vector index sync. The database is the truth; the index is derived from it.

A sync compares what the index should hold with what it does hold (`plan.py`), then writes
the payload fields that are stale (price, stock, ... never re-embeds; only the fields that
differ, one operation for points given the same change), embeds images that are new or whose
content changed (`embedding.py`), and deletes points whose image is gone. Because it works
from that comparison, running it twice does nothing the second time, and a sync that was
interrupted is finished by the next one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from functools import partial

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import live_collections
from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.image_store import ImageStore
from backend.model_provider import ModelProvider
from backend.sync.embedding import embed_images
from backend.sync.plan import SyncPlan, UpdateSink, plan_sync
from backend.sync.report import SyncProgress, SyncReport
from backend.sync.threads import collector_paused, read_ahead
from backend.vectors.store import VectorIndex
from backend.vectors.types import IndexPoint, PayloadUpdate
from embedder import Embedder

Progress = Callable[[str, int, int], None]
# Batches of points handed to the writer thread and not yet written: bounds the memory they hold.
_UPSERTS_IN_FLIGHT = 2


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
        decode_workers: int = 1,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.models = models
        self.images = images
        self.batch_size = batch_size
        self.decode_workers = decode_workers
        self._lock = lock
        self.progress = SyncProgress(sessions)
        # Each is told how every sync ended: its report, or None if it failed (the API's /metrics).
        self.finish_observers: list[Callable[[SyncReport | None], None]] = []

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
                self._finish(None)
                raise
            self._finish(report)
            return report

    def _finish(self, report: SyncReport | None) -> None:
        self.progress.finish(report)
        for observe in self.finish_observers:
            observe(report)

    def check(self, model_spec: str | None = None) -> SyncPlan:
        """What a sync would do now, without doing it (drift detection)."""
        _spec, embedder, collection = self._target(model_spec)
        return self._plan(collection, embedder.info.key, indexed=self.store.has_collection(collection))

    def _plan(
        self, collection: str, model_key: str, write: UpdateSink | None = None, *, indexed: bool = True
    ) -> SyncPlan:
        with (
            collector_paused(),
            self.sessions() as session,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-catalog") as reader,
        ):
            # The database answers the catalog's first page while the index is read here.
            images = read_ahead(catalog.iter_indexed_pages(session), reader)
            states = {state.id: state for state in self.store.point_states(collection)} if indexed else {}
            return plan_sync(images, states, model_key, write)

    def _target(self, model_spec: str | None) -> tuple[str, Embedder, str]:
        if model_spec is None:
            with self.sessions() as session:
                active = live_collections.active_index(session)
            model_spec = active.model_spec if active else self.models.spec
        embedder = self.models.get(model_spec)
        return model_spec, embedder, self.store.collection_name(embedder.info.key)

    def _run(self, progress: Progress, model_spec: str | None, activate: bool) -> SyncReport:
        spec, embedder, collection = self._target(model_spec)
        model_key = embedder.info.key
        self.store.ensure_collection(collection, embedder.info.dimension)
        with transaction(self.sessions) as session:
            index = live_collections.register_index(
                session, collection, spec, model_key, embedder.info.dimension
            )
            already_active = index.state == "active"
        plan, report = self._write_payloads(collection, model_key, progress)
        self._embed(collection, embedder, plan, report, progress)
        # Deleting last keeps a replaced image's old vector available for reuse above.
        self.store.delete(collection, plan.to_delete)
        report.deleted = len(plan.to_delete)
        if report.changed:
            self.store.optimize(collection)  # engines that index on demand (Edge) index changes now
        # A new model goes live only complete; the live one stays live whatever happens.
        if activate and not already_active and not report.failed:
            self.store.point_alias(self.store.active_alias, collection)
            with transaction(self.sessions) as session:
                live_collections.activate_index(session, collection)
        report.active = already_active or (activate and not report.failed)
        # Files of deleted images stay until no row needs them; one sync at a time collects them.
        with self.sessions() as session:
            report.files_removed = self.images.collect(catalog.storage_keys(session))
        return report

    def _write_payloads(
        self, collection: str, model_key: str, progress: Progress
    ) -> tuple[SyncPlan, SyncReport]:
        """Plan the sync, writing stale payloads on a second thread while the comparison goes on."""
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
                self._advance(progress, "payload", report.payload_updated, plan.stale_points)
        if writes:
            self.store.flush(collection)
        return plan, report

    def _embed(
        self, collection: str, embedder: Embedder, plan: SyncPlan, report: SyncReport, progress: Progress
    ) -> None:
        total = len(plan.to_embed)

        # Points are written on a second thread while the model embeds the next batch; a write
        # that fails surfaces at the next hand-over or at the end, and stops the sync.
        def write_then_advance(points: list[IndexPoint], done: int) -> None:
            # Progress counts points written, so a sync killed after it reports some has left them.
            self.store.upsert(collection, points)
            self._advance(progress, "embed", done, total)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-upsert") as writer:
            writing: deque[Future[None]] = deque()

            def upsert(points: list[IndexPoint], done: int) -> None:
                writing.append(writer.submit(write_then_advance, points, done))
                while len(writing) > _UPSERTS_IN_FLIGHT:
                    writing.popleft().result()

            outcome = embed_images(
                plan.to_embed,
                embedder=embedder,
                images=self.images,
                store=self.store,
                collection=collection,
                vectors_by_hash=plan.vectors_by_hash,
                write=upsert,
                batch_size=self.batch_size,
                decode_workers=self.decode_workers,
            )
            while writing:
                writing.popleft().result()
        report.embedded, report.reused = outcome.embedded, outcome.reused
        report.failed.extend(outcome.failed)

    def _advance(self, progress: Progress, stage: str, done: int, total: int) -> None:
        self.progress.advance(stage, done, total)
        progress(stage, done, total)


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None
