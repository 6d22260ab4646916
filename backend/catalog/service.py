"""Catalog changes as transactions: the one write path of the admin API, bulk upserts and file imports.

Each entry point validates its input, then goes through the same steps: find the product by
SKU and create or update it (`queries.upsert_product`), and attach images whose bytes were
checked first and copied into the image store only inside the write. They differ only where
their documented semantics do:

- the admin API changes one product per call (create refuses a taken SKU: 409);
- a bulk upsert keeps every good row and reports each bad one by line (a savepoint per row);
- a file import is all or nothing: any bad row fails the file, nothing is written.

A write that fails removes the image files it added, so a failed import or upload leaves none.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.file_import import CheckedImage, validate_file
from backend.catalog.image_store import ImageStore, StoredImage
from backend.catalog.schema import Product, ProductImage
from backend.catalog.validation import parse_product
from backend.errors import InvalidRequest, NotFound, VitrineError


@dataclass
class BulkReport:
    """What a bulk upsert did, with the rows it refused."""

    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import wrote."""

    created: int = 0
    updated: int = 0
    images_added: int = 0
    skus: list[str] = field(default_factory=list)


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
            catalog.get_product(session, product_id)  # 404 before decoding anything
        checked = self.images.check(data, name=name)
        with self._writing_images() as written, transaction(self.sessions) as session:
            product = catalog.get_product(session, product_id)  # deleted meanwhile: 404, no file kept
            return self._attach(session, product, name, data, checked, written)

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

    def import_file(self, path: Path, images_dir: Path | None = None) -> ImportReport:
        """Import a catalog file with its images, all or nothing (ImportFailed lists every bad row).

        Rows are matched to products by SKU: a known SKU is updated and gains the row's images
        that it does not have yet (an import never removes images).
        """
        rows = validate_file(self.images, path, images_dir or path.parent)
        report = ImportReport()
        with self._writing_images() as written, transaction(self.sessions) as session:
            for row in rows:
                product, created = catalog.upsert_product(session, row.fields)
                report.created += created
                report.updated += not created
                before = len(product.images)
                for image in row.images:
                    self._attach_file(session, product, image, written)
                report.images_added += len(product.images) - before
                report.skus.append(product.sku)
        return report

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
        except ValueError:  # an integer of more digits than Python reads
            raise InvalidRequest("malformed JSON: a number is too long") from None
        except RecursionError:
            raise InvalidRequest("malformed JSON: nested too deeply") from None
        if isinstance(data, dict) and "images" in data:
            raise InvalidRequest("images are not taken here; POST them to /admin/products/<id>/images")
        sku = data.get("sku") if isinstance(data, dict) else None
        # A known SKU needs only the fields that change; a new one needs them all.
        known = isinstance(sku, str) and catalog.find_product_by_sku(session, sku.strip()) is not None
        fields = parse_product(data, partial=known)
        # A savepoint per row: a row that fails in the database leaves the others intact.
        with session.begin_nested():
            _product, created = catalog.upsert_product(session, fields)
        report.created += created
        report.updated += not created

    def _attach_file(
        self, session: Session, product: Product, image: CheckedImage, written: list[str]
    ) -> None:
        self._attach(session, product, image.name, image.path.read_bytes(), image.image, written)

    def _attach(
        self,
        session: Session,
        product: Product,
        name: str,
        data: bytes,
        checked: StoredImage,
        written: list[str],
    ) -> ProductImage:
        """Copy checked bytes into the image store (noting a new file) and attach them to the product."""
        if self.images.write(data, checked):
            written.append(checked.storage_key)
        return catalog.add_image(session, product, checked, original_name=name)

    @contextmanager
    def _writing_images(self) -> Iterator[list[str]]:
        """Collect the image files a write adds, and remove them if the write fails."""
        written: list[str] = []
        try:
            yield written
        except BaseException:
            self.images.remove(written)
            raise
