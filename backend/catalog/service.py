"""Catalog changes as transactions: the one write path of the admin API, bulk upserts and file imports.

Each entry point validates its input, then goes through the same steps: find the product by
SKU and create or update it (`queries.upsert_product`), and attach images whose bytes were
checked first and copied into the image store only inside the write. They differ only where
their documented semantics do:

- the admin API changes one product per call (create refuses a taken SKU: 409);
- a bulk upsert keeps every good row and reports each bad one by line, in one transaction;
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

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.catalog import queries as catalog
from backend.catalog.database import transaction
from backend.catalog.file_import import CheckedImage, validate_file
from backend.catalog.image_store import ImageStore, StoredImage
from backend.catalog.schema import Product, ProductImage
from backend.catalog.validation import ProductFields, parse_product
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


# Rows of a bulk upsert applied with one SKU lookup and one flush.
BULK_CHUNK_ROWS = 500


def _read_line(line: str) -> Any:
    """One bulk line as JSON; every way it can fail to read is an InvalidRequest."""
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
    return data


def _row_sku(data: Any) -> str | None:
    """The SKU a bulk row names, as validation normalises it (or None)."""
    sku = data.get("sku") if isinstance(data, dict) else None
    return sku.strip() if isinstance(sku, str) else None


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
            # Locked, so a concurrent delete either finishes first (404, no file kept) or waits.
            product = catalog.get_product(session, product_id, for_update=True)
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
        """Create or update products from JSON lines, keyed by SKU; bad rows are reported, good rows kept.

        The request is one transaction: its good rows are committed together when it answers, and
        a crash or a lost connection before that keeps none of them (retrying is safe: rows are
        keyed by SKU). Rows are applied in chunks with one SKU lookup and one flush each; a chunk
        the database refuses (another writer took one of its SKUs) is redone row by row.
        """
        report = BulkReport()
        with transaction(self.sessions) as session, session.no_autoflush:
            known: dict[str, Product] = {}
            chunk: list[tuple[int, Any]] = []
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    chunk.append((number, _read_line(line)))
                except VitrineError as error:
                    report.errors.append({"line": number, "error": error.message})
                if len(chunk) == BULK_CHUNK_ROWS:
                    self._upsert_chunk(session, chunk, known, report)
                    chunk = []
            self._upsert_chunk(session, chunk, known, report)
        report.errors.sort(key=lambda error: int(error["line"]))
        return report

    def _upsert_chunk(
        self, session: Session, chunk: list[tuple[int, Any]], known: dict[str, Product], report: BulkReport
    ) -> None:
        skus = {sku for _number, data in chunk if (sku := _row_sku(data)) and sku not in known}
        known.update(catalog.products_by_sku(session, skus))
        staged: list[tuple[int, ProductFields]] = []
        for number, data in chunk:
            try:
                # A known SKU needs only the fields that change; a new one needs them all.
                staged.append((number, parse_product(data, partial=_row_sku(data) in known)))
            except VitrineError as error:
                report.errors.append({"line": number, "error": error.message})
        added: list[str] = []
        created = 0
        try:
            with session.begin_nested():
                for _number, fields in staged:
                    product = known.get(fields["sku"])
                    if product is None:
                        product = known[fields["sku"]] = Product(**fields.values)
                        session.add(product)
                        added.append(fields["sku"])
                        created += 1
                    else:
                        for name, value in fields.values.items():
                            setattr(product, name, value)
                session.flush()
        except IntegrityError:
            for sku in added:  # rolled back with the savepoint
                del known[sku]
            self._upsert_rows(session, staged, known, report)
            return
        report.created += created
        report.updated += len(staged) - created

    def _upsert_rows(
        self,
        session: Session,
        staged: list[tuple[int, ProductFields]],
        known: dict[str, Product],
        report: BulkReport,
    ) -> None:
        for number, fields in staged:
            try:
                with session.begin_nested():  # a row the database refuses leaves the others intact
                    product, created = catalog.upsert_product(session, fields)
            except (VitrineError, IntegrityError) as error:
                message = (
                    error.message if isinstance(error, VitrineError) else "conflicts with a concurrent write"
                )
                report.errors.append({"line": number, "error": message})
                continue
            known[product.sku] = product
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
