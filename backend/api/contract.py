"""The app class that publishes the contract: OpenAPI 3.1 at /openapi.json, Swagger UI at /docs.

flask-openapi3 builds the document from the views' annotations (backend/api/schemas.py). Here
we add what annotations cannot say: the bearer scheme of the admin routes, the multipart form
of POST /recommendations beside its JSON body, the NDJSON body of the bulk route, and the
optional body of POST /admin/sync. We also turn its validation errors into the API's own error
body. The Swagger UI's files come from the flask-openapi3-swagger package, so /docs works with
no internet access.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, redirect, request
from flask_openapi3.models.info import Info
from flask_openapi3.openapi import OpenAPI
from pydantic import BaseModel, ValidationError

from backend.api import responses, schemas

ADMIN_SECURITY: list[dict[str, list[str]]] = [{"admin_token": []}]
SECURITY_SCHEMES = {"admin_token": {"type": "http", "scheme": "bearer", "description": "VITRINE_ADMIN_TOKEN"}}
# (path, method) -> request bodies documented beside (or instead of) the annotated JSON one.
EXTRA_CONTENT: dict[tuple[str, str], dict[str, type[BaseModel] | dict[str, Any]]] = {
    ("/recommendations", "post"): {"multipart/form-data": schemas.RecommendationForm},
    ("/admin/products/bulk", "post"): {
        "application/x-ndjson": {"type": "string", "description": "one product object per line"}
    },
}
OPTIONAL_BODIES = {("/admin/sync", "post")}


class ContractApp(OpenAPI):
    """flask-openapi3's app with the additions above."""

    def __init__(self, import_name: str) -> None:
        super().__init__(
            import_name,
            info=Info(title="Vitrine", version="1", description="Visual product search: see README.md"),
            security_schemes=SECURITY_SCHEMES,  # type: ignore[arg-type]
            doc_prefix="/docs",
            doc_url="/openapi.json",
            validation_error_status=400,
            validation_error_model=responses.ErrorBody,
            validation_error_callback=validation_error_response,
        )
        self.add_url_rule("/openapi.json", "openapi_document", lambda: jsonify(self.api_doc))
        self.add_url_rule("/docs", "docs", lambda: redirect("/docs/swagger"))

    def generate_spec_json(self) -> None:
        for contents in EXTRA_CONTENT.values():
            for model in contents.values():
                if isinstance(model, type):
                    self._add_component(model)
        super().generate_spec_json()  # type: ignore[no-untyped-call]
        paths = self.spec_json["paths"]
        for (path, method), contents in EXTRA_CONTENT.items():
            body = paths[path][method].setdefault("requestBody", {"content": {}, "required": True})
            for media_type, model in contents.items():
                schema = (
                    {"$ref": f"#/components/schemas/{model.__name__}"} if isinstance(model, type) else model
                )
                body["content"][media_type] = {"schema": schema}
        for path, method in OPTIONAL_BODIES:
            paths[path][method]["requestBody"]["required"] = False

    def _add_component(self, model: type[BaseModel]) -> None:
        from flask_openapi3.models.schema import Schema

        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, value in schema.pop("$defs", {}).items():
            self.components_schemas[name] = Schema(**value)
        self.components_schemas[model.__name__] = Schema(**schema)


def validation_error_response(error: ValidationError) -> Response:
    """A request part that breaks its model: 415 for a body that is not JSON, else 400 naming each field."""
    problems = error.errors(include_url=False, include_input=False, include_context=False)
    whole_body = any(not problem["loc"] for problem in problems)
    if whole_body and request.method in ("POST", "PATCH", "PUT") and not request.is_json:
        body = {
            "code": "unsupported_media_type",
            "message": "send a JSON body with Content-Type: application/json",
        }
        return _error(415, body)
    if whole_body and request.is_json and request.get_json(silent=True) is None:
        return _error(400, {"code": "invalid_request", "message": "malformed JSON body"})
    fields: dict[str, str] = {}
    for problem in problems:
        name = ".".join(str(part) for part in problem["loc"]) or "body"
        fields.setdefault(name, str(problem["msg"]).removeprefix("Value error, "))
    summary = "; ".join(f"{name}: {message}" for name, message in list(fields.items())[:5])
    first = next(iter(fields))
    details = {"field": first.split(".")[0], "fields": fields}
    return _error(
        400, {"code": "invalid_request", "message": f"invalid request: {summary}", "details": details}
    )


def _error(status: int, error: dict[str, Any]) -> Response:
    from backend.api.errors import json_error  # it imports this module for its handlers

    response, _ = json_error({"error": {"details": {}, **error}}, status)
    response.status_code = status
    return response
