"""Every failure becomes the same JSON body: {"error": {"code", "message", "details", "request_id"}}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from backend.api.contract import validation_error_response
from backend.api.observability import request_id
from backend.errors import Conflict, NotFound, Unavailable, VitrineError

log = logging.getLogger(__name__)


def error_response(error: VitrineError) -> tuple[Response, int]:
    """The JSON response for a domain error."""
    return json_error(error.to_dict(), error.status)


def json_error(body: dict[str, Any], status: int) -> tuple[Response, int]:
    """An error body as a response, with the id that finds the request in the access log."""
    body["error"]["request_id"] = request_id()
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    """Map domain errors, HTTP errors, database outages and bugs to JSON."""

    @app.errorhandler(VitrineError)
    def handle_domain_error(error: VitrineError) -> tuple[Response, int]:
        if error.status >= 500:
            log.warning("%s: %s", error.code, error.message)
        return error_response(error)

    @app.errorhandler(ValidationError)
    def handle_invalid_part(error: ValidationError) -> Response:
        return validation_error_response(error)  # a request part that breaks its declared model

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # flask-openapi3's validation error, already our body
            return error.response
        status = error.code or 500
        code = {413: "payload_too_large", 404: "not_found", 405: "method_not_allowed"}.get(
            status, "http_error"
        )
        message = error.description or error.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            size = request.content_length
            if size is not None and limit is not None and size <= limit:  # the body fits: too many parts
                message = f"too many multipart parts; the limit is {app.config.get('MAX_FORM_PARTS')}"
            else:
                message = f"request body too large; the limit is {limit} bytes"
        return json_error({"error": {"code": code, "message": message, "details": {}}}, status)

    @app.errorhandler(OperationalError)
    def handle_database_down(error: OperationalError) -> tuple[Response, int]:
        log.warning("database unavailable: %s", error)
        return error_response(Unavailable("database unavailable"))

    @app.errorhandler(IntegrityError)
    def handle_integrity_error(error: IntegrityError) -> tuple[Response, int]:
        # A constraint caught a race the service's own checks could not see (PostgreSQL runs
        # concurrent writes side by side): the request conflicts with another one, and changed nothing.
        log.info("write refused by a constraint: %s", error.orig)
        if _violates_foreign_key(error):
            return error_response(NotFound("a product or image this change refers to no longer exists"))
        return error_response(Conflict("the change conflicts with a concurrent write; retry it"))

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> tuple[Response, int]:
        if error.connection_invalidated:
            return error_response(Unavailable("database unavailable"))
        log.exception("database error")
        body = {"error": {"code": "internal_error", "message": "database error", "details": {}}}
        return json_error(body, 500)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        body = {"error": {"code": "internal_error", "message": "internal server error", "details": {}}}
        return json_error(body, 500)


def _violates_foreign_key(error: IntegrityError) -> bool:
    """Whether the constraint was a reference to a missing row (PostgreSQL's SQLSTATE, SQLite's text)."""
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return state == "23503" or "FOREIGN KEY constraint failed" in str(error.orig)
