"""The API's response bodies, declared for the contract (backend/api/contract.py).

They are documented in /openapi.json and checked by the schema fuzz test, not validated at run
time: the serialisers (backend/api/serializers.py) build the bodies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# A route's responses as flask-openapi3 takes them: status -> model, or an OpenAPI response object.
Responses = dict[Any, Any]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    request_id: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ImageOut(BaseModel):
    id: int
    url: str
    width: int
    height: int
    content_hash: str


class ProductOut(BaseModel):
    id: int
    sku: str
    name: str
    description: str
    category: str
    brand: str
    price: float
    currency: str
    in_stock: bool
    attributes: dict[str, str | int | float | bool]
    images: list[ImageOut]
    created_at: str
    updated_at: str


class ProductPage(BaseModel):
    total: int
    offset: int
    limit: int
    products: list[ProductOut]


class Match(BaseModel):
    product: ProductOut
    score: float
    matched_image_id: int


class Results(BaseModel):
    count: int
    offset: int
    limit: int
    next_offset: int | None
    results: list[Match]
    facets: dict[str, dict[str, int]] | None = None


class BulkError(BaseModel):
    line: int
    error: str


class BulkReport(BaseModel):
    created: int
    updated: int
    errors: list[BulkError]


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: str
    vector_store: str
    vector_store_mode: Literal["embedded", "server"]


class SyncReport(BaseModel):
    collection: str
    model: str
    embedded: int
    reused: int
    payload_updated: int
    deleted: int
    unchanged: int
    failed: list[dict[str, Any]]
    active: bool
    files_removed: int


class SyncStatus(BaseModel):
    running: bool
    stage: str
    done: int
    total: int
    started_at: str | None
    last_report: SyncReport | None


class Drift(BaseModel):
    model_config = ConfigDict(extra="allow")
    in_sync: bool


def errors(*statuses: int) -> Responses:
    """The error responses a route declares, all with the one error body."""
    return dict.fromkeys(statuses, ErrorBody)
