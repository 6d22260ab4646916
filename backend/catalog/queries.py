"""Catalog data functions. Each takes a Session and leaves committing to the caller."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from backend.catalog.image_store import StoredImage
from backend.catalog.schema import Product, ProductImage
from backend.catalog.validation import ProductFields
from backend.errors import Conflict, NotFound


def get_product(session: Session, product_id: int, *, for_update: bool = False) -> Product:
    """The product with this id, or NotFound; `for_update` locks its row until the transaction ends
    (on PostgreSQL; a SQLite write holds the whole database already)."""
    product = session.get(
        Product, product_id, options=[selectinload(Product.images)], with_for_update=for_update
    )
    if product is None:
        raise NotFound(f"product {product_id} does not exist", details={"product_id": product_id})
    return product


def get_products(session: Session, product_ids: Iterable[int]) -> dict[int, Product]:
    """Products by id with their images, in one query; ids that do not exist are absent from the result."""
    ids = list(dict.fromkeys(product_ids))
    if not ids:
        return {}
    # Joined rather than a second SELECT: search results read a page of products this way.
    query = select(Product).where(Product.id.in_(ids)).options(joinedload(Product.images))
    return {product.id: product for product in session.scalars(query).unique()}


def require_products(session: Session, product_ids: Sequence[int]) -> dict[int, Product]:
    """Products by id, raising NotFound that names every missing id."""
    products = get_products(session, product_ids)
    _raise_missing([product_id for product_id in product_ids if product_id not in products])
    return products


def _raise_missing(missing: list[int]) -> None:
    if missing:
        # The message names a few; details lists them all (bounded by the API's id-list limit).
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        shown = ", ".join(map(str, missing[:10])) + more
        raise NotFound(f"unknown product id(s): {shown}", details={"product_ids": missing})


def find_product_by_sku(session: Session, sku: str) -> Product | None:
    """The product with this SKU, if any."""
    query = select(Product).where(Product.sku == sku).options(selectinload(Product.images))
    return session.scalars(query).one_or_none()


def products_by_sku(session: Session, skus: Iterable[str]) -> dict[str, Product]:
    """The products with these SKUs, by SKU (without their images)."""
    wanted = list(skus)
    if not wanted:
        return {}
    return {
        product.sku: product for product in session.scalars(select(Product).where(Product.sku.in_(wanted)))
    }


def list_products(session: Session, *, offset: int = 0, limit: int = 50) -> tuple[list[Product], int]:
    """A page of products ordered by id, and the total count."""
    total = session.scalar(select(func.count(Product.id))) or 0
    query = (
        select(Product).order_by(Product.id).offset(offset).limit(limit).options(selectinload(Product.images))
    )
    return list(session.scalars(query)), total


def create_product(session: Session, fields: ProductFields) -> Product:
    """Add a new product; a taken SKU is a Conflict."""
    if find_product_by_sku(session, fields["sku"]) is not None:
        raise Conflict(f"a product with sku {fields['sku']!r} already exists")
    product = Product(**fields.values)
    product.images = []
    session.add(product)
    session.flush()
    return product


def upsert_product(session: Session, fields: ProductFields) -> tuple[Product, bool]:
    """The product with the fields' SKU, created or updated; True when it was created."""
    product = find_product_by_sku(session, fields["sku"])
    if product is None:
        return create_product(session, fields), True
    return update_product(session, product, fields), False


def update_product(session: Session, product: Product, fields: ProductFields) -> Product:
    """Change some fields of a product."""
    new_sku = fields.values.get("sku")
    if new_sku is not None and new_sku != product.sku and find_product_by_sku(session, new_sku) is not None:
        raise Conflict(f"a product with sku {new_sku!r} already exists")
    for name, value in fields.values.items():
        setattr(product, name, value)
    session.flush()
    return product


def delete_product(session: Session, product: Product) -> None:
    """Remove a product and its images (the vector index follows on the next sync)."""
    session.delete(product)
    session.flush()


def add_image(
    session: Session, product: Product, stored: StoredImage, *, original_name: str = ""
) -> ProductImage:
    """Attach a stored image to a product; the same content twice is kept once."""
    for image in product.images:
        if image.content_hash == stored.content_hash:
            return image
    position = max((image.position for image in product.images), default=-1) + 1
    image = ProductImage(
        content_hash=stored.content_hash,
        storage_key=stored.storage_key,
        original_name=original_name[:300],
        width=stored.width,
        height=stored.height,
        position=position,
    )
    product.images.append(image)
    session.flush()
    return image


