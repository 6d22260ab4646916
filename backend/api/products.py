"""Read-only catalog endpoints."""

from __future__ import annotations

from flask import Response, jsonify, send_file
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag

from backend.api import responses, schemas
from backend.api.requests import services
from backend.api.serializers import serialize_product

blueprint = APIBlueprint("products", __name__, abp_tags=[Tag(name="catalog")])


@blueprint.get("/products", responses={200: responses.ProductPage, **responses.errors(400, 503)})
def list_products(query: schemas.ProductPageQuery) -> Response:
    """A page of products, by id."""
    products, total = services().catalog.page(query.offset, query.limit)
    return jsonify(
        {
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
            "products": [serialize_product(product) for product in products],
        }
    )


@blueprint.get(
    "/products/<id:product_id>", responses={200: responses.ProductOut, **responses.errors(404, 503)}
)
def get_product(path: schemas.ProductPath) -> Response:
    """One product with its images."""
    return jsonify(serialize_product(services().catalog.get(path.product_id)))


@blueprint.get(
    "/products/<id:product_id>/images/<id:image_id>",
    responses={
        200: {
            "description": "the image",
            "content": {"image/*": {"schema": schemas.BINARY}},
        },
        **responses.errors(404),
    },
)
def image_file(path: schemas.ImagePath) -> Response:
    """The bytes of one product image."""
    found = services()
    image = found.catalog.image(path.product_id, path.image_id)
    return send_file(found.images.path(image.storage_key).resolve(), max_age=86400)
