"""The HTTP layer: one blueprint per resource; each view parses, calls a service, serialises."""

from __future__ import annotations

from flask_openapi3.openapi import OpenAPI

from backend.api import admin, health, products, search
from backend.api.errors import register_error_handlers


def register_api(app: OpenAPI) -> None:
    """Attach every blueprint and the error handlers."""
    register_error_handlers(app)
    for blueprint in (health.blueprint, products.blueprint, search.blueprint, admin.blueprint):
        app.register_api(blueprint)
