"""Catalog changes as transactions: what the admin API calls."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from . import catalog
from .database import transaction
from .errors import NotFound
from .image_store import ImageStore
from .models import Product, ProductImage
from .product_data import parse_product


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
