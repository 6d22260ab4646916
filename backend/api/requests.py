"""Parsing of request parts shared by the views."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app, request
from PIL import Image
from werkzeug.datastructures import MultiDict

from backend.catalog.schema import ID_MAX
from backend.errors import InvalidRequest, UnsupportedMediaType
from backend.filters.search_filter import FACET_FIELDS, SearchFilter, filter_values_from_json, parse_filters
from backend.search.service import Page
from backend.wiring import Services

DEFAULT_LIMIT = 10
# Product ids one list of a recommendation request may name (positive, negative or viewed).
MAX_IDS = 1000
# Photos one request may upload in a field: each is decoded and embedded, seconds of work apiece.
MAX_UPLOADS = 10
# Multipart parts a request may have (fields and files together); more is a 413 before parsing on.
MAX_FORM_PARTS = 100
PAGE_FIELDS = ("offset", "limit", "min_score", "facets")


def product_ids(raw: object, name: str) -> list[int]:
    """A JSON list of product ids, each a valid id, at most MAX_IDS of them; duplicates dropped."""
    if raw is None:
        raise InvalidRequest(f"{name} is required: a list of product ids", details={"field": name})
    if not isinstance(raw, list) or not all(
        isinstance(item, int) and not isinstance(item, bool) for item in raw
    ):
        raise InvalidRequest(f"{name} must be a list of integer product ids", details={"field": name})
    if len(raw) > MAX_IDS:
        raise InvalidRequest(f"{name} may name at most {MAX_IDS} products", details={"field": name})
    if not all(1 <= item <= ID_MAX for item in raw):
        raise InvalidRequest(f"{name}: product ids are between 1 and {ID_MAX}", details={"field": name})
    return list(dict.fromkeys(raw))


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


def parse_int(raw: Any, name: str, *, default: int, minimum: int = 0, maximum: int = ID_MAX) -> int:
    """An integer parameter within bounds: a JSON integer or a string of digits, nothing else."""
    if raw is None or raw == "":
        return default
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and len(raw) <= 20 and raw.strip().lstrip("+-").isdigit():
        value = int(raw)
    if value is None:
        shown = raw if isinstance(raw, str | float | bool) else type(raw).__name__
        raise InvalidRequest(f"{name} must be an integer, got {str(shown)[:40]!r}", details={"field": name})
    if not minimum <= value <= maximum:
        raise InvalidRequest(f"{name} must be between {minimum} and {maximum}", details={"field": name})
    return value


def page_from(values: Mapping[str, Any]) -> Page:
    """offset, limit and min_score from query-string, form or JSON fields."""
    raw_score = values.get("min_score")
    min_score = None
    if raw_score not in (None, ""):
        try:
            if isinstance(raw_score, bool):
                raise TypeError(raw_score)
            min_score = float(raw_score)
        except (TypeError, ValueError):
            raise InvalidRequest(
                f"min_score must be a number, got {str(raw_score)[:40]!r}", details={"field": "min_score"}
            ) from None
    return Page(
        offset=parse_int(values.get("offset"), "offset", default=0),
        limit=parse_int(values.get("limit"), "limit", default=DEFAULT_LIMIT, minimum=1),
        min_score=min_score,
    )


def facet_fields(raw: Any) -> tuple[str, ...]:
    """The `facets` parameter: a comma-separated (or JSON list) subset of category, brand."""
    if raw in (None, ""):
        return ()
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list | tuple) or not all(isinstance(name, str) for name in names):
        raise InvalidRequest("facets must be a list of field names", details={"field": "facets"})
    fields = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in fields if name not in FACET_FIELDS]
    if unknown:
        raise InvalidRequest(
            f"cannot facet on {unknown[0]!r}; allowed: {', '.join(FACET_FIELDS)}", details={"field": "facets"}
        )
    return fields


def query_request(values: MultiDict[str, Any]) -> tuple[SearchFilter, Page, tuple[str, ...]]:
    """Filter, page and facets from query-string or form fields; unknown fields are rejected."""
    filter_values = {key: values.getlist(key) for key in values if key not in PAGE_FIELDS}
    search_filter = parse_filters(filter_values)
    return search_filter, page_from(values), facet_fields(values.get("facets"))


def json_filters(body: dict[str, Any]) -> SearchFilter:
    """The "filters" object of a JSON body."""
    return parse_filters(filter_values_from_json(body.get("filters")))


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


def decode_image(data: bytes, name: str) -> Image.Image:
    """Uploaded bytes decoded to RGB (400 if not an image, 413 if too many pixels)."""
    return services().images.decode(data, name=name)
