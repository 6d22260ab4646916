"""JSON shapes of products and search results."""

from __future__ import annotations

from typing import Any

from flask import url_for

from backend.catalog.schema import Product, ProductImage, iso_utc
from backend.search.service import SearchResults


def serialize_image(image: ProductImage) -> dict[str, Any]:
    """An image's JSON form, with the URL that serves its bytes."""
    return {
        "id": image.id,
        "url": url_for("products.image_file", product_id=image.product_id, image_id=image.id),
        "width": image.width,
        "height": image.height,
        "content_hash": image.content_hash,
    }


def serialize_product(product: Product) -> dict[str, Any]:
    """A product's JSON form."""
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "brand": product.brand,
        "price": float(product.price),
        "currency": product.currency,
        "in_stock": product.in_stock,
        "attributes": product.attributes,
        "images": [serialize_image(image) for image in product.images],
        "created_at": iso_utc(product.created_at),
        "updated_at": iso_utc(product.updated_at),
    }


def serialize_results(
    results: SearchResults, facets: dict[str, dict[str, int]] | None = None
) -> dict[str, Any]:
    """A page of results: one entry per product, best first, with paging and optional facets."""
    body: dict[str, Any] = {
        "count": len(results.matches),
        "offset": results.page.offset,
        "limit": results.page.limit,
        "next_offset": results.next_offset,
        "results": [
            {
                "product": serialize_product(match.product),
                "score": round(match.score, 6),
                "matched_image_id": match.image_id,
            }
            for match in results.matches
        ],
    }
    if facets is not None:
        body["facets"] = facets
    return body
