"""Domain errors. The HTTP layer maps each kind to one status code and one JSON shape."""

from __future__ import annotations

from typing import Any


class VitrineError(Exception):
    """Base of every error the service reports to its callers."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidRequest(VitrineError):
    """The caller sent something malformed or out of range."""

    status = 400
    code = "invalid_request"


class Unauthorized(VitrineError):
    """Missing or wrong credentials."""

    status = 401
    code = "unauthorized"


class Forbidden(VitrineError):
    """The operation is not allowed in this deployment."""

    status = 403
    code = "forbidden"


class NotFound(VitrineError):
    """A referenced entity does not exist."""

    status = 404
    code = "not_found"


class Conflict(VitrineError):
    """The request clashes with the current state (a duplicate SKU, a running sync)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(VitrineError):
    """An upload is larger than allowed, in bytes or in pixels."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(VitrineError):
    """The body is not of a type the endpoint accepts."""

    status = 415
    code = "unsupported_media_type"


class Unavailable(VitrineError):
    """A dependency (database, vector store, model) cannot be reached right now."""

    status = 503
    code = "unavailable"