def delete_image(session: Session, product: Product, image_id: int) -> None:
    """Detach one image from a product."""
    for image in product.images:
        if image.id == image_id:
            product.images.remove(image)
            session.flush()
            return
    raise NotFound(f"product {product.id} has no image {image_id}", details={"image_id": image_id})


class IndexedImage(NamedTuple):
    """What the vector index should hold for one image: its content and its product's fields."""

    image_id: int
    content_hash: str
    storage_key: str
    product_id: int
    sku: str
    name: str
    category: str
    brand: str
    price: Decimal
    currency: str
    in_stock: bool
    attributes: dict[str, Any]


def iter_indexed_images(session: Session, *, page_size: int = 5000) -> Iterator[IndexedImage]:
    """Every image in the catalog with its product's filterable fields, in image-id order."""
    for page in iter_indexed_pages(session, page_size=page_size):
        yield from page


def iter_indexed_pages(session: Session, *, page_size: int = 5000) -> Iterator[list[IndexedImage]]:
    """`iter_indexed_images` a page at a time, each page one query.

    Read in pages by image id (keyset), so memory stays bounded and no server-side cursor is
    needed (PostgreSQL: 0.15 s for 10k rows, against 0.5 s streaming through one).
    """
    query = (
        select(
            ProductImage.id.label("image_id"),
            ProductImage.content_hash,
            ProductImage.storage_key,
            Product.id.label("product_id"),
            Product.sku,
            Product.name,
            Product.category,
            Product.brand,
            Product.price,
            Product.currency,
            Product.in_stock,
            Product.attributes,
        )
        .join(Product, Product.id == ProductImage.product_id)
        .order_by(ProductImage.id)
        .limit(page_size)
    )
    connection = session.connection()
    last = 0
    while True:
        rows = connection.execute(query.where(ProductImage.id > last)).all()
        # The columns are selected in the tuple's field order.
        page = list(map(IndexedImage._make, rows))
        if page:
            yield page
        if len(page) < page_size:
            return
        last = page[-1].image_id


def storage_keys(session: Session) -> set[str]:
    """The image-store key of every image row."""
    return set(session.scalars(select(ProductImage.storage_key).distinct()))


def require_image_ids(session: Session, product_ids: Sequence[int]) -> dict[int, list[int]]:
    """Image ids of each product in one query, raising NotFound (as `require_products`) for unknown ids."""
    query = (
        select(Product.id, ProductImage.id)
        .outerjoin(ProductImage, ProductImage.product_id == Product.id)
        .where(Product.id.in_(product_ids))
        .order_by(Product.id, ProductImage.id)
    )
    grouped: dict[int, list[int]] = {}
    for product_id, image_id in session.execute(query):
        images = grouped.setdefault(product_id, [])
        if image_id is not None:
            images.append(image_id)
    _raise_missing([product_id for product_id in product_ids if product_id not in grouped])
    return {product_id: grouped[product_id] for product_id in product_ids}


class ImageOwner(NamedTuple):
    """An image's product with the fields a search filter reads (`FilterableProduct`)."""

    image_id: int
    product_id: int
    name: str
    category: str
    brand: str
    price: Decimal
    in_stock: bool
    attributes: dict[str, Any]


# Every column a filter declaration may read (and a product's id): what a hit is checked against.
FILTERED_COLUMNS = (
    Product.id,
    Product.name,
    Product.category,
    Product.brand,
    Product.price,
    Product.in_stock,
    Product.attributes,
)


def image_owners(session: Session, image_ids: Iterable[int]) -> dict[int, ImageOwner]:
    """The product of each image id that still exists, by image id, in one query."""
    ids = list(dict.fromkeys(image_ids))
    if not ids:
        return {}
    query = (
        select(ProductImage.id, *FILTERED_COLUMNS)
        .join(Product, Product.id == ProductImage.product_id)
        .where(ProductImage.id.in_(ids))
    )
    # The columns are selected in the tuple's field order.
    return {row[0]: ImageOwner._make(row) for row in session.execute(query)}


def image_ids_by_product(session: Session, product_ids: Sequence[int]) -> dict[int, list[int]]:
    """Image ids grouped by product id."""
    query = select(ProductImage.product_id, ProductImage.id).where(ProductImage.product_id.in_(product_ids))
    grouped: dict[int, list[int]] = {product_id: [] for product_id in product_ids}
    for product_id, image_id in session.execute(query):
        grouped[product_id].append(image_id)
    return grouped
