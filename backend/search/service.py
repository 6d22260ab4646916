"""Search: by image, similar products, recommendations; results hydrated from the catalog."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import live_collections
from backend.catalog import queries as catalog
from backend.catalog.schema import Product
from backend.errors import Conflict, InvalidRequest
from backend.filters.fields import FilterableProduct
from backend.filters.search_filter import SearchFilter
from backend.model_provider import ModelProvider
from backend.vectors.store import VectorIndex
from backend.vectors.types import ProductHit
from embedder import Embedder

# Extra groups asked of the index beyond the one past the page (which tells whether there is a
# next page). A page left short by the catalog check (a product deleted or changed since the
# last sync) asks the index again anyway; the margin spares that second query when a hit or two
# were dropped, and stays small because every point the index returns costs a payload read.
OVERFETCH = 2
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
            return catalog.count_facets(session, search_filter, fields)

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
        if not self.store.has_collection(collection):
            raise Conflict(
                "the search index is empty for this model; import a catalog and run sync",
                details={"collection": collection},
            )
        return collection, embedder

    def _hydrate(
        self,
        session: Session,
        fetch: Callable[[int], list[ProductHit]],
        search_filter: SearchFilter,
        page: Page,
    ) -> SearchResults:
        """The page of hits the catalog still agrees with, asking the index again if too many were dropped."""
        end = page.offset + page.limit
        # One past the page says whether there is a next page.
        wanted = end + 1 + OVERFETCH
        while True:
            hits = fetch(wanted)
            products, owners = _catalog_rows(session, hits, whole=page.offset <= page.limit)
            kept = _still_matching(owners, hits, search_filter)
            # Fewer hits than asked for means the index has no more.
            if len(kept) > end or len(hits) < wanted or wanted >= MAX_FETCH:
                break
            wanted = min(2 * wanted, MAX_FETCH)
        shown = kept[page.offset : end]
        missing = [hit.product_id for hit in shown if hit.product_id not in products]
        if missing:
            products.update(catalog.get_products(session, missing))
        matches = [
            ProductMatch(products[hit.product_id], hit.score, hit.image_id)
            for hit in shown
            if hit.product_id in products  # deleted between the two reads
        ]
        next_offset = end if len(kept) > end and end < MAX_WINDOW else None
        return SearchResults(matches, page, next_offset)


# What a hit's image belongs to in the catalog now: its product's id and filterable fields.
Owners = Mapping[int, tuple[int, FilterableProduct]]


def _catalog_rows(
    session: Session, hits: list[ProductHit], *, whole: bool
) -> tuple[dict[int, Product], Owners]:
    """The catalog's rows for the hits: whole products (and so their images) or light owner rows.

    Whole, one query both checks the hits and fills the page; that is the choice while most hits
    are on the page. A deep page reads light rows for every hit, and whole ones for its own only.
    """
    if whole:
        products = catalog.get_products(session, [hit.product_id for hit in hits])
        owners = {
            image.id: (product.id, product) for product in products.values() for image in product.images
        }
        return products, owners
    light = catalog.image_owners(session, [hit.image_id for hit in hits])
    return {}, {image_id: (owner.product_id, owner) for image_id, owner in light.items()}


def _still_matching(owners: Owners, hits: list[ProductHit], search_filter: SearchFilter) -> list[ProductHit]:
    """The hits whose image and product still exist and still pass the filter, in a total order.

    The catalog is the truth: a product changed or deleted since the last sync must not slip
    through a filter on stale index data, nor be shown by a photo deleted since.
    """
    kept = []
    # A total order: engines rank equal scores (identical photos) in no fixed order, so
    # without the product id as a second key paging through a tie could repeat or skip.
    for hit in sorted(hits, key=lambda hit: (-hit.score, hit.product_id)):
        product_id, owner = owners.get(hit.image_id, (None, None))
        if (
            owner is not None
            and product_id == hit.product_id
            and search_filter.matches(owner, hit.product_id)
        ):
            kept.append(hit)
    return kept


def _product_vector(image_vectors: dict[int, np.ndarray]) -> np.ndarray:
    """A product's query vector: the unit mean of its images' stored vectors."""
    return _unit(np.mean(list(image_vectors.values()), axis=0))


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)
