"""Search: by image, similar products, recommendations; results hydrated from the catalog."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import live_collections
from backend.catalog import queries as catalog
from backend.catalog.facets import count_facets
from backend.catalog.schema import Product
from backend.errors import Conflict, InvalidRequest
from backend.filters.search_filter import SearchFilter
from backend.model_provider import ModelProvider
from backend.search.catalog_check import checked_page
from backend.vectors.store import VectorIndex
from backend.vectors.types import ProductHit
from embedder import Embedder

# Deepest result a page may reach (offset + limit): grouped search has no cursor, so each
# page re-asks for everything before it.
MAX_WINDOW = 1000
# Most groups asked of the index for one page when the catalog check keeps dropping hits.
MAX_FETCH = 2 * MAX_WINDOW
# Weight of each older item in "recently viewed": the newest counts 1, the one before 0.7, ...
SESSION_DECAY = 0.7


@dataclass(frozen=True)
class Page:
    """Which slice of the ranking to return, and the lowest score worth returning."""

    offset: int = 0
    limit: int = 10
    min_score: float | None = None


@dataclass(frozen=True)
class ProductMatch:
    """One product in a result list, with the image that matched best."""

    product: Product
    score: float
    image_id: int


@dataclass(frozen=True)
class SearchResults:
    """One page of products, best first."""

    matches: list[ProductMatch]
    page: Page
    next_offset: int | None


class SearchService:
    """Turns search requests into vector queries and joins the hits with catalog rows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: VectorIndex,
        models: ModelProvider,
        *,
        max_results: int,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.models = models
        self.max_results = max_results
        # Each is told the seconds one embedding of uploaded photos took (the API's /metrics).
        self.embedding_observers: list[Callable[[float], None]] = []
        # Collections of an embedded store found to exist: Vitrine never drops one, so they are not
        # asked about again (with several workers each store call is a round trip to its process).
        self._existing: set[str] = set()

    def collection(self) -> str:
        """The collection search uses now."""
        return self.active()[0]

    def active_model_spec(self) -> str | None:
        """The model spec of the collection search uses, if one is active."""
        with self.sessions() as session:
            index = live_collections.active_index(session)
        return index.model_spec if index else None

    def active(self, session: Session | None = None) -> tuple[str, Embedder]:
        """The active collection and the model whose vectors it holds.

        Read from the catalog database on every request, so a model switch made by another
        process (a sync job) takes effect at once, as one consistent pair.
        """
        if session is None:
            with self.sessions() as own:
                index = live_collections.active_index(own)
        else:
            index = live_collections.active_index(session)
        embedder = self.models.get(index.model_spec if index else None)
        collection = index.collection if index else self.store.collection_name(embedder.info.key)
        return collection, embedder

    def search_by_image(self, image: Image.Image, search_filter: SearchFilter, page: Page) -> SearchResults:
        """Products whose photos look most like the given image."""
        self._check_page(page)
        # A session of its own before the embedding, so no connection is held while the model runs.
        collection, embedder = self._existing_collection()
        vector = self._embed(embedder, [image])[0]
        with self.sessions() as session:
            return self._vector_query(session, collection, vector, search_filter, page)

    def similar_products(self, product_id: int, search_filter: SearchFilter, page: Page) -> SearchResults:
        """Products that look like this one (the mean of its image vectors), excluding itself."""
        self._check_page(page)
        # One session per call: each checkout of a pooled connection costs a ping round trip.
        with self.sessions() as session:
            images = catalog.require_image_ids(session, [product_id])
            collection, _embedder = self._existing_collection(session)
            vectors = self._indexed_vectors(collection, images)
            query = _product_vector(vectors[product_id])
            return self._vector_query(session, collection, query, search_filter.excluding([product_id]), page)

    def recommend(
        self,
        positive: Sequence[int],
        negative: Sequence[int],
        search_filter: SearchFilter,
        page: Page,
        *,
        best_score: bool = False,
        positive_images: Sequence[Image.Image] = (),
    ) -> SearchResults:
        """Products like the positive examples (ids or photos) and unlike the negative ones."""
        self._check_page(page)
        if not positive and not positive_images:
            raise InvalidRequest(
                "give at least one positive product id or image", details={"field": "positive"}
            )
        overlap = set(positive) & set(negative)
        if overlap:
            raise InvalidRequest(
                f"product(s) {sorted(overlap)} are both positive and negative", details={"field": "negative"}
            )
        with self.sessions() as session:
            images = catalog.require_image_ids(session, [*positive, *negative])
            collection, embedder = self._existing_collection(session)
            points = self._indexed_vectors(collection, images)
        positives: list[int | np.ndarray] = [point for pid in positive for point in points[pid]]
        if positive_images:
            positives.extend(self._embed(embedder, list(positive_images)))
        negatives = [point for pid in negative for point in points[pid]]
        narrowed = search_filter.excluding([*positive, *negative])

        def fetch(limit: int) -> list[ProductHit]:
            return self.store.recommend_products(
                collection,
                positives,
                negatives,
                narrowed,
                limit,
                best_score=best_score,
                score_threshold=page.min_score,
            )

        with self.sessions() as session:
            return self._hydrate(session, fetch, narrowed, page)

    def for_session(self, viewed: Sequence[int], search_filter: SearchFilter, page: Page) -> SearchResults:
        """Recommendations from recently viewed products (newest first), excluding them."""
        self._check_page(page)
        if not viewed:
            raise InvalidRequest("viewed must list at least one product id", details={"field": "viewed"})
        with self.sessions() as session:
            images = catalog.require_image_ids(session, viewed)
            collection, _embedder = self._existing_collection(session)
            vectors = self._indexed_vectors(collection, images)
            weights = [SESSION_DECAY**age for age in range(len(viewed))]
            weighted = np.sum(
                [weight * _product_vector(vectors[pid]) for weight, pid in zip(weights, viewed, strict=True)],
                axis=0,
            )
            query = _unit(weighted)
            return self._vector_query(session, collection, query, search_filter.excluding(viewed), page)

    def facets(self, search_filter: SearchFilter, fields: Sequence[str]) -> dict[str, dict[str, int]]:
        """Product counts per value of each field, over the products that pass the filter."""
        with self.sessions() as session:
            return count_facets(session, search_filter, fields)

    def _vector_query(
        self, session: Session, collection: str, vector: np.ndarray, search_filter: SearchFilter, page: Page
    ) -> SearchResults:
        def fetch(limit: int) -> list[ProductHit]:
            return self.store.search_products(
                collection, vector, search_filter, limit, score_threshold=page.min_score
            )

        return self._hydrate(session, fetch, search_filter, page)

    def _indexed_vectors(
        self, collection: str, images: dict[int, list[int]]
    ) -> dict[int, dict[int, np.ndarray]]:
        """The stored vector of each indexed image, by product then point id; a product with none is a 409."""
        stored = self.store.vectors(collection, [i for ids in images.values() for i in ids])
        vectors = {pid: {i: stored[i] for i in ids if i in stored} for pid, ids in images.items()}
        unindexed = [pid for pid, found in vectors.items() if not found]
        if unindexed:
            raise Conflict(
                f"product(s) {unindexed} have no indexed images yet; add images and run sync",
                details={"product_ids": unindexed},
            )
        return vectors

    def _embed(self, embedder: Embedder, images: list[Image.Image]) -> np.ndarray:
        started = time.perf_counter()
        vectors = embedder.embed(images)
        for observe in self.embedding_observers:
            observe(time.perf_counter() - started)
        return vectors

    def _check_page(self, page: Page) -> None:
        if not 1 <= page.limit <= self.max_results:
            raise InvalidRequest(
                f"limit must be between 1 and {self.max_results}", details={"field": "limit"}
            )
        if page.offset < 0 or page.offset + page.limit > MAX_WINDOW:
            raise InvalidRequest(f"offset + limit must be at most {MAX_WINDOW}", details={"field": "offset"})
        if page.min_score is not None and not -1.0 <= page.min_score <= 1.0:
            raise InvalidRequest("min_score must be between -1 and 1", details={"field": "min_score"})

    def _existing_collection(self, session: Session | None = None) -> tuple[str, Embedder]:
        collection, embedder = self.active(session)
        if collection in self._existing:
            return collection, embedder
        if not self.store.has_collection(collection):
            raise Conflict(
                "the search index is empty for this model; import a catalog and run sync",
                details={"collection": collection},
            )
        if self.store.embedded:  # a server's collections may be dropped by others
            self._existing.add(collection)
        return collection, embedder

    def _hydrate(
        self,
        session: Session,
        fetch: Callable[[int], list[ProductHit]],
        search_filter: SearchFilter,
        page: Page,
    ) -> SearchResults:
        """The page of hits the catalog still agrees with, with their products."""
        end = page.offset + page.limit
        shown, more = checked_page(session, fetch, search_filter, page.offset, end, max_fetch=MAX_FETCH)
        matches = [ProductMatch(product, hit.score, hit.image_id) for hit, product in shown]
        return SearchResults(matches, page, end if more and end < MAX_WINDOW else None)


def _product_vector(image_vectors: dict[int, np.ndarray]) -> np.ndarray:
    """A product's query vector: the unit mean of its images' stored vectors."""
    return _unit(np.mean(list(image_vectors.values()), axis=0))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)
