"""Read-only catalog endpoints."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, send_file

from backend.api.requests import parse_int, services
from backend.api.serializers import serialize_product

blueprint = Blueprint("products", __name__)
MAX_PAGE = 200


@blueprint.get("/products")
def list_products() -> Response:
    """A page of products: ?offset=0&limit=50."""
    offset = parse_int(request.args.get("offset"), "offset", default=0)
    limit = parse_int(request.args.get("limit"), "limit", default=50, minimum=1, maximum=MAX_PAGE)
    products, total = services().catalog.page(offset, limit)
    return jsonify(
        {
            "total": total,
            "offset": offset,
            "limit": limit,
            "products": [serialize_product(product) for product in products],
        }
    )


@blueprint.get("/products/<id:product_id>")
def get_product(product_id: int) -> Response:
    """One product with its images."""
    return jsonify(serialize_product(services().catalog.get(product_id)))


@blueprint.get("/products/<id:product_id>/images/<id:image_id>")
def image_file(product_id: int, image_id: int) -> Response:
    """The bytes of one product image."""
    found = services()
    image = found.catalog.image(product_id, image_id)
    return send_file(found.images.path(image.storage_key).resolve(), max_age=86400)
