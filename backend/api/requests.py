"""Parsing of request parts shared by the views."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from PIL import Image
from werkzeug.datastructures import MultiDict

from ..errors import InvalidRequest, UnsupportedMediaType
from ..filters import FILTER_FIELDS, SearchFilter, filter_values_from_json, parse_filters
from ..services import Services

DEFAULT_LIMIT = 10


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


def parse_int(raw: Any, name: str, *, default: int, minimum: int = 0) -> int:
    """An integer parameter with a lower bound."""
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidRequest(f"{name} must be an integer", details={"field": name})
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidRequest(f"{name} must be an integer, got {raw!r}", details={"field": name}) from None
    if value < minimum:
        raise InvalidRequest(f"{name} must be >= {minimum}", details={"field": name})
    return value


def filters_and_limit(
    values: MultiDict[str, Any], *, extra: tuple[str, ...] = ()
) -> tuple[SearchFilter, int]:
    """Split query-string or form fields into a filter and a limit; reject unknown fields."""
    allowed = (*FILTER_FIELDS, "limit", *extra)
    unknown = sorted(set(values.keys()) - set(allowed))
    if unknown:
        raise InvalidRequest(
            f"unknown parameter {unknown[0]!r}; allowed: {', '.join(allowed)}",
            details={"field": unknown[0], "allowed": list(allowed)},
        )
    raw_filters = {key: values.getlist(key) for key in values if key in FILTER_FIELDS}
    limit = parse_int(values.get("limit"), "limit", default=DEFAULT_LIMIT, minimum=1)
    return parse_filters(raw_filters), limit


def json_filters(body: dict[str, Any]) -> SearchFilter:
    """The "filters" object of a JSON body."""
    return parse_filters(filter_values_from_json(body.get("filters")))


def uploaded_image(field: str = "image") -> tuple[bytes, str]:
    """The bytes and file name of a multipart upload."""
    if not request.mimetype.startswith("multipart/form-data"):
        raise UnsupportedMediaType(f"send the image as multipart/form-data in the field {field!r}")
    upload = request.files.get(field)
    if upload is None:
        raise InvalidRequest(f"missing file field {field!r}", details={"field": field})
    data = upload.read()
    if not data:
        raise InvalidRequest(f"the uploaded file {upload.filename!r} is empty", details={"field": field})
    return data, upload.filename or "uploaded image"


def decoded_upload(field: str = "image") -> Image.Image:
    """The uploaded image decoded to RGB (400 if it is not an image, 413 if too large)."""
    data, name = uploaded_image(field)
    return services().images.decode(data, name=name)
