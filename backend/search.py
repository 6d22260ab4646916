"""Search: by image, similar products, recommendations; results hydrated from the catalog."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from . import catalog
from .errors import Conflict, InvalidRequest
from .filters import SearchFilter
from .model_provider import ModelProvider
from .models import Product
from .vectors import ProductHit, VectorStore

# Extra groups asked of the index, so results dropped by the catalog check (a product
# deleted or changed since the last sync) rarely leave a page short.
OVERFETCH = 10


@dataclass(frozen=True)
class ProductMatch:
    """One product in a result list, with the image that matched best."""

    product: Product
    score: float
    image_id: int


class SearchService:
    """Turns search requests into vector queries and joins the hits with catalog rows."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        store: VectorStore,
        models: ModelProvider,
        *,
        max_results: int,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.models = models
        self.max_results = max_results

    def collection(self) -> str:
        """The collection of the configured model."""
        return self.store.collection_name(self.models.get().info.key)

    def search_by_image(
        self, image: Image.Image, search_filter: SearchFilter, limit: int
    ) -> list[ProductMatch]:
        """Products whose photos look most like the given image."""
        self._check_limit(limit)
        collection = self._existing_collection()
        vector = self.models.get().embed([image])[0]
        hits = self.store.search_products(collection, vector, search_filter, limit + OVERFETCH)
        return self._hydrate(hits, search_filter, limit)

    def similar_products(
        self, product_id: int, search_filter: SearchFilter, limit: int
    ) -> list[ProductMatch]:
        """Products that look like this one (the mean of its image vectors), excluding itself."""
        self._check_limit(limit)
        with self.sessions() as session:
            product = catalog.get_product(session, product_id)
            image_ids = [image.id for image in product.images]
        collection = self._existing_collection()
        vectors = self.store.vectors(collection, image_ids)
        if not vectors:
            raise Conflict(
                f"product {product_id} has no indexed images yet; add an image and run sync",
                details={"product_id": product_id},
            )
        query = np.mean(np.stack(list(vectors.values())), axis=0)
        query /= max(float(np.linalg.norm(query)), 1e-12)
        narrowed = search_filter.excluding([product_id])
        hits = self.store.search_products(collection, query, narrowed, limit + OVERFETCH)
        return self._hydrate(hits, narrowed, limit)

    def recommend(
        self,
        positive: Sequence[int],
        negative: Sequence[int],
        search_filter: SearchFilter,
        limit: int,
        *,
        best_score: bool = False,
    ) -> list[ProductMatch]:
        """Products like the positive examples and unlike the negative ones."""
        self._check_limit(limit)
        if not positive:
            raise InvalidRequest("give at least one positive product id", details={"field": "positive"})
        overlap = set(positive) & set(negative)
        if overlap:
            raise InvalidRequest(
                f"product(s) {sorted(overlap)} are both positive and negative",
                details={"field": "negative"},
            )
        with self.sessions() as session:
            catalog.require_products(session, [*positive, *negative])
            images = catalog.image_ids_by_product(session, [*positive, *negative])
        collection = self._existing_collection()
        indexed = set(self.store.vectors(collection, [i for ids in images.values() for i in ids]))
        unindexed = [pid for pid, ids in images.items() if not indexed.intersection(ids)]
        if unindexed:
            raise Conflict(
                f"product(s) {unindexed} have no indexed images yet; run sync",
                details={"product_ids": unindexed},
            )
        positive_points = [i for pid in positive for i in images[pid] if i in indexed]
        negative_points = [i for pid in negative for i in images[pid] if i in indexed]
        narrowed = search_filter.excluding([*positive, *negative])
        hits = self.store.recommend_products(
            collection,
            positive_points,
            negative_points,
            narrowed,
            limit + OVERFETCH,
            best_score=best_score,
        )
        return self._hydrate(hits, narrowed, limit)

    def _check_limit(self, limit: int) -> None:
        if not 1 <= limit <= self.max_results:
            raise InvalidRequest(
                f"limit must be between 1 and {self.max_results}", details={"field": "limit"}
            )

    def _existing_collection(self) -> str:
        collection = self.collection()
        if not self.store.has_collection(collection):
            raise Conflict(
                "the search index is empty for this model; import a catalog and run sync",
                details={"collection": collection},
            )
        return collection

    def _hydrate(self, hits: list[ProductHit], search_filter: SearchFilter, limit: int) -> list[ProductMatch]:
        with self.sessions() as session:
            products = catalog.get_products(session, [hit.product_id for hit in hits])
        matches = []
        for hit in hits:
            product = products.get(hit.product_id)
            # The catalog is the truth: a product changed or deleted since the last sync
            # must not slip through a filter on stale index data.
            if product is not None and search_filter.matches(product, product.id):
                matches.append(ProductMatch(product, hit.score, hit.image_id))
        return matches[:limit]
