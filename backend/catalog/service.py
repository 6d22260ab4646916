"""Catalog changes as transactions: what the admin API calls."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.image_store import ImageStore
from backend.catalog.schema import Product, ProductImage
from backend.catalog.validation import parse_product
from backend.errors import InvalidRequest, NotFound, VitrineError


@dataclass
class BulkReport:
    """What a bulk upsert did, with the rows it refused."""

    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


class CatalogService:
    """Validates input and applies each change in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session], images: ImageStore) -> None:
        self.sessions = sessions
        self.images = images

    def get(self, product_id: int) -> Product:
        """One product with its images."""
        with self.sessions() as session:
            return catalog.get_product(session, product_id)

    def page(self, offset: int, limit: int) -> tuple[list[Product], int]:
        """A page of products and the total count."""
        with self.sessions() as session:
            return catalog.list_products(session, offset=offset, limit=limit)

    def create(self, data: Any) -> Product:
        """Create a product from untrusted JSON."""
        fields = parse_product(data)
        with transaction(self.sessions) as session:
            return catalog.create_product(session, fields)

    def update(self, product_id: int, data: Any) -> Product:
        """Change some fields of a product from untrusted JSON."""
        fields = parse_product(data, partial=True)
        with transaction(self.sessions) as session:
            product = catalog.get_product(session, product_id)
            return catalog.update_product(session, product, fields)

    def delete(self, product_id: int) -> None:
        """Delete a product and its images."""
        with transaction(self.sessions) as session:
            catalog.delete_product(session, catalog.get_product(session, product_id))

    def add_image(self, product_id: int, data: bytes, name: str) -> ProductImage:
        """Validate, store and attach an uploaded image."""
        with self.sessions() as session:
            catalog.get_product(session, product_id)  # 404 before storing anything
        stored = self.images.put(data, name=name)
        with transaction(self.sessions) as session:
            product = catalog.get_product(session, product_id)
            return catalog.add_image(session, product, stored, original_name=name)

    def delete_image(self, product_id: int, image_id: int) -> None:
        """Detach an image from a product."""
        with transaction(self.sessions) as session:
            catalog.delete_image(session, catalog.get_product(session, product_id), image_id)

    def image(self, product_id: int, image_id: int) -> ProductImage:
        """One image of a product."""
        with self.sessions() as session:
            product = catalog.get_product(session, product_id)
        for image in product.images:
            if image.id == image_id:
                return image
        raise NotFound(f"product {product_id} has no image {image_id}")

    def bulk_upsert(self, lines: Iterable[str]) -> BulkReport:
        """Create or update products from JSON lines, keyed by SKU; bad rows are reported, good rows kept."""
        report = BulkReport()
        with transaction(self.sessions) as session:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    self._upsert_line(session, line, report)
                except VitrineError as error:
                    report.errors.append({"line": number, "error": error.message})
        return report

    def _upsert_line(self, session: Session, line: str, report: BulkReport) -> None:
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise InvalidRequest(f"malformed JSON: {error.msg}") from None
        if isinstance(data, dict) and "images" in data:
            raise InvalidRequest("images are not taken here; POST them to /admin/products/<id>/images")
        sku = data.get("sku") if isinstance(data, dict) else None
        existing = catalog.find_product_by_sku(session, sku) if isinstance(sku, str) else None
        fields = parse_product(data, partial=existing is not None)
        # A savepoint per row: a row that fails in the database leaves the others intact.
        with session.begin_nested():
            if existing is None:
                catalog.create_product(session, fields)
                report.created += 1
            else:
                catalog.update_product(session, existing, fields)
                report.updated += 1
