"""Request parts the contract (backend/api/schemas.py) leaves to code: filters, uploads, services.

`MAX_IDS` is re-exported for the callers that bound id lists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from PIL import Image
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict

from backend.api.schemas import MAX_IDS
from backend.errors import InvalidRequest, UnsupportedMediaType
from backend.filters.search_filter import FACET_FIELDS, SearchFilter, filter_values_from_json, parse_filters
from backend.search.service import Page

__all__ = ["MAX_FORM_PARTS", "MAX_IDS", "MAX_UPLOADS"]
from backend.wiring import Services
from embedder.images import Region

# Photos one request may upload in a field: each is decoded and embedded, seconds of work apiece.
MAX_UPLOADS = 10
# Multipart parts a request may have (fields and files together); more is a 413 before parsing on.
MAX_FORM_PARTS = 100
NON_FILTER_FIELDS = ("offset", "limit", "min_score", "facets", "region")
M = TypeVar("M", bound=BaseModel)
V = TypeVar("V", bound=Callable[..., Any])


def services() -> Services:
    """The services of the running app."""
    found: Services = current_app.extensions["vitrine"]
    return found


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 4xx that says what is wrong with it."""
    if not request.is_json:
        raise UnsupportedMediaType("send a JSON body with Content-Type: application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidRequest("malformed JSON body")
    if not isinstance(body, dict):
        raise InvalidRequest("the JSON body must be an object")
    return body


def validated_here(view: V) -> V:
    """Mark a view that validates its request itself (multipart, JSON or multipart, an optional body).

    flask-openapi3 then documents the view's annotated models without parsing them; those
    parameters default to None and the view reads the request.
    """
    view.__delay_validate_request__ = True  # type: ignore[attr-defined]
    return view


def form_model(model: type[M], files: tuple[str, ...] = ()) -> M:
    """A multipart form checked against its model (a ValidationError is a 400 naming the field)."""
    values: dict[str, Any] = {key: request.form.get(key) for key in request.form}
    values.update({name: request.files.getlist(name) or None for name in files})
    return model.model_validate(values)


def page_of(parts: Any) -> Page:
    """The page a validated request asks for (offset, limit and min_score are checked by its model)."""
    return Page(offset=parts.offset, limit=parts.limit, min_score=parts.min_score)


def facet_fields(raw: Any) -> tuple[str, ...]:
    """The `facets` parameter: a subset of category, brand, comma-separated or as a list."""
    if raw in (None, ""):
        return ()
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) for name in names):
        raise InvalidRequest("facets must be a list of field names", details={"field": "facets"})
    # Each item may itself be comma-separated: a query string's `facets=category,brand` arrives
    # as a one-item list, since the contract also allows repeating the field.
    parts = [part.strip() for name in names for part in name.split(",")]
    fields = tuple(dict.fromkeys(part for part in parts if part))
    unknown = [name for name in fields if name not in FACET_FIELDS]
    if unknown:
        raise InvalidRequest(
            f"cannot facet on {unknown[0]!r}; allowed: {', '.join(FACET_FIELDS)}", details={"field": "facets"}
        )
    return fields


def query_filters(values: MultiDict[str, Any]) -> SearchFilter:
    """The filter of a query string or form: every field but the page fields (unknown ones are 400)."""
    return parse_filters({key: values.getlist(key) for key in values if key not in NON_FILTER_FIELDS})


def json_filters(filters: BaseModel | None) -> SearchFilter:
    """The "filters" object of a validated JSON body."""
    return parse_filters(filter_values_from_json(filters.model_dump(exclude_unset=True) if filters else None))


def uploads(field: str) -> list[tuple[bytes, str]]:
    """The bytes and file names of every multipart file in a field (none is fine)."""
    require_multipart(field)
    files = request.files.getlist(field)
    if len(files) > MAX_UPLOADS:
        raise InvalidRequest(
            f"at most {MAX_UPLOADS} files in {field!r}, got {len(files)}", details={"field": field}
        )
    found = []
    for upload in files:
        data = upload.read()
        if not data:
            raise InvalidRequest(f"the uploaded file {upload.filename!r} is empty", details={"field": field})
        found.append((data, upload.filename or "uploaded image"))
    return found


def require_multipart(field: str) -> None:
    """415 unless the request is multipart/form-data (where uploaded images travel)."""
    if not request.mimetype.startswith("multipart/form-data"):
        raise UnsupportedMediaType(f"send images as multipart/form-data in the field {field!r}")


def uploaded_image(field: str = "image") -> tuple[bytes, str]:
    """The bytes and file name of the one required multipart file."""
    found = uploads(field)
    if not found:
        raise InvalidRequest(f"missing file field {field!r}", details={"field": field})
    return found[0]


def decode_image(data: bytes, name: str, region: Region | None = None) -> Image.Image:
    """Uploaded bytes decoded to RGB, or a region of them (400 if not an image, 413 if too many pixels)."""
    return services().images.decode(data, name=name, region=region)
